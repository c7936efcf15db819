/**
 * The autoscaler's proving ground, shared by its integration tests and `npm run bench:scale`:
 * a real control plane with the chart's RBAC, a real redis-server, several simulated centrals
 * on TCP, and the operator in this process under the chart's ServiceAccount. Replica changes
 * are followed with a watch, so a figure carries no polling interval of ours.
 */
import { Redis } from 'ioredis';
import { startCluster, type Cluster } from './cluster.js';
import { installOperatorSurface, kubectlFor, NS, startOperatorAsChart } from './operator-env.js';
import { startRedis, type RedisServer } from './redis.js';
import { startPbxSimulator, type PbxSimulator, type PbxSimulatorOptions } from '../../src/sim/pbx/index.js';
import type { Logger } from '../../src/lib/log.js';
import type { RunningOperator } from '../../src/operator/main.js';
import { KubeClient, paths, type KubeObject, type WatchEvent } from '../../src/operator/runtime/kube.js';
import { celulaKeys } from '../../src/protocol/keys.js';
import { MultcallSide } from '../../src/sim/multcall/multcall-side.js';
import { startPodRunner, type PodRunner } from './pod-runner.js';

export interface ScaleLab {
  cluster: Cluster;
  redis: RedisServer;
  /** A client of the lab's Redis, for pushing bursts. */
  client: Redis;
  centrals: Array<{ name: string; pbx: PbxSimulator }>;
  operator: RunningOperator;
  admin: KubeClient;
  kubectl: (args: string[], input?: string) => Promise<string>;
  /** Worker replicas per central of a célula, as its Deployments ask, kept current by a watch. */
  replicas(celula: string): Record<string, number>;
  /** Resolves when `predicate` holds for the célula's replicas; returns when (performance.now()). */
  waitReplicas(celula: string, predicate: (byCentral: Record<string, number>, total: number) => boolean, timeoutMs?: number): Promise<number>;
  /** Runs real worker processes for the worker pods (`workers: true`). */
  runner?: PodRunner;
  /** The Multcall side of a célula (started on first use): takes ACKs and results. */
  multcall(queue: string): MultcallSide;
  /** LPUSHes `count` valid dial requests in pipelined batches; resolves when all are in Redis. */
  burst(queue: string, count: number, tag: string): Promise<void>;
  /**
   * Leaves the lab as it started: every Celula deleted and its Deployments gone, every
   * simulated central answering. Run after each test, so one that fails midway does not
   * leave workers that hold channels the next one counts on.
   */
  reset(): Promise<void>;
  stop(): Promise<void>;
}

export interface ScaleLabOptions {
  centrals: string[];
  queuePollMs?: number;
  logger?: Logger;
  /** Options of every simulated central (profile 20 by default). */
  pbx?: PbxSimulatorOptions;
  /** Give every worker pod a real `multcall worker` process (test/support/pod-runner.ts). */
  workers?: boolean;
}

const total = (r: Record<string, number>) => Object.values(r).reduce((a, b) => a + b, 0);

