/**
 * `npm run bench:operator` — the operator, as its own OS process, against a real local
 * control plane (kube-apiserver, etcd, controller-manager, scheduler, kwok), a real
 * redis-server and the PBX simulator.
 *
 *  1. apply → Ready: with 3 Centrals Ready, 20 Celulas are created one at a time and each is
 *     timed from the create call until its worker Deployments (one per Central) exist and its
 *     `Ready` condition is True. The Celulas are created with a direct API call (POST through
 *     the project's KubeClient with the admin kubeconfig), not `kubectl apply`, so kubectl's
 *     ~100 ms process start is not counted; Deployments and the Celula are followed with
 *     watches (no polling interval in the figure). With 20 samples p99 is the maximum.
 *     Each Celula wants 3 replicas (1 per Central), so Ready also waits for the
 *     controller-manager, the scheduler and kwok to report those pods Ready.
 *  2. cold start: the operator is stopped, N Celulas × 3 Centrals are created concurrently,
 *     a fresh operator process is started and timed (from spawn, so including Node/tsx start)
 *     until all N Celulas are Ready with their 3·N Deployments. Then it rests 10 s and the
 *     process's RSS (VmRSS) and CPU (utime+stime over 10 s, % of one core) are sampled.
 *
 * The operator runs as the image runs it: the built CLI (dist/), with the chart's
 * `nodeOptions` (heap settings) as node flags.
 *
 * Ends with one JSON line of figures. Knobs:
 *   BENCH_OPERATOR_NODE_ARGS='' node flags instead of the chart's (empty: none)
 *   BENCH_CELULAS=100      Celulas of the cold start (default 500)
 *   BENCH_SAMPLES=20       Celulas of phase 1 (default 20)
 *   BENCH_COLD_REPLICAS=0  worker replicas per cold-start Celula (default 0: Deployments of
 *                          0 replicas, so the figure is the operator's and not the
 *                          controller-manager's pod creation; 3 puts one pod per Deployment,
 *                          1,500 pods for 500 Celulas, on enough kwok Nodes)
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { parse as parseYaml } from 'yaml';
import { startCluster, type Cluster } from '../test/support/cluster.js';
import { installOperatorSurface, kubectlFor, eventually, NS, RELEASE, serviceAccountKubeconfig } from '../test/support/operator-env.js';
import { freePort, startRedis, type RedisServer } from '../test/support/redis.js';
import { startPbxSimulator, type PbxSimulator } from '../src/sim/pbx/index.js';
import { KubeClient, paths, type KubeObject, type WatchEvent } from '../src/operator/runtime/kube.js';

const SAMPLES = Number(process.env.BENCH_SAMPLES ?? 20);
const COLD = Number(process.env.BENCH_CELULAS ?? 500);
const COLD_REPLICAS = Number(process.env.BENCH_COLD_REPLICAS ?? 0);
const CENTRALS = ['central-a', 'central-b', 'central-c'];
const SAMPLE_REPLICAS = 3;
const GROUP = 'multcall.zanc.com.br/v1alpha1';
const CELULA_LABEL = 'multcall.zanc.com.br/celula';
const WORKER_SELECTOR = 'app.kubernetes.io/name=multcall-worker';
const APPLY_TIMEOUT_MS = 60_000;
const CONVERGE_TIMEOUT_MS = Number(process.env.BENCH_CONVERGE_TIMEOUT_S ?? 300) * 1000;
const REST_MS = 10_000;
const CPU_WINDOW_MS = 10_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const round = (n: number, d = 1) => Math.round(n * 10 ** d) / 10 ** d;

interface Condition {
  type: string;
  status: string;
}
type CelulaView = KubeObject & { status?: { conditions?: Condition[] } };

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i] as number;
}

function centralManifest(name: string, pbxPort: number): object {
  return {
    apiVersion: GROUP,
    kind: 'Central',
    metadata: { name, namespace: NS, labels: { 'multcall.zanc.com.br/site': 'bench' } },
    spec: {
      ami: { host: '127.0.0.1', port: pbxPort, credentialsSecretRef: { name: 'pbx-ami' } },
      capacity: { maxChannels: 100_000, maxOriginatesPerSecond: 40 },
      weight: 100,
      probe: { interval: '2s', timeout: '1s' },
    },
  };
}

function celulaManifest(name: string, redisPort: number, replicas: number): object {
  return {
    apiVersion: GROUP,
    kind: 'Celula',
    metadata: { name, namespace: NS },
    spec: {
      queue: name,
      threads: 5,
      retries: 2,
      timeouts: { commandResponse: '5s', commandAck: '10s' },
      redis: { host: '127.0.0.1', port: redisPort },
      centrals: { selector: { matchLabels: { 'multcall.zanc.com.br/site': 'bench' } } },
      originate: { channel: 'PJSIP/{number}@carrier', context: 'agents' },
      scaling: { mode: 'fixed', minReplicas: 1, maxReplicas: 10 },
      replicas,
      worker: { drainTimeout: '60s' },
    },
  };
}

/** What the watches have seen: Ready Celulas and each Celula's worker Deployments. */
class Observer {
  readonly ready = new Set<string>();
  readonly deployments = new Map<string, Set<string>>();
  private readonly abort = new AbortController();
  private readonly listeners = new Set<() => void>();

