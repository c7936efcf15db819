/**
 * The operator against a real control plane (kube-apiserver, etcd, controller-manager,
 * scheduler, kwok), a real redis-server and the PBX simulator. The operator runs in this
 * process, authenticated as the Helm chart's ServiceAccount with the chart's RBAC.
 */
import { Redis } from 'ioredis';
import { parse as parseYaml } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCluster, type Cluster } from '../support/cluster.js';
import { eventually, installOperatorSurface, kubectlFor, NS, RELEASE, startOperatorAsChart } from '../support/operator-env.js';
import { startRedis, type RedisServer } from '../support/redis.js';
import { startPbxSimulator, type PbxSimulator } from '../../src/sim/pbx/index.js';
import type { RunningOperator } from '../../src/operator/main.js';


let cluster: Cluster;
let redis: RedisServer;
let pbx: PbxSimulator;
let operator: RunningOperator;
const t0 = performance.now();
const timings: Record<string, number> = {};

const kubectl = kubectlFor(() => cluster);

async function getJson<T>(args: string[]): Promise<T> {
  return JSON.parse(await kubectl(['get', ...args, '-o', 'json'])) as T;
}

interface Deployment {
  metadata: { name: string; uid: string; resourceVersion: string; generation?: number; labels: Record<string, string>; ownerReferences?: Array<Record<string, unknown>> };
  spec: { replicas: number; template: { metadata: { annotations?: Record<string, string> }; spec: Record<string, unknown> & { containers: Array<Record<string, unknown>> } } };
  status?: { observedGeneration?: number; replicas?: number; updatedReplicas?: number; readyReplicas?: number };
}
interface Condition {
  type: string;
  status: string;
  reason: string;
  message: string;
}
interface CelulaObj {
  metadata: { generation: number; uid: string };
  spec: Record<string, unknown>;
  status?: {
    observedGeneration?: number;
    conditions?: Condition[];
    replicas?: number;
    readyReplicas?: number;
    desiredReplicas?: number;
    selector?: string;
    centrals?: Array<{ name: string; replicas: number; readyReplicas: number; healthy: boolean }>;
  };
}

const workerDeployments = async (): Promise<Deployment[]> =>
  (await getJson<{ items: Deployment[] }>(['deployments', '-n', NS, '-l', 'app.kubernetes.io/name=multcall-worker,multcall.zanc.com.br/celula=vendas'])).items;
const celula = () => getJson<CelulaObj>(['celula', 'vendas', '-n', NS]);
const settingsFiles = async () =>
  (await getJson<{ items: Array<{ metadata: { name: string }; data: Record<string, string> }> }>(['configmaps', '-n', NS, '-l', 'multcall.zanc.com.br/celula=vendas'])).items;
/** The ConfigMap a Deployment's workers mount their settings from. */
const settingsVolume = (d: Deployment | undefined) => (d?.spec.template.spec.volumes as Array<{ name: string; configMap?: { name: string } }> | undefined)?.find((v) => v.name === 'config')?.configMap?.name;

/** A Celula `name` on `queue` with one worker of one thread on central-a. */
const oneWorkerCelula = (name: string, queue: string) => `
apiVersion: multcall.zanc.com.br/v1alpha1
kind: Celula
metadata: {name: ${name}, namespace: ${NS}}
spec:
  queue: ${queue}
  threads: 1
  redis: {host: 127.0.0.1, port: ${redis.port}}
  centrals: {names: [central-a]}
  originate: {channel: 'PJSIP/{number}@carrier', context: agents}
  scaling: {mode: fixed, minReplicas: 1, maxReplicas: 2}
  replicas: 1
`;
const condition = (c: CelulaObj, type: string) => c.status?.conditions?.find((x) => x.type === type);

