/**
 * `kubectl apply -f deploy/samples/` exactly as a newcomer runs it, with the operator (as the
 * chart's ServiceAccount) reconciling the result on the real control plane.
 *
 * kwok runs no containers, so the samples' Redis and PBX-simulator Deployments stand for
 * a redis-server and a simulator started here; the operator, outside the cluster, reaches
 * them through an address map in place of cluster DNS (`redis:6379`, `pbx-sim:5038`).
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { startCluster, type Cluster } from '../support/cluster.js';
import { eventually, installOperatorSurface, kubectlFor, NS, startOperatorAsChart } from '../support/operator-env.js';
import { startRedis, type RedisServer } from '../support/redis.js';
import { DEFAULT_PBX_USER, startPbxSimulator, type PbxSimulator } from '../../src/sim/pbx/index.js';
import type { RunningOperator } from '../../src/operator/main.js';
import { Redis } from 'ioredis';
import { celulaKeys } from '../../src/protocol/keys.js';

let cluster: Cluster;
let redis: RedisServer;
let pbx: PbxSimulator;
let operator: RunningOperator;
const kubectl = kubectlFor(() => cluster);

interface Condition {
  type: string;
  status: string;
  reason: string;
}
interface CelulaObj {
  status?: { conditions?: Condition[]; replicas?: number; readyReplicas?: number; desiredReplicas?: number; centrals?: Array<{ name: string; replicas: number; readyReplicas: number; healthy: boolean }> };
}

beforeAll(async () => {
  // The simulator takes the AMI user of the samples' Secret, as the samples' simulator Deployment does.
  const secret = parseYaml(readFileSync('deploy/samples/secret.yaml', 'utf8')) as { stringData: { username: string; secret: string } };
  const user = { ...DEFAULT_PBX_USER, username: secret.stringData.username, secret: secret.stringData.secret };
  [cluster, redis, pbx] = await Promise.all([startCluster(), startRedis(), startPbxSimulator({ profile: '20', users: [user] })]);
  await installOperatorSurface(cluster, ['clusterWide=true', `workers.serviceAccount.extraNamespaces={${NS}}`]);
  // What cluster DNS would answer for the samples' Services, in the samples' namespace (not the operator's).
  const services: Record<string, { host: string; port: number }> = {
    [`redis.${NS}.svc:6379`]: { host: '127.0.0.1', port: redis.port },
    [`pbx-sim.${NS}.svc:5038`]: { host: '127.0.0.1', port: pbx.port },
  };
  operator = await startOperatorAsChart(cluster, { metricsPort: -1, resolve: (_ns, host, port) => services[`${host}:${port}`] ?? { host, port } });
});

afterAll(async () => {
  await operator?.stop();
  await Promise.allSettled([cluster?.stop(), redis?.stop(), pbx?.close()]);
});

describe('deploy/samples', () => {
  it('applies as-is; the Central and the Celula become Ready with the right workers, which follow the queue', async () => {
    const applied = await cluster.kubectl(['apply', '-n', NS, '-f', 'deploy/samples/']);
    expect(applied.code, applied.stderr).toBe(0);
    expect(applied.stdout).toContain('celula.multcall.zanc.com.br/vendas created');
    expect(applied.stdout).toContain('central.multcall.zanc.com.br/pbx-sim created');

    await eventually('Central pbx-sim Ready', async () => {
      const c = JSON.parse(await kubectl(['get', 'central', 'pbx-sim', '-n', NS, '-o', 'json'])) as CelulaObj;
      return c.status?.conditions?.some((x) => x.type === 'Ready' && x.status === 'True');
    }, 30_000);
    const ready = await eventually('Celula vendas Ready with one worker on pbx-sim', async () => {
      const c = JSON.parse(await kubectl(['get', 'celula', 'vendas', '-n', NS, '-o', 'json'])) as CelulaObj;
      return c.status?.conditions?.some((x) => x.type === 'Ready' && x.status === 'True') && c.status.readyReplicas === 1 ? c : undefined;
    }, 30_000);
    expect(ready.status?.centrals).toEqual([{ name: 'pbx-sim', replicas: 1, readyReplicas: 1, healthy: true }]);
    const pods = await kubectl(['get', 'pods', '-n', NS, '-l', 'multcall.zanc.com.br/celula=vendas', '-o', 'jsonpath={range .items[*]}{.status.phase}{"\\n"}{end}']);
    expect(pods.trim()).toBe('Running');

    // The live parameters reached the samples' Redis.
    const client = new Redis({ host: '127.0.0.1', port: redis.port });
    try {
      expect(await client.hget(celulaKeys('vendas').config, 'threads')).toBe('20');
      // 100 queued calls at 20 threads per worker: 5 workers, within the sample's maxReplicas 6.
      await client.lpush(celulaKeys('vendas').dial, ...Array.from({ length: 100 }, (_, i) => JSON.stringify({ v: 1, id: `s-${i}`, number: `119${String(i).padStart(8, '0')}` })));
      const scaled = await eventually('five ready workers', async () => {
        const c = JSON.parse(await kubectl(['get', 'celula', 'vendas', '-n', NS, '-o', 'json'])) as CelulaObj;
        return c.status?.readyReplicas === 5 ? c : undefined;
      }, 30_000);
      expect(scaled.status?.desiredReplicas).toBe(5);
    } finally {
      client.disconnect();
    }
  });
});
