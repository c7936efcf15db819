/**
 * A célula run end to end the Kubernetes way: a real control plane, the operator under the
 * chart's ServiceAccount, one Central on the PBX simulator, a Celula whose worker pods get
 * real `multcall worker` processes from the pod runner, a real redis-server, and the
 * Multcall side feeding the queue and taking the results.
 */
import { startCluster, type Cluster } from './cluster.js';
import { installOperatorSurface, kubectlFor, NS, startOperatorAsChart } from './operator-env.js';
import { startPodRunner, type Pod, type PodRunner } from './pod-runner.js';
import { startRedis, type RedisServer } from './redis.js';
import { CELULA } from './stack.js';
import { startPbxSimulator, type PbxSimulator, type PbxSimulatorOptions } from '../../src/sim/pbx/index.js';
import { MultcallSide } from '../../src/sim/multcall/multcall-side.js';
import type { RunningOperator } from '../../src/operator/main.js';

export { CELULA };
export const CENTRAL = 'central-a';
export const WORKER_SELECTOR = `app.kubernetes.io/name=multcall-worker,multcall.zanc.com.br/celula=${CELULA}`;

export interface CelulaShape {
  threads: number;
  replicas: number;
  /** spec.worker.drainTimeout, e.g. `60s`. */
  drainTimeout: string;
  /** Central capacity.maxOriginatesPerSecond (divided among the workers by the operator). */
  maxOriginatesPerSecond: number;
  maxChannels: number;
}

export interface WorkerPlane {
  cluster: Cluster;
  redis: RedisServer;
  pbx: PbxSimulator;
  multcall: MultcallSide;
  operator: RunningOperator;
  runner: PodRunner;
  kubectl(args: string[], input?: string): Promise<string>;
  /** The célula's worker pods as the API shows them now. */
  pods(): Promise<Pod[]>;
  stop(): Promise<void>;
}

/** The Secret, Central and Celula of the plane, as one kubectl apply input (a List). */
function manifests(redisPort: number, pbxPort: number, c: CelulaShape): string {
  const metadata = (name: string) => ({ name, namespace: NS });
  const group = 'multcall.zanc.com.br/v1alpha1';
  const items = [
    { apiVersion: 'v1', kind: 'Secret', metadata: metadata('pbx-ami'), stringData: { username: 'multcall', secret: 'multcall' } },
    {
      apiVersion: group,
      kind: 'Central',
      metadata: metadata(CENTRAL),
      spec: {
        ami: { host: '127.0.0.1', port: pbxPort, credentialsSecretRef: { name: 'pbx-ami' } },
        capacity: { maxChannels: c.maxChannels, maxOriginatesPerSecond: c.maxOriginatesPerSecond },
        probe: { interval: '2s', timeout: '1s' },
      },
    },
    {
      apiVersion: group,
      kind: 'Celula',
      metadata: metadata(CELULA),
      spec: {
        queue: CELULA,
        threads: c.threads,
        timeouts: { commandResponse: '5s', commandAck: '10s' },
        redis: { host: '127.0.0.1', port: redisPort },
        centrals: { names: [CENTRAL] },
        originate: { channel: 'PJSIP/{number}@carrier', context: 'agents', ringTimeout: '10s' },
        scaling: { mode: 'fixed' },
        replicas: c.replicas,
        worker: { drainTimeout: c.drainTimeout },
      },
    },
  ];
  return JSON.stringify({ apiVersion: 'v1', kind: 'List', items });
}

export async function startWorkerPlane(opts: { pbx: PbxSimulatorOptions; celula: CelulaShape }): Promise<WorkerPlane> {
  const cleanup: Array<() => Promise<unknown>> = [];
  try {
    return await start(opts, cleanup);
  } catch (error) {
    for (const step of cleanup.reverse()) await step().catch(() => undefined);
    throw error;
  }
}

async function start(opts: { pbx: PbxSimulatorOptions; celula: CelulaShape }, cleanup: Array<() => Promise<unknown>>): Promise<WorkerPlane> {
  const [cluster, redis, pbx] = await Promise.all([startCluster(), startRedis(), startPbxSimulator({ profile: '20', ...opts.pbx })]);
  cleanup.push(() => cluster.stop(), () => redis.stop(), () => pbx.close());
  const kubectl = kubectlFor(() => cluster);
  const multcall = new MultcallSide({ redis: { host: '127.0.0.1', port: redis.port }, celula: CELULA });
  multcall.start();
  cleanup.push(() => multcall.stop());
  // The workers' ServiceAccount (no RBAC, no token) must exist where the Celulas live.
  await installOperatorSurface(cluster, ['clusterWide=true', `workers.serviceAccount.extraNamespaces={${NS}}`]);
  const operator = await startOperatorAsChart(cluster);
  cleanup.push(() => operator.stop());
  const runner = await startPodRunner({ kubeconfigPath: cluster.kubeconfigPath, namespaces: [NS] });
  cleanup.push(() => runner.stop({ graceMs: 1000 }));
  await kubectl(['apply', '-f', '-'], manifests(redis.port, pbx.port, opts.celula));

  return {
    cluster,
    redis,
    pbx,
    multcall,
    operator,
    runner,
    kubectl,
    async pods() {
      return (JSON.parse(await kubectl(['get', 'pods', '-n', NS, '-l', WORKER_SELECTOR, '-o', 'json'])) as { items: Pod[] }).items;
    },
    async stop() {
      // Processes first: a worker must not outlive the Redis and the central it talks to.
      await runner.stop({ graceMs: 3000 });
      await operator.stop();
      await multcall.stop();
      await Promise.allSettled([cluster.stop(), redis.stop(), pbx.close()]);
    },
  };
}