function manifests(redisPort: number, pbxPort: number): string {
  return `
apiVersion: v1
kind: Secret
metadata: {name: pbx-ami, namespace: ${NS}}
stringData: {username: multcall, secret: multcall}
---
apiVersion: multcall.zanc.com.br/v1alpha1
kind: Central
metadata: {name: central-a, namespace: ${NS}, labels: {multcall.zanc.com.br/site: demo}}
spec:
  ami: {host: 127.0.0.1, port: ${pbxPort}, credentialsSecretRef: {name: pbx-ami}}
  capacity: {maxChannels: 200, maxOriginatesPerSecond: 40}
  weight: 100
  probe: {interval: 2s, timeout: 1s}
---
apiVersion: multcall.zanc.com.br/v1alpha1
kind: Central
metadata: {name: central-b, namespace: ${NS}, labels: {multcall.zanc.com.br/site: demo}}
spec:
  ami: {host: 127.0.0.1, port: ${pbxPort}, credentialsSecretRef: {name: pbx-ami}}
  capacity: {maxChannels: 200, maxOriginatesPerSecond: 40}
  weight: 100
  probe: {interval: 2s, timeout: 1s}
---
apiVersion: multcall.zanc.com.br/v1alpha1
kind: Celula
metadata: {name: vendas, namespace: ${NS}}
spec:
  queue: vendas
  threads: 5
  retries: 2
  timeouts: {commandResponse: 5s, commandAck: 10s}
  redis: {host: 127.0.0.1, port: ${redisPort}}
  centrals: {selector: {matchLabels: {multcall.zanc.com.br/site: demo}}}
  originate: {channel: 'PJSIP/{number}@carrier', context: agents}
  scaling: {mode: fixed, minReplicas: 1, maxReplicas: 10}
  replicas: 3
  worker: {drainTimeout: 60s}
`;
}

beforeAll(async () => {
  [cluster, redis, pbx] = await Promise.all([startCluster(), startRedis(), startPbxSimulator({ profile: '20' })]);
  timings.clusterUp = performance.now() - t0;
  // The workers' ServiceAccount (no RBAC, no token) must exist where the Celulas live.
  await installOperatorSurface(cluster, ['clusterWide=true', `workers.serviceAccount.extraNamespaces={${NS}}`]);
  operator = await startOperatorAsChart(cluster);
  timings.operatorUp = performance.now() - t0;
});

afterAll(async () => {
  await operator?.stop();
  await Promise.allSettled([cluster?.stop(), redis?.stop(), pbx?.close()]);
  console.log('operator-celula timings (ms since start):', Object.fromEntries(Object.entries(timings).map(([k, v]) => [k, Math.round(v)])));
});

