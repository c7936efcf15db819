/**
 * A request the worker gave back without hearing Redis say so (its release ran, the reply
 * was lost in a restart) and then claimed again: two placements of one request now exist in
 * the worker. The transition to `originating` cannot tell them apart (same worker, request
 * and attempt), so the worker itself must let only the current claim dial.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, CELULA, type Stack } from '../support/stack.js';
import { CelulaStore } from '../../src/protocol/store.js';

let stack: Stack;

beforeAll(async () => {
  // Calls talk for 8 s: longer than the tokens for every placement take to come (1 s each),
  // so a second placement of a request, if there were one, would reach the central while
  // the first is up.
  stack = await startStack({ pbx: { timeScale: 1, outcome: () => ({ kind: 'answer', ringMs: 100, talkMs: 8000 }) } });
});

afterAll(async () => {
  await stack?.stop();
});

describe('a request given back and claimed again by the same worker', () => {
  it('is dialled once', async () => {
    // One Originate per second at the central: the claimed requests wait for their token.
    const worker = await stack.startWorker({ threads: 10, central: { maxOriginatesPerSecond: 1 } }, 'w-reclaim');
    const ids = ['rc-1', 'rc-2', 'rc-3', 'rc-4'];
    await stack.multcall.enqueue(ids.map((id, i) => JSON.stringify({ v: 1, id, number: `55119000011${i}` })));
    const redis = stack.redis.client();
    const store = new CelulaStore(redis, { celula: CELULA });
    // Wait until the worker holds them all, most of them still waiting for a token.
    for (let i = 0; i < 100 && (await redis.hlen(store.keys.calls)) < ids.length; i++) await new Promise((r) => setTimeout(r, 20));
    // The worker's own release, as Redis ran it, with the reply never reaching the worker.
    const { released } = await store.release('w-reclaim', ids);
    expect(released.length).toBeGreaterThan(0);
    // The worker takes them from the queue again; every request ends with one result.
    await stack.multcall.waitForResults(ids.length, 30_000);
    const dialled = stack.pbx.stats().originatesByRequest;
    expect(ids.map((id) => dialled.get(id))).toEqual(ids.map(() => 1));
    expect(stack.pbx.stats().duplicates).toEqual([]);
    expect(stack.multcall.tally.duplicateResults).toEqual([]);
    await worker.stop();
  }, 60_000);
});