export async function startScaleLab(opts: ScaleLabOptions): Promise<ScaleLab> {
  const [cluster, redis, ...sims] = await Promise.all([startCluster(), startRedis(), ...opts.centrals.map(() => startPbxSimulator({ profile: '20', ...opts.pbx }))]);
  const kubectl = kubectlFor(() => cluster);
  await installOperatorSurface(cluster, ['clusterWide=true', `workers.serviceAccount.extraNamespaces={${NS}}`]);
  const operator = await startOperatorAsChart(cluster, {
    metricsPort: -1,
    ...(opts.logger ? { logger: opts.logger } : {}),
    ...(opts.queuePollMs !== undefined ? { queuePollMs: opts.queuePollMs } : {}),
  });
  const admin = KubeClient.fromFile(cluster.kubeconfigPath);
  const runner = opts.workers ? await startPodRunner({ kubeconfigPath: cluster.kubeconfigPath, namespaces: [NS] }) : undefined;
  const sides = new Map<string, MultcallSide>();
  const client = new Redis({ host: '127.0.0.1', port: redis.port });

  // One watch on the worker Deployments of the namespace: célula → central → spec.replicas.
  const byCelula = new Map<string, Record<string, number>>();
  const waiters = new Set<() => void>();
  const stopWatch = new AbortController();
  const onEvent = (e: WatchEvent<KubeObject & { spec?: { replicas?: number } }>) => {
    if (e.type === 'BOOKMARK' || e.type === 'ERROR') return;
    const celula = e.object.metadata.labels?.['multcall.zanc.com.br/celula'];
    const central = e.object.metadata.labels?.['multcall.zanc.com.br/central'];
    if (!celula || !central) return;
    const entry = { ...(byCelula.get(celula) ?? {}) };
    if (e.type === 'DELETED') delete entry[central];
    else entry[central] = e.object.spec?.replicas ?? 0;
    byCelula.set(celula, entry);
    for (const w of waiters) w();
  };
  const watchLoop = (async () => {
    const path = paths.collection('apps/v1', 'deployments', NS);
    while (!stopWatch.signal.aborted) {
      try {
        const list = await admin.list<KubeObject & { spec?: { replicas?: number } }>(path, { labelSelector: 'app.kubernetes.io/name=multcall-worker' });
        byCelula.clear();
        for (const o of list.items) onEvent({ type: 'ADDED', object: o });
        await admin.watch(path, { labelSelector: 'app.kubernetes.io/name=multcall-worker', resourceVersion: list.metadata.resourceVersion, allowWatchBookmarks: 'true' }, onEvent, stopWatch.signal);
      } catch {
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  })();

  /** Resolves (with when, performance.now()) once `holds()` is true of what the watch saw. */
  const watched = (holds: () => boolean, timeoutMs: number, failure: () => string) =>
    new Promise<number>((resolve, reject) => {
      const check = () => {
        if (!holds()) return;
        waiters.delete(check);
        clearTimeout(timer);
        resolve(performance.now());
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(failure()));
      }, timeoutMs);
      waiters.add(check);
      check();
    });

  const lab: ScaleLab = {
    cluster,
    redis,
    client,
    centrals: opts.centrals.map((name, i) => ({ name, pbx: sims[i]! })),
    operator,
    admin,
    kubectl,
    ...(runner ? { runner } : {}),
    multcall(queue) {
      let side = sides.get(queue);
      if (!side) {
        side = new MultcallSide({ redis: { host: '127.0.0.1', port: redis.port }, celula: queue });
        side.start();
        sides.set(queue, side);
      }
      return side;
    },
    replicas: (celula) => ({ ...(byCelula.get(celula) ?? {}) }),
    waitReplicas(celula, predicate, timeoutMs = 30_000) {
      return watched(
        () => {
          const r = byCelula.get(celula) ?? {};
          return predicate(r, total(r));
        },
        timeoutMs,
        () => `replicas of ${celula} did not get there within ${timeoutMs} ms: ${JSON.stringify(byCelula.get(celula) ?? {})}`,
      );
    },
    async burst(queue, count, tag) {
      const keys = celulaKeys(queue);
      const now = Date.now();
      for (let start = 0; start < count; start += 2000) {
        const batch: string[] = [];
        for (let i = start; i < Math.min(count, start + 2000); i++) batch.push(JSON.stringify({ v: 1, id: `${tag}-${i}`, number: `1199${String(i).padStart(7, '0')}`, createdAt: now }));
        await client.lpush(keys.dial, ...batch);
      }
    },
    async reset() {
      for (const { pbx } of lab.centrals) pbx.faults.setDown(false);
      await kubectl(['delete', 'celulas', '--all', '-n', NS, '--wait=true', '--timeout=30s']);
      await watched(
        () => [...byCelula.values()].every((r) => Object.keys(r).length === 0),
        30_000,
        () => `worker Deployments still there 30 s after their Celulas were deleted: ${JSON.stringify(Object.fromEntries(byCelula))}`,
      );
    },
    async stop() {
      stopWatch.abort();
      // Processes first: a worker must not outlive the Redis and the central it talks to.
      await runner?.stop({ graceMs: 3000 });
      await operator.stop();
      await Promise.allSettled([...sides.values()].map((s) => s.stop()));
      await watchLoop;
      client.disconnect();
      await Promise.allSettled([cluster.stop(), redis.stop(), ...sims.map((s) => s.close())]);
    },
  };
  return lab;
}

export interface CelulaOptions {
  name: string;
  centrals: string[];
  threads: number;
  minReplicas?: number;
  maxReplicas?: number;
  window?: string;
  scaleToZero?: boolean;
}

/** A queue-mode Celula on the lab's Redis and the named centrals. */
export function celulaManifest(lab: ScaleLab, c: CelulaOptions): string {
  return `
apiVersion: multcall.zanc.com.br/v1alpha1
kind: Celula
metadata: {name: ${c.name}, namespace: ${NS}}
spec:
  queue: ${c.name}
  threads: ${c.threads}
  redis: {host: 127.0.0.1, port: ${lab.redis.port}}
  centrals: {names: [${c.centrals.join(', ')}]}
  originate: {channel: 'PJSIP/{number}@carrier', context: agents}
  scaling: {mode: queue, minReplicas: ${c.minReplicas ?? 1}, maxReplicas: ${c.maxReplicas ?? 10}, scaleDownStabilization: ${c.window ?? '60s'}, scaleToZero: ${c.scaleToZero ?? false}}
`;
}

/** The AMI Secret and one Central per simulator, probed every second. */
export function centralsManifest(lab: ScaleLab, capacity: { maxChannels: number; maxOriginatesPerSecond: number } = { maxChannels: 1000, maxOriginatesPerSecond: 500 }): string {
  const secret = `
apiVersion: v1
kind: Secret
metadata: {name: pbx-ami, namespace: ${NS}}
stringData: {username: multcall, secret: multcall}
`;
  return [
    secret,
    ...lab.centrals.map(
      ({ name, pbx }) => `
apiVersion: multcall.zanc.com.br/v1alpha1
kind: Central
metadata: {name: ${name}, namespace: ${NS}}
spec:
  ami: {host: 127.0.0.1, port: ${pbx.port}, credentialsSecretRef: {name: pbx-ami}}
  capacity: {maxChannels: ${capacity.maxChannels}, maxOriginatesPerSecond: ${capacity.maxOriginatesPerSecond}}
  probe: {interval: 1s, timeout: 500ms}
`,
    ),
  ].join('\n---\n');
}

export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? NaN;
}