describe('Celula reconciler on a real control plane', () => {
  it('samples → Centrals Ready → one Deployment per Central, pods Ready, Celula Ready', async () => {
    await kubectl(['apply', '-f', '-'], manifests(redis.port, pbx.port));

    const central = await eventually('central-a Ready', async () => {
      const c = await getJson<{ status?: { conditions?: Condition[]; amiVersion?: string; asteriskVersion?: string; banner?: string; latencyMs?: number; lastProbeTime?: string } }>(['central', 'central-a', '-n', NS]);
      return c.status?.conditions?.find((x) => x.type === 'Ready' && x.status === 'True') ? c : undefined;
    });
    timings.centralReady = performance.now() - t0;
    expect(central.status?.conditions?.find((c) => c.type === 'Reachable')?.status).toBe('True');
    expect(central.status?.banner).toMatch(/Asterisk Call Manager/);
    expect(central.status?.amiVersion).toMatch(/^\d+\.\d+/);
    // The worker's user may not run CoreSettings: the release comes from the AMI version.
    expect(central.status?.asteriskVersion).toBe('20.x');
    expect(typeof central.status?.latencyMs).toBe('number');
    expect(central.status?.lastProbeTime).toBeTruthy();

    const deps = await eventually('two worker Deployments', async () => {
      const d = await workerDeployments();
      return d.length === 2 ? d : undefined;
    });
    timings.deploymentsCreated = performance.now() - t0;
    const byCentral = Object.fromEntries(deps.map((d) => [d.metadata.labels['multcall.zanc.com.br/central'], d]));
    // 3 replicas over two equal weights: ties by name.
    expect(byCentral['central-a']?.spec.replicas).toBe(2);
    expect(byCentral['central-b']?.spec.replicas).toBe(1);

    const d = byCentral['central-a'] as Deployment;
    const cel = await celula();
    expect(d.metadata.ownerReferences).toEqual([
      { apiVersion: 'multcall.zanc.com.br/v1alpha1', kind: 'Celula', name: 'vendas', uid: cel.metadata.uid, controller: true, blockOwnerDeletion: true },
    ]);
    const pod = d.spec.template.spec;
    const container = pod.containers[0] as Record<string, unknown>;
    expect(container.args).toEqual(['worker', '--config', '/etc/multcall/worker.yaml', '--celula', 'vendas']);
    expect(pod.terminationGracePeriodSeconds).toBe(90);
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(pod.serviceAccountName).toBe(`${RELEASE}-worker`);
    expect(container.securityContext).toMatchObject({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, runAsNonRoot: true, capabilities: { drop: ['ALL'] } });
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
    const env = container.env as Array<{ name: string; value?: string; valueFrom?: unknown }>;
    expect(env.find((e) => e.name === 'MULTCALL_WORKER_ID')?.valueFrom).toEqual({ fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.name' } });
    expect(env.find((e) => e.name === 'AMI_SECRET_FILE')?.value).toBe('/var/run/secrets/multcall/ami/secret');
    expect(JSON.stringify(env)).not.toContain('"multcall"}'); // no secret literal
    expect(container.readinessProbe).toMatchObject({ httpGet: { path: '/readyz', port: 'http' } });
    expect(container.livenessProbe).toMatchObject({ httpGet: { path: '/healthz', port: 'http' } });

    const settings = settingsVolume(d);
    expect(settings).toMatch(/^vendas-central-a-[0-9a-f]{10}$/);
    const cm = await getJson<{ data: Record<string, string> }>(['configmap', settings ?? '', '-n', NS]);
    const file = parseYaml(cm.data['worker.yaml'] as string) as Record<string, unknown>;
    expect(file).toMatchObject({
      redis_host: '127.0.0.1',
      redis_port: redis.port,
      redis_prefix: 'multcall',
      Timeout_Command_Response: 5,
      Timeout_Command_ACK: 10,
      Retries: 2,
      Queues: [{ nome: 'vendas', threads: 5 }],
      central: { name: 'central-a', host: '127.0.0.1', port: pbx.port, maxChannels: 200, maxOriginatesPerSecond: 40 },
      drain_timeout: 60,
      ack_timeout_policy: 'report',
      http_port: 8080,
    });
    // One disruption budget per worker Deployment: one worker of the célula there evicted at a time.
    const budgets = await eventually('two disruption budgets', async () => {
      const b = (await getJson<{ items: Array<{ metadata: { name: string; ownerReferences?: Array<Record<string, unknown>> }; spec: Record<string, unknown> }> }>(['poddisruptionbudgets', '-n', NS, '-l', 'multcall.zanc.com.br/celula=vendas'])).items;
      return b.length === 2 ? b : undefined;
    });
    const budgetA = budgets.find((b) => b.metadata.name === 'vendas-central-a');
    expect(budgetA?.spec).toMatchObject({ maxUnavailable: 1, unhealthyPodEvictionPolicy: 'AlwaysAllow', selector: { matchLabels: { 'app.kubernetes.io/name': 'multcall-worker', 'multcall.zanc.com.br/celula': 'vendas', 'multcall.zanc.com.br/central': 'central-a' } } });
    expect(budgetA?.metadata.ownerReferences?.[0]).toMatchObject({ kind: 'Celula', name: 'vendas', controller: true });

    // Nothing read from a Secret: the AMI user and secret are files the pod mounts.
    expect(cm.data['worker.yaml']).not.toMatch(/secret:|password|username/i);
    expect(file.central).not.toHaveProperty('username');

    // Both conditions: a Central probed Ready before the other gets all three workers at
    // first, and the one it gives back may still be counted for a moment after Ready.
    const ready = await eventually('Celula Ready with 3 workers, all ready', async () => {
      const c = await celula();
      return condition(c, 'Ready')?.status === 'True' && c.status?.readyReplicas === 3 && c.status.replicas === 3 ? c : undefined;
    }, 30_000);
    timings.celulaReady = performance.now() - t0;
    expect(ready.status).toMatchObject({
      observedGeneration: ready.metadata.generation,
      replicas: 3,
      readyReplicas: 3,
      desiredReplicas: 3,
      selector: 'app.kubernetes.io/name=multcall-worker,multcall.zanc.com.br/celula=vendas',
    });
    expect(ready.status?.centrals).toEqual([
      { name: 'central-a', replicas: 2, readyReplicas: 2, healthy: true },
      { name: 'central-b', replicas: 1, readyReplicas: 1, healthy: true },
    ]);
    for (const type of ['CentralsAvailable', 'WorkersAvailable', 'RedisReachable', 'ConfigPushed']) expect(condition(ready, type)?.status).toBe('True');

    // Live parameters are in Redis.
    const r = redis.client();
    expect(await r.hgetall('multcall:{vendas}:config')).toEqual({ threads: '5', retries: '2', commandTimeoutMs: '5000', ackTimeoutMs: '10000' });

    // Events were recorded on the Celula.
    const events = await getJson<{ items: Array<{ reason: string; involvedObject: { name: string } }> }>(['events', '-n', NS, '--field-selector', 'involvedObject.name=vendas']);
    expect(events.items.map((e) => e.reason)).toEqual(expect.arrayContaining(['WorkersCreated', 'LiveConfigPushed']));
  });

  it('status writes do not trigger reconciles of themselves (no hot loop once settled)', async () => {
    const count = async () => {
      const m = await operator.metrics.registry.getSingleMetricAsString('multcall_operator_reconciles_total');
      return [...m.matchAll(/kind="Celula"[^}]*} (\d+)/g)].reduce((n, x) => n + Number(x[1]), 0);
    };
    await new Promise((r) => setTimeout(r, 1500));
    const before = await count();
    const rvBefore = (await kubectl(['get', 'celula', 'vendas', '-n', NS, '-o', 'jsonpath={.metadata.resourceVersion}'])).trim();
    await new Promise((r) => setTimeout(r, 4000));
    const after = await count();
    const rvAfter = (await kubectl(['get', 'celula', 'vendas', '-n', NS, '-o', 'jsonpath={.metadata.resourceVersion}'])).trim();
    expect(after - before).toBeLessThanOrEqual(1);
    expect(rvAfter).toBe(rvBefore);
  });

  it('threads → the Redis config hash changes, without a rollout', async () => {
    const sub = new Redis({ port: redis.port, host: '127.0.0.1' });
    const announced = new Promise<void>((resolve) => sub.on('message', () => resolve()));
    await sub.subscribe('multcall:{vendas}:config');
    const before = (await workerDeployments()).map((d) => JSON.stringify(d.spec.template));
    const started = performance.now();
    await kubectl(['patch', 'celula', 'vendas', '-n', NS, '--type', 'merge', '-p', '{"spec":{"threads":7,"timeouts":{"commandAck":"12s"}}}']);
    await eventually('threads=7 in Redis', async () => (await redis.client().hget('multcall:{vendas}:config', 'threads')) === '7');
    timings.threadsToRedisMs = performance.now() - started;
    await announced;
    sub.disconnect();
    expect(await redis.client().hget('multcall:{vendas}:config', 'ackTimeoutMs')).toBe('12000');
    const after = (await workerDeployments()).map((d) => JSON.stringify(d.spec.template));
    expect(after).toEqual(before);
    // The settings file of the running version carries the new values, for a worker that starts before Redis answers.
    const [cm] = await settingsFiles();
    expect(cm?.data['worker.yaml']).toMatch(/threads: 7/);
  });

  it('centrals → Deployments move; worker image → the pod template changes', async () => {
    let started = performance.now();
    await kubectl(['patch', 'celula', 'vendas', '-n', NS, '--type', 'merge', '-p', '{"spec":{"centrals":{"selector":null,"names":["central-b"]}}}']);
    const moved = await eventually('only central-b, with 3 replicas', async () => {
      const d = await workerDeployments();
      return d.length === 1 && d[0]?.metadata.labels['multcall.zanc.com.br/central'] === 'central-b' && d[0].spec.replicas === 3 ? d : undefined;
    });
    timings.centralsMoveMs = performance.now() - started;
    expect(moved).toHaveLength(1);
    await eventually('only central-b keeps a disruption budget', async () => {
      const b = (await getJson<{ items: Array<{ metadata: { name: string } }> }>(['poddisruptionbudgets', '-n', NS, '-l', 'multcall.zanc.com.br/celula=vendas'])).items;
      return b.length === 1 && b[0]?.metadata.name === 'vendas-central-b' ? true : undefined;
    });

    started = performance.now();
    await kubectl(['patch', 'celula', 'vendas', '-n', NS, '--type', 'merge', '-p', '{"spec":{"worker":{"image":"ghcr.io/zanc/multcall-operator:next"}}}']);
    await eventually('image changed', async () => ((await workerDeployments())[0]?.spec.template.spec.containers[0]?.image === 'ghcr.io/zanc/multcall-operator:next' ? true : undefined));
    timings.imageChangeMs = performance.now() - started;
  });

  it('a change workers read only at start rolls them onto a new settings file; the old one goes once no pod uses it', async () => {
    const [before] = await workerDeployments();
    const oldFile = settingsVolume(before);
    expect((await settingsFiles()).map((c) => c.metadata.name)).toEqual([oldFile]);
    await kubectl(['patch', 'celula', 'vendas', '-n', NS, '--type', 'merge', '-p', '{"spec":{"originate":{"context":"agents-2"}}}']);
    const rolled = await eventually('the rollout over, on one new settings file', async () => {
      const [d] = await workerDeployments();
      const files = await settingsFiles();
      const over = d?.status?.observedGeneration === d?.metadata.generation && d?.status?.replicas === d?.status?.updatedReplicas;
      const [file] = files;
      return over && files.length === 1 && file && file.metadata.name === settingsVolume(d) ? { d, file } : undefined;
    }, 30_000);
    expect(rolled.file.metadata.name).not.toBe(oldFile);
    expect(rolled.file.metadata.name.startsWith(`${rolled.d?.metadata.name}-`)).toBe(true);
    expect(rolled.file.data['worker.yaml']).toMatch(/agents-2/);
  });

  it('a deleted or hand-edited child Deployment is restored', async () => {
    const [d] = await workerDeployments();
    if (!d) throw new Error('no deployment');
    let started = performance.now();
    await kubectl(['delete', 'deployment', d.metadata.name, '-n', NS, '--wait=false']);
    await eventually('deployment recreated', async () => {
      const again = (await workerDeployments())[0];
      return again && again.metadata.uid !== d.metadata.uid ? again : undefined;
    });
    timings.deletedRestoredMs = performance.now() - started;

    started = performance.now();
    await kubectl(['scale', 'deployment', d.metadata.name, '-n', NS, '--replicas=9']);
    await kubectl(['set', 'image', `deployment/${d.metadata.name}`, '-n', NS, 'worker=evil:latest']);
    await eventually('hand edits undone', async () => {
      const again = (await workerDeployments())[0];
      return again?.spec.replicas === 3 && again.spec.template.spec.containers[0]?.image === 'ghcr.io/zanc/multcall-operator:next' ? true : undefined;
    });
    timings.handEditUndoneMs = performance.now() - started;
  });

  it('kubectl scale celula in external mode changes the Deployments', async () => {
    await kubectl(['patch', 'celula', 'vendas', '-n', NS, '--type', 'merge', '-p', '{"spec":{"scaling":{"mode":"external"},"centrals":{"names":["central-a","central-b"]}}}']);
    const started = performance.now();
    await kubectl(['scale', 'celula/vendas', '-n', NS, '--replicas=6']);
    const deps = await eventually('6 replicas over two centrals', async () => {
      const d = await workerDeployments();
      const total = d.reduce((n, x) => n + x.spec.replicas, 0);
      return d.length === 2 && total === 6 ? d : undefined;
    });
    timings.scaleMs = performance.now() - started;
    expect(deps.map((d) => d.spec.replicas)).toEqual([3, 3]);
    await eventually('status.desiredReplicas 6 and selector for the scale subresource', async () => {
      const raw = JSON.parse(await kubectl(['get', '--raw', `/apis/multcall.zanc.com.br/v1alpha1/namespaces/${NS}/celulas/vendas/scale`])) as { spec: { replicas: number }; status: { replicas: number; selector?: string } };
      return raw.spec.replicas === 6 && raw.status.replicas === 6 && raw.status.selector === 'app.kubernetes.io/name=multcall-worker,multcall.zanc.com.br/celula=vendas' ? raw : undefined;
    });
  });

  it('an unreachable Central loses its workers; Redis down sets a condition, not a crash', async () => {
    await kubectl(['patch', 'central', 'central-b', '-n', NS, '--type', 'merge', '-p', '{"spec":{"ami":{"port":1}}}']);
    const started = performance.now();
    await eventually('central-b Deployment removed', async () => {
      const d = await workerDeployments();
      return d.length === 1 && d[0]?.metadata.labels['multcall.zanc.com.br/central'] === 'central-a' ? d : undefined;
    }, 20_000);
    timings.unhealthyCentralDrainedMs = performance.now() - started;
    // The status is written after the Deployment is deleted, in the same reconcile: wait for it.
    const c = await eventually('central-b reported unhealthy in the status', async () => {
      const x = await celula();
      return x.status?.centrals?.find((y) => y.name === 'central-b')?.healthy === false ? x : undefined;
    });
    expect(c.status?.centrals?.find((x) => x.name === 'central-b')).toMatchObject({ healthy: false, replicas: 0 });
    expect(condition(c, 'CentralsAvailable')).toMatchObject({ status: 'True', reason: 'SomeCentralsUnavailable' });

    await kubectl(['patch', 'celula', 'vendas', '-n', NS, '--type', 'merge', '-p', '{"spec":{"redis":{"port":1}}}']);
    const broken = await eventually('RedisReachable False', async () => {
      const x = await celula();
      return condition(x, 'RedisReachable')?.status === 'False' ? x : undefined;
    });
    expect(condition(broken, 'Ready')).toMatchObject({ status: 'False' });
    expect(condition(broken, 'ConfigPushed')).toMatchObject({ status: 'False', reason: 'RedisUnreachable' });
    expect(condition(broken, 'RedisReachable')?.message).toMatch(/127\.0\.0\.1:1/);
    await kubectl(['patch', 'celula', 'vendas', '-n', NS, '--type', 'merge', '-p', `{"spec":{"redis":{"port":${redis.port}}}}`]);
    await eventually('RedisReachable True again', async () => condition(await celula(), 'RedisReachable')?.status === 'True');
  });

  it('when no selected Central is Ready, the workers already running are kept', async () => {
    // central-b is unreachable since the test above; now central-a too. The operator cannot
    // tell a PBX outage from its own cut-off: it keeps what runs and says so.
    const [before] = await workerDeployments();
    expect(before?.metadata.labels['multcall.zanc.com.br/central']).toBe('central-a');
    await kubectl(['patch', 'central', 'central-a', '-n', NS, '--type', 'merge', '-p', '{"spec":{"ami":{"port":1}}}']);
    const c = await eventually('NoHealthyCentral', async () => {
      const x = await celula();
      return condition(x, 'CentralsAvailable')?.reason === 'NoHealthyCentral' ? x : undefined;
    }, 20_000);
    expect(condition(c, 'CentralsAvailable')?.message).toMatch(/already running are kept/);
    expect(condition(c, 'Ready')).toMatchObject({ status: 'False' });
    const kept = await workerDeployments();
    expect(kept.map((d) => d.metadata.uid)).toEqual([before?.metadata.uid]);

    // central-a answers again: its workers were never gone (the same object, not a new one).
    await kubectl(['patch', 'central', 'central-a', '-n', NS, '--type', 'merge', '-p', `{"spec":{"ami":{"port":${pbx.port}}}}`]);
    await eventually('central-a healthy again', async () => (await celula()).status?.centrals?.find((x) => x.name === 'central-a')?.healthy === true || undefined, 20_000);
    expect((await workerDeployments()).map((d) => d.metadata.uid)).toEqual([before?.metadata.uid]);
    await kubectl(['patch', 'central', 'central-b', '-n', NS, '--type', 'merge', '-p', `{"spec":{"ami":{"port":${pbx.port}}}}`]);
    await eventually('both Centrals carry workers again', async () => ((await workerDeployments()).length === 2 ? true : undefined), 30_000);
  });

  it('never takes over an object that has a worker\'s name but is not the Celula\'s', async () => {
    // A Deployment and a budget made by hand with the name the Celula "outra" would give its workers on central-a.
    await kubectl(['create', 'deployment', 'outra-central-a', '-n', NS, '--image=registry.example/hand-made:1', '--replicas=0']);
    await kubectl(['create', 'poddisruptionbudget', 'outra-central-a', '-n', NS, '--selector=app=hand-made', '--max-unavailable=1']);
    await kubectl(['apply', '-f', '-'], oneWorkerCelula('outra', 'outra'));
    const outra = () => getJson<CelulaObj>(['celula', 'outra', '-n', NS]);
    const events = () => kubectl(['get', 'events', '-n', NS, '--field-selector', 'involvedObject.name=outra,reason=NameConflict', '-o', 'jsonpath={.items[*].message}']);
    const c = await eventually('NameConflict reported', async () => {
      const x = await outra();
      return condition(x, 'CentralsAvailable')?.message.includes('NameConflict') ? x : undefined;
    }, 20_000);
    expect(condition(c, 'Ready')).toMatchObject({ status: 'False' });
    expect(await events()).toContain(`Deployment ${NS}/outra-central-a already exists and belongs to no Celula`);
    const handMade = await getJson<{ spec: { template: { spec: { containers: Array<{ image: string }> } } }; metadata: { ownerReferences?: unknown[] } }>(['deployment', 'outra-central-a', '-n', NS]);
    expect(handMade.spec.template.spec.containers.map((x) => x.image)).toEqual(['registry.example/hand-made:1']);
    expect(handMade.metadata.ownerReferences).toBeUndefined();

    // The Deployment out of the way, the Celula gets its workers; a budget of someone else's
    // name is left alone, and the workers run without one.
    await kubectl(['delete', 'deployment', 'outra-central-a', '-n', NS]);
    await eventually('outra has its Deployment', async () => {
      const d = await getJson<{ metadata: { ownerReferences?: Array<{ name: string }> } }>(['deployment', 'outra-central-a', '-n', NS]).catch(() => undefined);
      return d?.metadata.ownerReferences?.[0]?.name === 'outra' || undefined;
    }, 30_000);
    await eventually('the budget conflict told', async () => ((await events()).includes('run without a disruption budget') ? true : undefined), 20_000);
    const budget = await getJson<{ spec: { selector: unknown }; metadata: { ownerReferences?: unknown[] } }>(['poddisruptionbudget', 'outra-central-a', '-n', NS]);
    expect(budget.spec.selector).toEqual({ matchLabels: { app: 'hand-made' } });
    expect(budget.metadata.ownerReferences).toBeUndefined();
    expect(condition(await outra(), 'CentralsAvailable')?.message).not.toContain('NameConflict');

    await kubectl(['delete', 'poddisruptionbudget', 'outra-central-a', '-n', NS]);
    await eventually('outra has its own budget', async () => {
      const b = await getJson<{ metadata: { ownerReferences?: Array<{ name: string }> } }>(['poddisruptionbudget', 'outra-central-a', '-n', NS]).catch(() => undefined);
      return b?.metadata.ownerReferences?.[0]?.name === 'outra' || undefined;
    }, 30_000);
    await kubectl(['delete', 'celula', 'outra', '-n', NS]);
  });

  it('a second Celula on the same queue runs no workers and leaves the queue\'s settings alone', async () => {
    const r = redis.client();
    const before = await r.hgetall('multcall:{vendas}:config');
    await kubectl(['apply', '-f', '-'], oneWorkerCelula('copia', 'vendas'));
    const c = await eventually('QueueConflict', async () => {
      const x = await getJson<CelulaObj>(['celula', 'copia', '-n', NS]);
      return condition(x, 'Ready')?.reason === 'QueueConflict' ? x : undefined;
    }, 20_000);
    expect(condition(c, 'WorkersAvailable')?.message).toContain(`belongs to Celula ${NS}/vendas, which serves it`);
    expect(condition(c, 'ConfigPushed')).toMatchObject({ status: 'False', reason: 'QueueConflict' });
    expect(c.status?.desiredReplicas).toBe(0);
    const mine = await getJson<{ items: unknown[] }>(['deployments', '-n', NS, '-l', 'multcall.zanc.com.br/celula=copia']);
    expect(mine.items).toEqual([]);
    expect(await r.hgetall('multcall:{vendas}:config')).toEqual(before);
    // The older Celula is untouched.
    expect(condition(await celula(), 'Ready')?.reason).not.toBe('QueueConflict');
    expect((await workerDeployments()).length).toBe(2);
    await kubectl(['delete', 'celula', 'copia', '-n', NS]);
  });

  it('pods the API server will not create are explained in the status, quoting why', async () => {
    // A namespace without the workers' ServiceAccount: the ReplicaSet cannot create pods.
    const ns = 'no-worker-account';
    await kubectl(['create', 'namespace', ns]);
    await kubectl(['apply', '-f', '-'], manifests(redis.port, pbx.port).replaceAll(`namespace: ${NS}`, `namespace: ${ns}`).replace('queue: vendas', 'queue: vendas-2'));
    const c = await eventually('PodsNotCreated', async () => {
      const x = await getJson<CelulaObj>(['celula', 'vendas', '-n', ns]);
      return condition(x, 'WorkersAvailable')?.reason === 'PodsNotCreated' ? x : undefined;
    }, 30_000);
    expect(condition(c, 'WorkersAvailable')?.message).toMatch(/serviceaccount.*not found/i);
    expect(condition(c, 'WorkersAvailable')?.message).toContain(`add ${ns} to workers.serviceAccount.extraNamespaces`);
    expect(condition(c, 'Ready')).toMatchObject({ status: 'False', reason: 'PodsNotCreated' });
    await kubectl(['delete', 'namespace', ns, '--wait=false']);
  });

  it('deleting the Celula removes its children through garbage collection', async () => {
    const started = performance.now();
    await kubectl(['delete', 'celula', 'vendas', '-n', NS, '--wait=false']);
    await eventually('children gone', async () => {
      const d = await workerDeployments();
      const cms = (await getJson<{ items: unknown[] }>(['configmaps', '-n', NS, '-l', 'multcall.zanc.com.br/celula=vendas'])).items;
      const budgets = (await getJson<{ items: unknown[] }>(['poddisruptionbudgets', '-n', NS, '-l', 'multcall.zanc.com.br/celula=vendas'])).items;
      return d.length === 0 && cms.length === 0 && budgets.length === 0;
    }, 30_000);
    timings.garbageCollectedMs = performance.now() - started;
  });
});
