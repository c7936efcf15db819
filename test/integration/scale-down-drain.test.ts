/**
 * Scaling a célula down in the middle of long calls, the Kubernetes way: the Celula's replicas
 * drop, the Deployment removes pods, the pod runner SIGTERMs their worker processes, and each
 * one must let its calls finish, report every result once and exit 0 — no call cut, none
 * dialled twice, no restart.
 */
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { eventually, NS } from '../support/operator-env.js';
import { CELULA, startWorkerPlane, type WorkerPlane } from '../support/worker-plane.js';
import type { CallOutcome } from '../../src/sim/pbx/index.js';

const TOTAL = 500;
const REPLICAS = 4;
const THREADS = 150;
/** 8–12 s of talk, scripted per number, so every call outlasts the scale-down. */
const talkMs = (i: number) => 8000 + (i % 5) * 1000;
const number = (i: number) => `5511${String(700_000_000 + i)}`;
const outcomes: Record<string, CallOutcome> = Object.fromEntries(Array.from({ length: TOTAL }, (_, i) => [number(i), { kind: 'answer', ringMs: 300, talkMs: talkMs(i) }]));

let plane: WorkerPlane;
const measured: Record<string, unknown> = {};

beforeAll(async () => {
  plane = await startWorkerPlane({
    pbx: { outcome: outcomes },
    celula: { threads: THREADS, replicas: REPLICAS, drainTimeout: '60s', maxOriginatesPerSecond: 2000, maxChannels: 1000 },
  });
});

afterAll(async () => {
  await plane?.stop();
  console.log('scale-down-drain:', measured);
});

describe('scale-down during live calls', () => {
  it(`${REPLICAS} → 1 replicas with ${TOTAL} live calls: every call ends normally, removed workers drain and exit 0`, async () => {
    onTestFailed(() => plane.runner.printLogs());
    const { runner, pbx, multcall } = plane;
    const before = await runner.waitForReady(REPLICAS, 60_000);
    const pidsBefore = new Map(before.map((p) => [p.name, p.pid]));

    const t0 = performance.now();
    await multcall.enqueue(Array.from({ length: TOTAL }, (_, i) => ({ v: 1 as const, id: `call-${i}`, number: number(i) })));
    await eventually(`${TOTAL} live calls at the central`, async () => pbx.stats().liveChannels >= TOTAL, 20_000, 25);
    measured.allLiveMs = Math.round(performance.now() - t0);
    expect((await multcall.depth()).queued).toBe(0);

    const scaledAt = performance.now();
    await plane.kubectl(['patch', 'celula', CELULA, '-n', NS, '--type', 'merge', '-p', '{"spec":{"replicas":1}}']);
    const removed = await eventually('three worker pods terminating', async () => {
      const going = runner.processes().filter((p) => p.terminatingAt !== undefined);
      return going.length === REPLICAS - 1 ? going : undefined;
    }, 20_000, 25);
    measured.scaleToSigtermMs = Math.round(Math.max(...removed.map((p) => (p.terminatingAt ?? 0) - scaledAt)));
    // SIGTERM came while their calls were still up: there was something to drain.
    expect(pbx.stats().liveChannels).toBeGreaterThan(TOTAL - 50);

    await runner.waitForExit(removed.map((p) => p.name), 60_000);
    const drain = removed.map((p) => Math.round((p.exitedAt ?? 0) - (p.terminatingAt ?? 0)));
    measured.drainMs = drain;
    // kwok removes a terminating pod object at once; the process is still waited for.
    measured.podObjectGoneMs = removed.map((p) => (p.goneAt === undefined ? 'never seen' : Math.round(p.goneAt - (p.terminatingAt ?? 0))));
    await multcall.waitForResults(TOTAL, 20_000);
    measured.allResultsMs = Math.round(performance.now() - t0);

    // The removed workers drained and exited cleanly; the one left never stopped.
    for (const p of removed) {
      expect(p.exitCodes, p.name).toEqual([0]);
      // It waited for calls of at least 8 s that had begun under a second before the signal.
      expect((p.exitedAt ?? 0) - (p.terminatingAt ?? 0), p.name).toBeGreaterThan(6000);
      expect([p.started, p.stopped], p.name).toEqual([1, 1]);
    }
    const kept = runner.processes().filter((p) => p.terminatingAt === undefined);
    expect(kept).toHaveLength(1);
    expect(kept[0]).toMatchObject({ running: true, started: 1, stopped: 0, restarts: 0, pid: pidsBefore.get(kept[0]?.name ?? '') });
    expect(runner.restarts).toBe(0);
    expect((await plane.pods()).map((p) => p.metadata.name)).toEqual(kept.map((p) => p.name));

    // Every call: one result, answered, its whole talk time; each dialled exactly once.
    const results = [...multcall.results.values()];
    expect(results).toHaveLength(TOTAL);
    expect(multcall.tally.duplicateResults).toEqual([]);
    // Results pushed, counted by the publishing script itself: a second push of one id would show here.
    const counters = await plane.redis.client().hgetall(multcall.keys.stats);
    const pushed = Object.entries(counters).filter(([k]) => k.startsWith('status:'));
    expect(Object.fromEntries(pushed)).toEqual({ 'status:answered': String(TOTAL) });
    for (const r of results) {
      const talk = talkMs(Number(r.id.slice('call-'.length)));
      expect(r.status, r.id).toBe('answered');
      expect(r.detail, r.id).toBeUndefined();
      expect([r.ack, r.attempts], r.id).toEqual(['replied', 1]);
      expect(r.billsec, r.id).toBeGreaterThanOrEqual(Math.floor(talk / 1000) - 1);
      // As the worker saw it (the simulator sends no Timestamp): with 500 calls starting at
      // once on two shared cores, the answer may be read up to a second late; a cut call
      // would be seconds short.
      expect(r.endedAt - (r.answeredAt ?? r.endedAt), r.id).toBeGreaterThanOrEqual(talk - 1000);
    }
    const stats = pbx.stats();
    expect(stats.originates).toBe(TOTAL);
    expect(stats.duplicates).toEqual([]);
    expect([...stats.originatesByRequest.values()].every((n) => n === 1)).toBe(true);
    expect(stats.liveChannels).toBe(0);

    // Each removed worker reported its own calls: drained, not handed off.
    const byWorker = Object.fromEntries(before.map((p) => [p.name, results.filter((r) => r.worker === p.name).length]));
    measured.resultsByWorker = byWorker;
    for (const p of removed) expect(byWorker[p.name], p.name).toBeGreaterThan(0);
    expect(Object.values(byWorker).reduce((a, b) => a + b, 0)).toBe(TOTAL);
  }, 100_000);
});
