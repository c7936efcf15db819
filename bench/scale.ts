/**
 * `npm run bench:scale` — how fast capacity follows the queue and leaves a failed central.
 *
 * Real control plane (kube-apiserver, etcd, controller-manager, scheduler, kwok), real
 * redis-server, simulated centrals on TCP, the operator under the chart's ServiceAccount
 * (test/support/scale-lab.ts).
 *
 *  1. spike: a queue-mode Celula (threads 10, 1..20 replicas, 1 s scale-down window) idles
 *     at 1 replica; 10,000 dial requests are LPUSHed; the figure runs from the first LPUSH
 *     until the watch on the worker Deployments shows 20 replicas asked for. The queue is
 *     then emptied and the next trial waits for the célula to come back to 1.
 *  2. failover: real worker processes behind the worker pods (test/support/pod-runner.ts)
 *     place a steady 200 calls/s on two centrals; one central hangs (TCP stays open, nothing
 *     is answered: harder for a client to see than a refused connection); the figure runs
 *     until the last Originate that central receives. Also reported: when the operator has
 *     moved the hung central's replicas to the other one.
 *
 * Baseline: KEDA's Redis list scaler with the HPA, at their default settings, reacts in
 * 15 to 30 s (pollingInterval 30 s from zero, the HPA's 15 s sync otherwise). KEDA is not
 * built here, so the baseline is that documented lower bound, 15,000 ms, not a measurement;
 * the ratio uses it against our p95.
 *
 * Knobs: BENCH_TRIALS (spike trials, default 20), BENCH_FAILOVER_TRIALS (default 5),
 * BENCH_QUEUE_POLL_MS (operator poll interval, default 500).
 */
import { NS } from '../test/support/operator-env.js';
import { celulaManifest, centralsManifest, percentile, startScaleLab, type ScaleLab } from '../test/support/scale-lab.js';
import { celulaKeys } from '../src/protocol/keys.js';
import { createLogger } from '../src/lib/log.js';

const TRIALS = Number(process.env.BENCH_TRIALS ?? 20);
const FAILOVER_TRIALS = Number(process.env.BENCH_FAILOVER_TRIALS ?? 5);
const POLL_MS = Number(process.env.BENCH_QUEUE_POLL_MS ?? 500);
const KEDA_HPA_BASELINE_MS = 15_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function spike(lab: ScaleLab): Promise<number[]> {
  await lab.kubectl(['apply', '-f', '-'], celulaManifest(lab, { name: 'spike', centrals: ['central-a', 'central-b'], threads: 10, maxReplicas: 20, window: '1s' }));
  await lab.waitReplicas('spike', (_r, total) => total === 1);
  const up: number[] = [];
  for (let trial = 0; trial < TRIALS; trial++) {
    const t0 = performance.now();
    await lab.burst('spike', 10_000, `s${trial}`);
    up.push((await lab.waitReplicas('spike', (_r, total) => total === 20, 30_000)) - t0);
    await lab.client.del(celulaKeys('spike').dial);
    await lab.waitReplicas('spike', (_r, total) => total === 1, 30_000);
    // A random phase against the poll, as a real burst has.
    await sleep(Math.random() * POLL_MS);
  }
  await lab.kubectl(['delete', 'celula', 'spike', '-n', NS, '--wait=false']);
  return up;
}

async function failover(lab: ScaleLab): Promise<{ noOriginate: number[]; moved: number[] }> {
  // Threads well above what the feed needs: the workers stop because they see the central
  // hang, not because calls stuck on it fill their threads.
  await lab.kubectl(['apply', '-f', '-'], celulaManifest(lab, { name: 'failover', centrals: ['central-a', 'central-b'], threads: 200, minReplicas: 4, maxReplicas: 4 }));
  await lab.kubectl(['patch', 'celula', 'failover', '-n', NS, '--type=merge', '-p', '{"spec":{"worker":{"drainTimeout":"5s"}}}']);
  await lab.waitReplicas('failover', (r) => r['central-a'] === 2 && r['central-b'] === 2);
  await lab.runner?.waitForReady(4, 60_000);
  const side = lab.multcall('failover');
  const b = lab.centrals[1]!.pbx;
  const noOriginate: number[] = [];
  const moved: number[] = [];
  for (let trial = 0; trial < FAILOVER_TRIALS; trial++) {
    const feeding = new AbortController();
    const fed = side.enqueueAtRate((i) => ({ v: 1, id: `f${trial}-${i}`, number: `1197${String(i).padStart(7, '0')}` }), 4000, 200, feeding.signal).catch(() => undefined);
    await sleep(3000);
    const before = b.originateLog().length;
    if (before === 0) throw new Error('central-b took no call before its failure: the workers do not run');
    const t0 = Date.now();
    const p0 = performance.now();
    b.faults.stall(10_000);
    const gone = await lab.waitReplicas('failover', (r) => r['central-a'] === 4 && !('central-b' in r), 30_000).catch(async (error: unknown) => {
      console.error(await lab.kubectl(['get', 'central', 'central-b', '-n', NS, '-o', 'jsonpath={.status}']));
      throw error;
    });
    moved.push(gone - p0);
    console.error(`failover trial ${trial + 1}: replicas moved after ${Math.round(gone - p0)} ms`);
    await sleep(Math.max(0, 9000 - (Date.now() - t0)));
    noOriginate.push(Math.max(0, ...b.originateLog().slice(before).map((o) => o.at - t0)));
    feeding.abort();
    await fed;
    await lab.waitReplicas('failover', (r) => r['central-a'] === 2 && r['central-b'] === 2, 60_000);
    await lab.runner?.waitForReady(4, 60_000);
  }
  await lab.kubectl(['delete', 'celula', 'failover', '-n', NS, '--wait=false']);
  return { noOriginate, moved };
}

async function main(): Promise<void> {
  const logFile = process.env.BENCH_LOG_FILE;
  const lab = await startScaleLab({
    centrals: ['central-a', 'central-b'],
    queuePollMs: POLL_MS,
    workers: true,
    pbx: { timeScale: 0.05 },
    // BENCH_LOG_FILE=path keeps the operator's debug log.
    ...(logFile ? { logger: createLogger({ name: 'operator', level: 'debug', location: logFile }) } : {}),
  });
  try {
    await lab.kubectl(['apply', '-f', '-'], centralsManifest(lab));
    const up = await spike(lab);
    const fo = await failover(lab);
    const spikeP95 = percentile(up, 95);
    const figures = {
      bench: 'scale',
      trials: up.length,
      queue_poll_ms: POLL_MS,
      spike_p50_ms: Math.round(percentile(up, 50)),
      spike_p95_ms: Math.round(spikeP95),
      spike_max_ms: Math.round(Math.max(...up)),
      baseline_ms: KEDA_HPA_BASELINE_MS,
      baseline_source: 'KEDA+HPA defaults, documented lower bound (not measured)',
      speedup_vs_baseline_p95: Math.round((KEDA_HPA_BASELINE_MS / spikeP95) * 10) / 10,
      failover_trials: fo.noOriginate.length,
      failover_p50_ms: Math.round(percentile(fo.noOriginate, 50)),
      failover_p95_ms: Math.round(percentile(fo.noOriginate, 95)),
      replicas_moved_p50_ms: Math.round(percentile(fo.moved, 50)),
      replicas_moved_p95_ms: Math.round(percentile(fo.moved, 95)),
    };
    console.log(JSON.stringify(figures));
  } finally {
    await lab.stop();
  }
}

await main();
