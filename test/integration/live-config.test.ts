/** Threads, retries and timeouts follow the célula's config in Redis within a second, without a restart. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type Stack } from '../support/stack.js';
import { CelulaStore } from '../../src/protocol/store.js';
import type { RunningWorker } from '../../src/worker/run.js';

let stack: Stack;
let worker: RunningWorker;

beforeAll(async () => {
  stack = await startStack({ pbx: { timeScale: 1, outcome: () => ({ kind: 'answer', ringMs: 100, talkMs: 3000 }) } });
  worker = await stack.startWorker({ threads: 5 });
});
afterAll(async () => {
  await stack.stop();
});

async function timeUntil(condition: () => boolean, timeoutMs: number): Promise<number> {
  const started = performance.now();
  while (!condition()) {
    if (performance.now() - started > timeoutMs) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
  return performance.now() - started;
}

describe('live parameters', () => {
  it('a threads change in Redis takes effect within 1 s, and lowering it cuts no call', async () => {
    await stack.multcall.enqueue(Array.from({ length: 60 }, (_, i) => ({ v: 1 as const, id: `cfg-${i}`, number: `5511${String(500_000_000 + i)}` })));
    await timeUntil(() => stack.pbx.stats().liveChannels === 5, 5000);
    await new Promise((r) => setTimeout(r, 300));
    expect(stack.pbx.stats().liveChannels).toBe(5); // holds at the configured threads

    const admin = new CelulaStore(stack.redis.client(), { celula: 'vendas' });
    await admin.writeConfig({ threads: 25 });
    const raisedMs = await timeUntil(() => stack.pbx.stats().liveChannels === 25, 1000);
    expect(worker.worker.threads).toBe(25);
    expect(raisedMs).toBeLessThan(1000);

    await admin.writeConfig({ threads: 2 });
    await timeUntil(() => worker.worker.threads === 2, 1000);
    const live = stack.pbx.stats().liveChannels;
    expect(live).toBeGreaterThan(2); // nothing was hung up to get down to 2
    await stack.multcall.waitForResults(25, 10_000);
    expect(stack.pbx.stats().liveChannels).toBeLessThanOrEqual(2);
    expect([...stack.multcall.results.values()].every((r) => r.status === 'answered' && r.billsec >= 2)).toBe(true);
  }, 30_000);

  it('ignores an invalid value and keeps the last good one', async () => {
    const admin = new CelulaStore(stack.redis.client(), { celula: 'vendas' });
    await admin.writeConfig({ threads: 0 } as never);
    await new Promise((r) => setTimeout(r, 1200));
    expect(worker.worker.threads).toBe(2);
  });
});