  constructor(private readonly kube: KubeClient) {}

  async start(): Promise<void> {
    const celulas = paths.collection(GROUP, 'celulas', NS);
    const deployments = paths.collection('apps/v1', 'deployments', NS);
    await Promise.all([
      this.follow<CelulaView>(celulas, {}, (type, o) => {
        const name = o.metadata.name;
        const ok = type !== 'DELETED' && o.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true;
        if (ok) this.ready.add(name);
        else this.ready.delete(name);
      }),
      this.follow<KubeObject>(deployments, { labelSelector: WORKER_SELECTOR }, (type, o) => {
        const celula = o.metadata.labels?.[CELULA_LABEL];
        if (!celula) return;
        let set = this.deployments.get(celula);
        if (!set) this.deployments.set(celula, (set = new Set()));
        if (type === 'DELETED') set.delete(o.metadata.name);
        else set.add(o.metadata.name);
      }),
    ]);
  }

  /** Resolves once `done()` holds after some event; rejects after `timeoutMs`. */
  until(what: string, done: () => boolean, timeoutMs: number): Promise<void> {
    if (done()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = () => {
        if (!done()) return;
        clearTimeout(timer);
        this.listeners.delete(check);
        resolve();
      };
      const timer = setTimeout(() => {
        this.listeners.delete(check);
        reject(new Error(`${what}: not within ${timeoutMs} ms`));
      }, timeoutMs);
      this.listeners.add(check);
    });
  }

  stop(): void {
    this.abort.abort();
  }

  /** List, then watch from the list's resourceVersion; re-lists when a watch ends. */
  private async follow<T extends KubeObject>(path: string, query: Record<string, string>, apply: (type: string, o: T) => void): Promise<void> {
    const first = await this.kube.list<T>(path, query);
    for (const o of first.items) apply('ADDED', o);
    this.notify();
    let rv = first.metadata.resourceVersion;
    const loop = async () => {
      while (!this.abort.signal.aborted) {
        try {
          await this.kube.watch<T>(path, { ...query, resourceVersion: rv, allowWatchBookmarks: 'true' }, (e: WatchEvent<T>) => {
            if (e.type === 'ERROR') throw new Error(`watch ${path}: ${JSON.stringify(e.object)}`);
            rv = e.object.metadata.resourceVersion ?? rv;
            if (e.type === 'BOOKMARK') return;
            apply(e.type, e.object);
            this.notify();
          }, this.abort.signal);
        } catch (error) {
          if (this.abort.signal.aborted) return;
          // 410 Gone or a dropped connection: list again.
          console.error(`watch ${path} restarts: ${(error as Error).message}`);
          const again = await this.kube.list<T>(path, query);
          for (const o of again.items) apply('ADDED', o);
          rv = again.metadata.resourceVersion;
          this.notify();
        }
      }
    };
    void loop();
  }

  private notify(): void {
    for (const l of [...this.listeners]) l();
  }
}

interface OperatorProcess {
  child: ChildProcess;
  pid: number;
  /** Resolves when the operator logs "operator started"; the ms since spawn. */
  started: Promise<number>;
  /** Last lines of its output, for error messages. */
  tail(): string;
  stop(): Promise<void>;
}

/** The operator's metrics port, so the bench can read its reconcile and write counters. */
let metricsPort = 0;

async function operatorCounters(): Promise<string> {
  if (metricsPort === 0) return '';
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text().catch(() => '');
  const sum = (name: string) => [...text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'gm'))].reduce((n, m) => n + Number(m[1]), 0);
  return `reconciles ${sum('multcall_operator_reconciles_total')}, kube writes ${sum('multcall_operator_kube_writes_total')}`;
}

