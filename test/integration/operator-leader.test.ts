/**
 * Leader election between operator processes (`multcall operator`, each its own OS
 * process, authenticated as the chart's ServiceAccount): one leads, the others write
 * nothing; a stopped leader hands over at once, a killed one within the lease duration, and
 * the new leader's first pass changes nothing that was already right (no duelling writes).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCluster, type Cluster } from '../support/cluster.js';
import { eventually, installOperatorSurface, kubectlFor, NS, RELEASE, SYSTEM_NS, serviceAccountKubeconfig } from '../support/operator-env.js';
import { freePort, startRedis, type RedisServer } from '../support/redis.js';
import { startPbxSimulator, type PbxSimulator } from '../../src/sim/pbx/index.js';

const LEASE_MS = 15_000;
const RETRY_MS = 2_000;

let cluster: Cluster;
let redis: RedisServer;
let pbx: PbxSimulator;
let kubeconfig: string;
const operators = new Map<string, { child: ChildProcess; metricsPort: number; logs: string[] }>();
const timings: Record<string, number> = {};

const kubectl = kubectlFor(() => cluster);

const holder = async () => (await kubectl(['get', 'lease', 'multcall-operator', '-n', SYSTEM_NS, '-o', 'jsonpath={.spec.holderIdentity}'])).trim();
const rv = async (kind: string, name: string) => (await kubectl(['get', kind, name, '-n', NS, '-o', 'jsonpath={.metadata.resourceVersion}'])).trim();

async function metric(identity: string, name: string): Promise<number> {
  const op = operators.get(identity);
  if (!op) throw new Error(`no operator ${identity}`);
  const text = await (await fetch(`http://127.0.0.1:${op.metricsPort}/metrics`)).text();
  return [...text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'gm'))].reduce((n, m) => n + Number(m[1]), 0);
}

async function startOperatorProcess(identity: string): Promise<void> {
  const metricsPort = await freePort();
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      'src/cli/main.ts',
      'operator',
      '--kubeconfig',
      kubeconfig,
      '--namespace',
      NS,
      '--lease-namespace',
      SYSTEM_NS,
      '--identity',
      identity,
      '--metrics-port',
      String(metricsPort),
      '--health-port=-1',
      '--worker-service-account',
      `${RELEASE}-worker`,
      '--log-level',
      'info',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const logs: string[] = [];
  child.stderr?.on('data', (b: Buffer) => logs.push(b.toString('utf8')));
  operators.set(identity, { child, metricsPort, logs });
  try {
    await eventually(`${identity} serving metrics`, async () => (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).ok, 20_000, 200);
  } catch (error) {
    throw new Error(`${(error as Error).message}\n${identity} exit ${child.exitCode}; its log:\n${logs.join('').slice(-3000)}`, { cause: error });
  }
}

function exited(child: ChildProcess): Promise<number | null> {
  return child.exitCode !== null ? Promise.resolve(child.exitCode) : new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

beforeAll(async () => {
  [cluster, redis, pbx] = await Promise.all([startCluster(), startRedis(), startPbxSimulator({ profile: '20' })]);
  await installOperatorSurface(cluster, [`watchNamespaces={${NS}}`]);
  kubeconfig = await serviceAccountKubeconfig(cluster);

  await kubectl(
    ['apply', '-f', '-'],
    `
apiVersion: v1
kind: Secret
metadata: {name: pbx-ami, namespace: ${NS}}
stringData: {username: multcall, secret: multcall}
---
apiVersion: multcall.zanc.com.br/v1alpha1
kind: Central
metadata: {name: central-a, namespace: ${NS}}
spec:
  ami: {host: 127.0.0.1, port: ${pbx.port}, credentialsSecretRef: {name: pbx-ami}}
  probe: {interval: 5s, timeout: 1s}
---
apiVersion: multcall.zanc.com.br/v1alpha1
kind: Celula
metadata: {name: vendas, namespace: ${NS}}
spec:
  queue: vendas
  threads: 4
  redis: {host: 127.0.0.1, port: ${redis.port}}
  centrals: {names: [central-a]}
  originate: {channel: 'PJSIP/{number}@carrier', context: agents}
  scaling: {mode: fixed}
  replicas: 2
`,
  );
});

afterAll(async () => {
  for (const { child } of operators.values()) if (child.exitCode === null) child.kill('SIGKILL');
  await Promise.allSettled([cluster?.stop(), redis?.stop(), pbx?.close()]);
  console.log('operator-leader timings (ms):', Object.fromEntries(Object.entries(timings).map(([k, v]) => [k, Math.round(v)])));
});

describe('leader election between operator processes', () => {
  it('one leader reconciles; a standby writes nothing', async () => {
    await startOperatorProcess('op-a');
    await eventually('op-a holds the lease', async () => (await holder()) === 'op-a');
    await eventually('Celula Ready', async () => (await kubectl(['get', 'celula', 'vendas', '-n', NS, '-o', 'jsonpath={.status.conditions[?(@.type=="Ready")].status}'])).trim() === 'True', 30_000, 250);
    await startOperatorProcess('op-b');
    await new Promise((r) => setTimeout(r, 2500));
    expect(await holder()).toBe('op-a');
    expect(await metric('op-a', 'multcall_operator_leader')).toBe(1);
    expect(await metric('op-b', 'multcall_operator_leader')).toBe(0);
    expect(await metric('op-a', 'multcall_operator_kube_writes_total')).toBeGreaterThan(0);
    expect(await metric('op-b', 'multcall_operator_kube_writes_total')).toBe(0);
  });

  it('a stopped leader releases the lease: the standby takes over at once, changing nothing that was right', async () => {
    // The settings ConfigMaps of the workers on central-a (named by a hash of their content), with their versions.
    const settingsFiles = async () =>
      (await kubectl(['get', 'configmaps', '-n', NS, '-l', 'multcall.zanc.com.br/celula=vendas,multcall.zanc.com.br/central=central-a', '-o', 'jsonpath={range .items[*]}{.metadata.name}={.metadata.resourceVersion} {end}'])).trim();
    const before = { celula: await rv('celula', 'vendas'), deployment: await rv('deployment', 'vendas-central-a'), configMap: await settingsFiles() };
    const a = operators.get('op-a')?.child as ChildProcess;
    const started = performance.now();
    a.kill('SIGTERM');
    expect(await exited(a)).toBe(0);
    await eventually('op-b holds the lease', async () => (await holder()) === 'op-b', 10_000);
    timings.gracefulHandover = performance.now() - started;
    expect(timings.gracefulHandover).toBeLessThan(RETRY_MS * 1.1 + 2000);
    await eventually('op-b leading', async () => (await metric('op-b', 'multcall_operator_leader')) === 1);
    // op-b's first pass reconciled everything; nothing needed a change, so nothing changed.
    await eventually('op-b reconciled the Celula', async () => (await metric('op-b', 'multcall_operator_reconciles_total')) >= 2);
    await new Promise((r) => setTimeout(r, 1000));
    expect({ celula: await rv('celula', 'vendas'), deployment: await rv('deployment', 'vendas-central-a'), configMap: await settingsFiles() }).toEqual(before);
  });

  it('a killed leader is replaced within the lease duration, and the new one reconciles', async () => {
    await startOperatorProcess('op-c');
    await new Promise((r) => setTimeout(r, 2500));
    expect(await metric('op-c', 'multcall_operator_kube_writes_total')).toBe(0);
    const b = operators.get('op-b')?.child as ChildProcess;
    const started = performance.now();
    b.kill('SIGKILL');
    await exited(b);
    await eventually('op-c holds the lease', async () => (await holder()) === 'op-c', LEASE_MS + 10_000, 100);
    timings.killedLeaderHandover = performance.now() - started;
    // The standby waits for the lease to stay unrenewed for leaseDuration by its own clock,
    // counted from when it last saw a renew (at most a quarter period after the real one,
    // which was up to a period before the kill).
    expect(timings.killedLeaderHandover).toBeLessThan(LEASE_MS + (RETRY_MS / 4) * 1.1 + 500);
    expect(timings.killedLeaderHandover).toBeGreaterThan(LEASE_MS - RETRY_MS * 1.1 - 500);

    const changed = performance.now();
    await kubectl(['patch', 'celula', 'vendas', '-n', NS, '--type', 'merge', '-p', '{"spec":{"threads":9}}']);
    await eventually('threads=9 in Redis', async () => (await redis.client().hget('multcall:{vendas}:config', 'threads')) === '9');
    timings.newLeaderAppliesChange = performance.now() - changed;
    await kubectl(['delete', 'deployment', 'vendas-central-a', '-n', NS, '--wait=false']);
    await eventually('deployment restored by op-c', async () => (await rv('deployment', 'vendas-central-a')) !== '');
    expect(await metric('op-c', 'multcall_operator_kube_writes_total')).toBeGreaterThan(0);
  });
});
