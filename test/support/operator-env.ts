/**
 * What the operator's integration tests share: a real control plane with the CRDs and the
 * chart's RBAC installed, kubectl that throws, a kubeconfig for the chart's ServiceAccount
 * (the operator never runs as admin in tests), and polling until a condition holds.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { Cluster } from './cluster.js';
import { silentLogger } from '../../src/lib/log.js';
import { startOperator, type OperatorOptions, type RunningOperator } from '../../src/operator/main.js';
import { KubeClient } from '../../src/operator/runtime/kube.js';

export const NS = 'demo';
export const SYSTEM_NS = 'multcall-system';
export const RELEASE = 'multcall-operator';

export function kubectlFor(cluster: () => Cluster) {
  return async (args: string[], input?: string): Promise<string> => {
    const r = await cluster().kubectl(args, input);
    if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed: ${r.stderr}`);
    return r.stdout;
  };
}

export async function eventually<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 20_000, everyMs = 100): Promise<T> {
  const started = performance.now();
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v;
    } catch (error) {
      last = error;
    }
    if (performance.now() - started > timeoutMs) throw new Error(`${what}: not within ${timeoutMs} ms${last ? ` (last error: ${String(last)})` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** CRDs, the namespaces, and the chart's ServiceAccounts and RBAC (rendered with `helmSet`). */
export async function installOperatorSurface(cluster: Cluster, helmSet: string[]): Promise<void> {
  const kubectl = kubectlFor(() => cluster);
  await kubectl(['apply', '--server-side', '-f', 'crds/multcall.zanc.com.br_celulas.yaml', '-f', 'crds/multcall.zanc.com.br_centrals.yaml']);
  await kubectl(['create', 'namespace', SYSTEM_NS]);
  await kubectl(['create', 'namespace', NS]);
  const only = ['templates/serviceaccount.yaml', 'templates/rbac.yaml', 'templates/worker-serviceaccount.yaml'].flatMap((t) => ['--show-only', t]);
  const rbac = await cluster.helm(['template', RELEASE, 'charts/multcall-operator', '--namespace', SYSTEM_NS, ...only, ...helmSet.flatMap((s) => ['--set', s])]);
  if (rbac.code !== 0) throw new Error(`helm template failed: ${rbac.stderr}`);
  await kubectl(['apply', '-f', '-'], rbac.stdout);
  await kubectl(['wait', '--for=condition=Established', 'crd/celulas.multcall.zanc.com.br', 'crd/centrals.multcall.zanc.com.br']);
}

/** A kubeconfig that authenticates as the chart's ServiceAccount, not as admin. */
export async function serviceAccountKubeconfig(cluster: Cluster, file = 'operator-sa.kubeconfig'): Promise<string> {
  const kubectl = kubectlFor(() => cluster);
  const token = (await kubectl(['create', 'token', RELEASE, '-n', SYSTEM_NS, '--duration', '2h'])).trim();
  const admin = parseYaml(await kubectl(['config', 'view', '--raw', '--minify'])) as { clusters: Array<{ cluster: Record<string, string> }> };
  const adminCluster = admin.clusters[0]?.cluster ?? {};
  const target = path.join(cluster.dir, file);
  const config = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      {
        name: 'test',
        cluster: {
          server: cluster.server,
          ...(adminCluster['certificate-authority-data'] ? { 'certificate-authority-data': adminCluster['certificate-authority-data'] } : {}),
          ...(adminCluster['certificate-authority'] ? { 'certificate-authority': adminCluster['certificate-authority'] } : {}),
        },
      },
    ],
    users: [{ name: 'operator', user: { token } }],
    contexts: [{ name: 'operator', context: { cluster: 'test', user: 'operator' } }],
    'current-context': 'operator',
  };
  await writeFile(target, JSON.stringify(config));
  return target;
}

/**
 * The operator in this process, set up as the chart deploys it: the chart's ServiceAccount,
 * leader election in the system namespace, worker pods under the workers' ServiceAccount.
 */
export async function startOperatorAsChart(cluster: Cluster, overrides: Partial<OperatorOptions> = {}): Promise<RunningOperator> {
  return startOperator({
    kube: KubeClient.fromFile(await serviceAccountKubeconfig(cluster)),
    logger: silentLogger,
    leaderElection: true,
    leaseNamespace: SYSTEM_NS,
    metricsPort: 0,
    healthPort: -1,
    workerImage: 'ghcr.io/zanc/multcall-operator:test',
    workerServiceAccount: `${RELEASE}-worker`,
    ...overrides,
  });
}