/** `nodeOptions` of the chart's values.yaml: the heap settings the operator's pod runs with. */
function chartNodeOptions(): string {
  const values = parseYaml(readFileSync('charts/multcall-operator/values.yaml', 'utf8')) as { nodeOptions?: unknown };
  return typeof values.nodeOptions === 'string' ? values.nodeOptions : '';
}

function spawnOperator(kubeconfig: string): OperatorProcess {
  const spawnedAt = performance.now();
  const child = spawn(
    process.execPath,
    [
      // The chart's NODE_OPTIONS, as the operator runs in a pod; BENCH_OPERATOR_NODE_ARGS replaces them ('' for none).
      ...(process.env.BENCH_OPERATOR_NODE_ARGS ?? chartNodeOptions()).split(' ').filter(Boolean),
      // The built CLI, as the image runs it (tsx would add its compiler and source maps).
      'dist/cli/main.js', 'operator',
      '--kubeconfig', kubeconfig,
      '--leader-elect=false',
      `--metrics-port=${metricsPort}`,
      '--health-port=-1',
      '--worker-image', 'ghcr.io/zanc/multcall-operator:bench',
      '--worker-service-account', `${RELEASE}-worker`,
      '--log-level', process.env.BENCH_LOG_LEVEL ?? 'info',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NODE_ENV: 'production' } },
  );
  if (child.pid === undefined) throw new Error('could not spawn the operator');
  const lines: string[] = [];
  let exited: string | undefined;
  let onStarted: (ms: number) => void = () => undefined;
  let onFailed: (e: Error) => void = () => undefined;
  const started = new Promise<number>((resolve, reject) => {
    onStarted = resolve;
    onFailed = reject;
  });
  const take = (chunk: Buffer) => {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (!line) continue;
      if (line.includes('"operator started"')) onStarted(performance.now() - spawnedAt);
      lines.push(line);
      if (lines.length > 40) lines.shift();
    }
  };
  child.stdout.on('data', take);
  child.stderr.on('data', take);
  const gone = new Promise<void>((resolve) =>
    child.once('exit', (code, signal) => {
      exited = `exit ${code ?? signal}`;
      onFailed(new Error(`the operator exited (${exited}) before it started:\n${lines.join('\n')}`));
      resolve();
    }),
  );
  return {
    child,
    pid: child.pid,
    started,
    tail: () => `${exited ? `(${exited}) ` : ''}${lines.slice(-15).join('\n')}`,
    async stop() {
      if (exited) return;
      child.kill('SIGTERM');
      const killed = await Promise.race([gone.then(() => true), sleep(10_000).then(() => false)]);
      if (!killed) {
        child.kill('SIGKILL');
        await gone;
      }
    },
  };
}

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]) / 1024;
}

const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** utime+stime of a process, in seconds. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // After "pid (comm) ": state is field 3, so utime (14) and stime (15) are at 11 and 12.
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}

/** Runs `fn` over `items` with at most `limit` in flight. */
async function pool<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) await fn(items[next++] as T);
    }),
  );
}

