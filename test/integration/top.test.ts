import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type Stack } from '../support/stack.js';
import { readSnapshot, renderSnapshot } from '../../src/top/snapshot.js';

let stack: Stack;

beforeAll(async () => {
  stack = await startStack({ pbx: { timeScale: 1, outcome: (d) => (d.number.endsWith('00') ? { kind: 'busy', ringMs: 50 } : { kind: 'answer', ringMs: 50, talkMs: 60_000 }) } });
  await stack.startWorker({ threads: 3 }, 'top-w1');
});
afterAll(async () => {
  await stack.stop();
});

describe('multcall top', () => {
  it('shows queued, in flight, dead letters, workers, results by status and load per central', async () => {
    await stack.multcall.enqueue(['not json']);
    await stack.multcall.enqueue(Array.from({ length: 10 }, (_, i) => ({ v: 1 as const, id: `top-${i}`, number: `55119000000${i}` })));
    await stack.multcall.waitForResults(1, 5000); // top-0 is busy, the next three talk for a minute
    await new Promise((r) => setTimeout(r, 300));
    const redis = stack.redis.client();
    const first = await readSnapshot(redis);
    const celula = first.celulas.find((c) => c.celula === 'vendas');
    expect(celula).toMatchObject({ queued: 6, inFlight: 3, dead: 1, workersAlive: 1, threads: 3 });
    expect(celula?.totals.busy).toBe(1);
    expect(celula?.centrals['central-a']).toEqual({ workers: 1, inFlight: 3 });
    const text = renderSnapshot({ ...first, at: first.at + 1000 }, first);
    expect(text).toMatch(/vendas\s+6\s+3\s+1/);
    expect(text).toMatch(/central-a\s+1\s+3/);
  });
});
