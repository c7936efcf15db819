/**
 * spec.threads is a live parameter: edited with kubectl, it reaches the running worker
 * processes through Redis and changes how many calls they hold, within a second and
 * without restarting a pod.
 */
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { eventually, NS } from '../support/operator-env.js';
import { CELULA, startWorkerPlane, type WorkerPlane } from '../support/worker-plane.js';

const REPLICAS = 2;
const THREADS = 10;
const RAISED = 40;
const QUEUED = 300;
/** Longer than the whole test: no call ends, so live calls = what the workers hold. */
const TALK_MS = 60_000;

let plane: WorkerPlane;
const measured: Record<string, unknown> = {};

beforeAll(async () => {
  plane = await startWorkerPlane({
    pbx: { outcome: () => ({ kind: 'answer', ringMs: 100, talkMs: TALK_MS }) },
    // A short drain: the calls left up at the end are handed off, not waited for.
    celula: { threads: THREADS, replicas: REPLICAS, drainTimeout: '1s', maxOriginatesPerSecond: 1000, maxChannels: 1000 },
  });
});

afterAll(async () => {
  await plane?.stop();
  console.log('live-threads:', measured);
});

/** The workers' own view of the parameter, from their /metrics. */
async function threadsGauge(port: number | undefined): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  return Number(/^multcall_worker_threads\{[^}]*\} (\d+)/m.exec(text)?.[1]);
}

describe('live threads', () => {
  it(`threads ${THREADS} → ${RAISED} with kubectl: ${REPLICAS * RAISED} live calls within 1 s, no pod restarted`, async () => {
    onTestFailed(() => plane.runner.printLogs());
    const { runner, pbx, multcall } = plane;
    const workers = await runner.waitForReady(REPLICAS, 60_000);
    const podsBefore = (await plane.pods()).map((p) => `${p.metadata.name}/${p.metadata.uid}`).sort();
    const pidsBefore = workers.map((p) => `${p.name}/${p.pid}`).sort();
    const template = (await plane.kubectl(['get', 'deployments', '-n', NS, '-o', 'jsonpath={.items[*].metadata.generation}'])).trim();

    await multcall.enqueue(Array.from({ length: QUEUED }, (_, i) => ({ v: 1 as const, id: `deep-${i}`, number: `5511${String(800_000_000 + i)}` })));
    await eventually(`${REPLICAS * THREADS} live calls`, async () => pbx.stats().liveChannels === REPLICAS * THREADS, 20_000, 25);
    // Held there by threads, not by a slow start: the queue stays deep and nothing more is placed.
    await new Promise((r) => setTimeout(r, 1000));
    expect(pbx.stats().liveChannels).toBe(REPLICAS * THREADS);
    expect((await multcall.depth()).queued).toBe(QUEUED - REPLICAS * THREADS);

    // Sample the central every 5 ms from just before kubectl runs.
    const issued = performance.now();
    let firstRise: number | undefined;
    let allUp: number | undefined;
    let peak = 0;
    const sampler = setInterval(() => {
      const live = pbx.stats().liveChannels;
      const now = performance.now();
      peak = Math.max(peak, live);
      if (live > REPLICAS * THREADS) firstRise ??= now;
      if (live >= REPLICAS * RAISED) allUp ??= now;
    }, 5);
    try {
      await plane.kubectl(['patch', 'celula', CELULA, '-n', NS, '--type', 'merge', '-p', JSON.stringify({ spec: { threads: RAISED } })]);
      const accepted = performance.now();
      await eventually(`${REPLICAS * RAISED} live calls`, async () => allUp !== undefined, 5_000, 10);
      // Stays at the new limit: threads bound the calls, they do not just drift up.
      await new Promise((r) => setTimeout(r, 1000));
      measured.kubectlMs = Math.round(accepted - issued);
      measured.firstRiseMs = Math.round((firstRise ?? Number.NaN) - issued);
      measured.allUpMs = Math.round((allUp ?? Number.NaN) - issued);
      measured.peak = peak;
    } finally {
      clearInterval(sampler);
    }
    expect((allUp ?? Number.POSITIVE_INFINITY) - issued).toBeLessThan(1000);
    expect(peak).toBe(REPLICAS * RAISED);
    expect(pbx.stats().liveChannels).toBe(REPLICAS * RAISED);
    expect((await multcall.depth()).queued).toBe(QUEUED - REPLICAS * RAISED);
    for (const w of workers) expect(await threadsGauge(w.httpPort), w.name).toBe(RAISED);

    // Same pods, same processes, nothing restarted, no rollout.
    expect((await plane.pods()).map((p) => `${p.metadata.name}/${p.metadata.uid}`).sort()).toEqual(podsBefore);
    expect(runner.processes().map((p) => `${p.name}/${p.pid}`).sort()).toEqual(pidsBefore);
    expect(runner.processes().map((p) => [p.started, p.stopped, p.running])).toEqual(workers.map(() => [1, 0, true]));
    expect(runner.restarts).toBe(0);
    expect((await plane.kubectl(['get', 'deployments', '-n', NS, '-o', 'jsonpath={.items[*].metadata.generation}'])).trim()).toBe(template);
    expect(pbx.stats().duplicates).toEqual([]);
  }, 60_000);
});