async function main(): Promise<void> {
  let cluster: Cluster | undefined;
  let redis: RedisServer | undefined;
  let pbx: PbxSimulator | undefined;
  let operator: OperatorProcess | undefined;
  let observer: Observer | undefined;
  const t0 = performance.now();
  const since = () => `${round((performance.now() - t0) / 1000)} s`;
  try {
    const pods = SAMPLES * SAMPLE_REPLICAS + COLD * COLD_REPLICAS;
    const nodes = Math.max(1, Math.ceil(pods / 100));
    [cluster, redis, pbx] = await Promise.all([startCluster({ nodes }), startRedis(), startPbxSimulator({ profile: '20' })]);
    const c = cluster;
    const kubectl = kubectlFor(() => c);
    console.log(`cluster up (${nodes} kwok node(s)), redis :${redis.port}, pbx :${pbx.port} — ${since()}`);
    await installOperatorSurface(cluster, ['clusterWide=true', `workers.serviceAccount.extraNamespaces={${NS}}`]);
    const saKubeconfig = await serviceAccountKubeconfig(cluster);
    const admin = KubeClient.fromFile(cluster.kubeconfigPath);

    await admin.create(paths.collection('v1', 'secrets', NS), {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'pbx-ami', namespace: NS },
      stringData: { username: 'multcall', secret: 'multcall' },
    });
    for (const name of CENTRALS) await admin.create(paths.collection(GROUP, 'centrals', NS), centralManifest(name, pbx.port));

    operator = spawnOperator(saKubeconfig);
    const startMs = await Promise.race([operator.started, sleep(60_000).then(() => Promise.reject(new Error('the operator did not start within 60 s')))]);
    console.log(`operator pid ${operator.pid} started in ${Math.round(startMs)} ms (spawn → "operator started")`);

    await eventually(
      '3 Centrals Ready',
      async () => {
        const list = await admin.list<CelulaView>(paths.collection(GROUP, 'centrals', NS));
        return list.items.filter((x) => x.status?.conditions?.some((k) => k.type === 'Ready' && k.status === 'True')).length === CENTRALS.length;
      },
      30_000,
      50,
    ).catch((e: unknown) => {
      throw new Error(`${(e as Error).message}\noperator output:\n${operator?.tail() ?? ''}`);
    });
    console.log(`3 Centrals Ready — ${since()}`);

    observer = new Observer(admin);
    await observer.start();
    const obs = observer;
    const settled = (name: string) => obs.ready.has(name) && (obs.deployments.get(name)?.size ?? 0) >= CENTRALS.length;

    // ---------------------------------------------------------------- 1. apply → Ready
    const latencies: number[] = [];
    for (let i = 0; i < SAMPLES; i++) {
      const name = `sample-${String(i).padStart(2, '0')}`;
      const started = performance.now();
      await admin.create(paths.collection(GROUP, 'celulas', NS), celulaManifest(name, redis.port, SAMPLE_REPLICAS));
      await obs.until(`Celula ${name} Ready with ${CENTRALS.length} Deployments`, () => settled(name), APPLY_TIMEOUT_MS).catch((e: unknown) => {
        throw new Error(`${(e as Error).message}\noperator output:\n${operator?.tail() ?? ''}`);
      });
      latencies.push(performance.now() - started);
    }
    const sorted = [...latencies].sort((a, b) => a - b);
    const p50 = percentile(sorted, 50);
    const p99 = percentile(sorted, 99);
    console.log(`\n1. apply → Ready (${SAMPLES} Celulas × ${CENTRALS.length} Centrals, ${SAMPLE_REPLICAS} replicas each, create by API POST, watch-observed)`);
    console.log(`   samples ms: ${latencies.map((x) => Math.round(x)).join(' ')}`);
    console.log(`   p50 ${round(p50)} ms, p99 ${round(p99)} ms${SAMPLES < 100 ? ` (${SAMPLES} samples: p99 = max)` : ''}, min ${round(sorted[0] ?? NaN)} ms`);

    // ---------------------------------------------------------------- 2. cold start
    await operator.stop();
    console.log(`\noperator stopped; creating ${COLD} Celulas (${COLD_REPLICAS} replicas each) — ${since()}`);
    const names = Array.from({ length: COLD }, (_, i) => `cold-${String(i).padStart(3, '0')}`);
    const createStart = performance.now();
    await pool(names, 32, async (name) => {
      await admin.create(paths.collection(GROUP, 'celulas', NS), celulaManifest(name, redis?.port ?? 0, COLD_REPLICAS));
    });
    console.log(`   ${COLD} Celulas created in ${round((performance.now() - createStart) / 1000, 2)} s`);
    await sleep(1000); // let the watches catch up before the clock starts

    const clusterPids = readFileSync(`${cluster.dir}/pids`, 'utf8')
      .split('\n')
      .map((l) => l.trim().split(/\s+/))
      .filter((f): f is [string, string] => f.length === 2)
      .map(([name, pid]) => ({ name, pid: Number(pid) }));
    const clusterCpu = () => Object.fromEntries(clusterPids.map(({ name, pid }) => [name, cpuSecondsSafe(pid)]));
    const clusterCpuBefore = clusterCpu();
    metricsPort = await freePort();
    operator = spawnOperator(saKubeconfig);
    const spawned = performance.now();
    const op = operator;
    let deploymentsAt: number | undefined;
    const allDeployments = () => {
      const n = names.reduce((k, name) => k + Math.min(CENTRALS.length, obs.deployments.get(name)?.size ?? 0), 0);
      if (n === names.length * CENTRALS.length && deploymentsAt === undefined) deploymentsAt = performance.now();
      return n;
    };
    const progress = setInterval(() => {
      const ready = names.filter((n) => obs.ready.has(n)).length;
      console.log(`   +${round((performance.now() - spawned) / 1000)} s: ${ready}/${COLD} Ready, ${allDeployments()}/${COLD * CENTRALS.length} Deployments, operator RSS ${round(rssMbSafe(op.pid))} MB`);
    }, 5000);
    let startedMs: number;
    try {
      startedMs = await op.started;
      await obs.until(`${COLD} Celulas Ready with ${COLD * CENTRALS.length} Deployments`, () => allDeployments() === COLD * CENTRALS.length && names.every((n) => obs.ready.has(n)), CONVERGE_TIMEOUT_MS).catch(
        (e: unknown) => {
          const ready = names.filter((n) => obs.ready.has(n)).length;
          throw new Error(`${(e as Error).message} (${ready} Ready, ${allDeployments()} Deployments)\noperator output:\n${op.tail()}`);
        },
      );
    } finally {
      clearInterval(progress);
    }
    const convergeS = (performance.now() - spawned) / 1000;
    const operatorConvergeCpuPct = (cpuSeconds(op.pid) / convergeS) * 100;
    const clusterCpuAfter = clusterCpu();
    const cpuShares = Object.entries(clusterCpuAfter)
      .map(([name, after]) => `${name} ${round(((after - (clusterCpuBefore[name] ?? 0)) / convergeS) * 100)} %`)
      .join(', ');
    const deploymentsS = ((deploymentsAt ?? performance.now()) - spawned) / 1000;
    console.log(`\n2. cold start (${COLD} Celulas × ${CENTRALS.length} Centrals = ${COLD * CENTRALS.length} Deployments of ${COLD_REPLICAS} replicas; +${SAMPLES} settled Celulas)`);
    console.log(`   operator process start (spawn → "operator started"): ${round(startedMs / 1000, 2)} s`);
    console.log(`   all Deployments exist: ${round(deploymentsS, 2)} s; all Ready: ${round(convergeS, 2)} s (target ≤ 60 s)`);
    console.log(`   CPU during the converge (% of one core, ${os.availableParallelism()} cores here): operator ${round(operatorConvergeCpuPct)} %, ${cpuShares}`);
    const rssAtConverge = rssMb(op.pid);
    console.log(`   at convergence: ${await operatorCounters()}`);

    await sleep(REST_MS);
    const rss = rssMb(op.pid);
    const cpuBefore = cpuSeconds(op.pid);
    const cpuT = performance.now();
    await sleep(CPU_WINDOW_MS);
    const cpuPct = ((cpuSeconds(op.pid) - cpuBefore) / ((performance.now() - cpuT) / 1000)) * 100;
    const rssEnd = rssMb(op.pid);
    console.log(`   after the rest: ${await operatorCounters()}`);
    console.log(`   RSS at converge ${round(rssAtConverge)} MB, after ${REST_MS / 1000} s rest ${round(rss)} MB, after the CPU window ${round(rssEnd)} MB (target ≤ 200 MB)`);
    console.log(`   CPU at rest over ${CPU_WINDOW_MS / 1000} s: ${round(cpuPct, 2)} % of one core`);

    const counts = await kubectl(['get', 'deployments', '-n', NS, '-l', WORKER_SELECTOR, '--no-headers']);
    console.log(`   kubectl sees ${counts.trim().split('\n').filter(Boolean).length} worker Deployments in ${NS}`);

    console.log(
      JSON.stringify({
        bench: 'operator',
        apply_ready_p50_ms: round(p50),
        apply_ready_p99_ms: round(p99),
        apply_samples: SAMPLES,
        converge_celulas: COLD,
        converge_replicas: COLD_REPLICAS,
        converge_deployments_s: round(deploymentsS, 2),
        converge_500_s: round(convergeS, 2),
        converge_operator_cpu_pct: round(operatorConvergeCpuPct),
        operator_start_s: round(startedMs / 1000, 2),
        rss_mb: round(rss),
        cpu_rest_pct: round(cpuPct, 2),
      }),
    );
  } finally {
    observer?.stop();
    await operator?.stop().catch(() => undefined);
    await Promise.allSettled([cluster?.stop(), redis?.stop(), pbx?.close()]);
  }
}

function cpuSecondsSafe(pid: number): number {
  try {
    return cpuSeconds(pid);
  } catch {
    return NaN;
  }
}

function rssMbSafe(pid: number): number {
  try {
    return rssMb(pid);
  } catch {
    return NaN;
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(`bench:operator failed: ${(error as Error).stack ?? String(error)}`);
    process.exit(1);
  },
);
