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
  // Calls answer and end at once: what matters is how many Originates reach the central.
  stack = await startStack({ pbx: { timeScale: 0.01 } });
});

afterAll(async () => {
  await stack?.stop();
});

describe('a request given back and claimed again by the same worker', () => {
  it('is dialled once, by its current claim only', async () => {
    // One Originate per second at the central: the claimed requests wait for their token.
    // The central is slow to answer (it stalls below), and the worker is told to wait for it.
    const worker = await stack.startWorker({ threads: 10, Timeout_Command_Response: 10, ami_down_after: 10, central: { maxOriginatesPerSecond: 1 } }, 'w-reclaim');
    const ids = ['rc-1', 'rc-2', 'rc-3', 'rc-4'];
    await stack.multcall.enqueue(ids.map((id, i) => JSON.stringify({ v: 1, id, number: `55119000011${i}` })));
    const redis = stack.redis.client();
    const store = new CelulaStore(redis, { celula: CELULA });
    // Wait until the worker holds them all, all but the first still waiting for a token.
    for (let i = 0; i < 100 && (await redis.hlen(store.keys.calls)) < ids.length; i++) await new Promise((r) => setTimeout(r, 20));
    // The worker's own release, as Redis ran it, with the reply never reaching the worker.
    const { released } = await store.release('w-reclaim', ids);
    expect(released.length).toBeGreaterThanOrEqual(3); // the first may have had its token already
    // The worker claims them again at once; the earlier placements still wait for tokens.
    // While the central holds its replies, a request's record stays `originating`, which is
    // when a second placement of the same claim would pass the transition.
    await new Promise((r) => setTimeout(r, 500));
    stack.pbx.faults.stall(6500);
    await stack.multcall.waitForResults(ids.length, 40_000);
    const arrivals = stack.pbx.originateLog().map((o) => o.requestId);
    expect(ids.map((id) => arrivals.filter((a) => a === id).length)).toEqual([1, 1, 1, 1]);
    expect(stack.pbx.stats().duplicates).toEqual([]);
    expect(stack.multcall.tally.duplicateResults).toEqual([]);
    await worker.stop();
  }, 60_000);
});
