/**
 * Installing the operator the two supported ways on a real control plane: the Helm chart
 * (cluster-wide and per-namespace RBAC) and the kustomize base, which must stay the same
 * objects as the chart's defaults. Pods are played by kwok, so no container runs: this is
 * about what the API server admits and what the ServiceAccounts may do.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { startCluster, type Cluster } from '../support/cluster.js';

type Obj = Record<string, unknown>;

const repo = (path: string): string => fileURLToPath(new URL(`../../${path}`, import.meta.url));
const CHART = repo('charts/multcall-operator');

let cluster: Cluster;

async function ok(what: Promise<{ code: number; stdout: string; stderr: string }>): Promise<string> {
  const r = await what;
  if (r.code !== 0) throw new Error(`exit ${r.code}: ${r.stderr}\n${r.stdout}`);
  return r.stdout;
}

const kubectl = (args: string[], input?: string) => ok(cluster.kubectl(args, input));
const helm = (args: string[]) => ok(cluster.helm(args));

async function can(user: string, args: string[]): Promise<boolean> {
  const r = await cluster.kubectl(['auth', 'can-i', ...args, `--as=${user}`]);
  return r.stdout.trim() === 'yes';
}

/** Labels only Helm writes; the kustomize base leaves them out. */
const HELM_ONLY_LABELS = ['helm.sh/chart', 'app.kubernetes.io/managed-by'];

function withoutHelmLabels(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutHelmLabels);
  if (typeof value !== 'object' || value === null) return value;
  return Object.fromEntries(
    Object.entries(value)
      .filter(([k]) => !HELM_ONLY_LABELS.includes(k))
      .map(([k, v]) => [k, withoutHelmLabels(v)]),
  );
}

function byKindAndName(docs: Obj[]): Record<string, Obj> {
  return Object.fromEntries(docs.map((d) => [`${String(d.kind)}/${(d.metadata as { name: string }).name}`, d]));
}

const parseDocs = (text: string): Obj[] =>
  parseAllDocuments(text)
    .map((d) => d.toJS() as Obj | null)
    .filter((d): d is Obj => d !== null);

beforeAll(async () => {
  cluster = await startCluster();
}, 120_000);

afterAll(async () => {
  await cluster?.stop();
});

describe('Helm chart', () => {
  it('lints clean, with default and with per-namespace values', async () => {
    await helm(['lint', '--strict', CHART]);
    await helm(['lint', '--strict', CHART, '--set', 'watchNamespaces={team-a,team-b}', '--set', 'serviceMonitor.enabled=true']);
    await helm(['lint', '--strict', CHART, '--set', 'clusterWide=true']);
  });

  it('manages the release namespace by default, every namespace only when asked, never both ways', async () => {
    const scope = async (set: string[]) => {
      const docs = parseDocs(await helm(['template', 'x', CHART, '-n', 'mc', ...set]));
      const env = ((docs.find((d) => d.kind === 'Deployment')?.spec as Obj).template as { spec: { containers: Array<{ env: Array<{ name: string; value?: string; valueFrom?: { fieldRef: { fieldPath: string } } }> }> } }).spec.containers[0]?.env;
      const roles = docs.filter((d) => d.kind === 'Role' || d.kind === 'ClusterRole').map((d) => `${String(d.kind)}/${String((d.metadata as Obj).namespace ?? '')}/${String((d.metadata as Obj).name)}`);
      const watch = env?.find((e) => e.name === 'WATCH_NAMESPACES');
      return { watch: watch?.valueFrom ? `(${watch.valueFrom.fieldRef.fieldPath})` : watch?.value, roles };
    };
    // Its own namespace read from the pod, so a kustomize overlay that moves it moves both.
    expect(await scope([])).toEqual({ watch: '(metadata.namespace)', roles: ['Role/mc/x-multcall-operator', 'Role/mc/x-multcall-operator-leader-election'] });
    expect(await scope(['--set', 'watchNamespaces={a,b}'])).toMatchObject({ watch: 'a,b', roles: ['Role/a/x-multcall-operator', 'Role/b/x-multcall-operator', 'Role/mc/x-multcall-operator-leader-election'] });
    expect(await scope(['--set', 'clusterWide=true'])).toMatchObject({ watch: '', roles: ['ClusterRole//x-multcall-operator', 'Role/mc/x-multcall-operator-leader-election'] });
    const both = await cluster.helm(['template', 'x', CHART, '--set', 'clusterWide=true', '--set', 'watchNamespaces={a}']);
    expect(both.code).not.toBe(0);
    expect(both.stderr).toContain('leave watchNamespaces empty');
  });

  it('rejects values the schema does not know', async () => {
    const r = await cluster.helm(['template', 'x', CHART, '--set', 'replicas=3']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('replicas');
  });

  it('refuses more than one operator replica without leader election', async () => {
    const r = await cluster.helm(['template', 'x', CHART, '--set', 'leaderElection.enabled=false']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('replicaCount above 1 needs leaderElection.enabled');
    expect((await cluster.helm(['template', 'x', CHART, '--set', 'leaderElection.enabled=false', '--set', 'replicaCount=1'])).code).toBe(0);
  });

  it('renders no wildcard in any RBAC rule', async () => {
    for (const set of [[], ['--set', 'watchNamespaces={team-a}'], ['--set', 'clusterWide=true']]) {
      const docs = parseDocs(await helm(['template', 'x', CHART, ...set]));
      const rules = docs.filter((d) => d.kind === 'ClusterRole' || d.kind === 'Role').flatMap((d) => d.rules as Record<string, string[]>[]);
      expect(rules.length).toBeGreaterThan(0);
      for (const rule of rules) for (const list of Object.values(rule)) expect(list).not.toContain('*');
    }
  });

  it('gives the workers\' ServiceAccount the pull Secrets, in every namespace it is made in', async () => {
    const accounts = (set: string[]) =>
      helm(['template', 'x', CHART, '--set', 'workers.serviceAccount.extraNamespaces={team-a}', ...set]).then((out) => parseDocs(out).filter((d) => d.kind === 'ServiceAccount' && String((d.metadata as Obj).name).endsWith('-worker')));
    const shared = await accounts(['--set', 'imagePullSecrets[0].name=registry']);
    expect(shared.map((a) => [(a.metadata as Obj).namespace, a.imagePullSecrets])).toEqual([
      ['default', [{ name: 'registry' }]],
      ['team-a', [{ name: 'registry' }]],
    ]);
    const own = await accounts(['--set', 'imagePullSecrets[0].name=registry', '--set', 'workers.serviceAccount.imagePullSecrets[0].name=workers-registry']);
    expect(own.map((a) => a.imagePullSecrets)).toEqual([[{ name: 'workers-registry' }], [{ name: 'workers-registry' }]]);
    expect((await accounts([])).map((a) => a.imagePullSecrets)).toEqual([undefined, undefined]);
  });

  it('installs scoped to the watched namespaces, with least privilege', async () => {
    await kubectl(['create', 'namespace', 'team-a']);
    await kubectl(['create', 'namespace', 'team-b']);
    await helm(['install', 'mc', CHART, '-n', 'mc-helm', '--create-namespace', '--set', 'watchNamespaces={team-a}', '--wait', '--timeout', '90s']);
    const operator = 'system:serviceaccount:mc-helm:mc-multcall-operator';
    expect(await can(operator, ['list', 'celulas.multcall.zanc.com.br', '-n', 'team-a'])).toBe(true);
    expect(await can(operator, ['patch', 'celulas.multcall.zanc.com.br', '--subresource=status', '-n', 'team-a'])).toBe(true);
    expect(await can(operator, ['create', 'deployments.apps', '-n', 'team-a'])).toBe(true);
    expect(await can(operator, ['get', 'secrets', '-n', 'team-a'])).toBe(true);
    expect(await can(operator, ['create', 'leases.coordination.k8s.io', '-n', 'mc-helm'])).toBe(true);
    // Never: spec of its own resources, Secrets' contents, other namespaces, Leases elsewhere.
    expect(await can(operator, ['update', 'celulas.multcall.zanc.com.br', '-n', 'team-a'])).toBe(false);
    expect(await can(operator, ['create', 'secrets', '-n', 'team-a'])).toBe(false);
    expect(await can(operator, ['list', 'celulas.multcall.zanc.com.br', '-n', 'team-b'])).toBe(false);
    expect(await can(operator, ['create', 'leases.coordination.k8s.io', '-n', 'team-a'])).toBe(false);
    expect(await can(operator, ['list', 'celulas.multcall.zanc.com.br', '--all-namespaces'])).toBe(false);
    // Workers: an account in each watched namespace, no token, no rights.
    const worker = JSON.parse(await kubectl(['get', 'serviceaccount', 'mc-multcall-operator-worker', '-n', 'team-a', '-o', 'json'])) as Obj;
    expect(worker.automountServiceAccountToken).toBe(false);
    expect(await can('system:serviceaccount:team-a:mc-multcall-operator-worker', ['get', 'configmaps', '-n', 'team-a'])).toBe(false);
    // The chart's CRDs are installed and served.
    await kubectl(['get', 'celulas.multcall.zanc.com.br', '-n', 'team-a']);
    const ready = await kubectl(['get', 'deployment', 'mc-multcall-operator', '-n', 'mc-helm', '-o', 'jsonpath={.status.readyReplicas}']);
    expect(ready).toBe('2');
  });
});

describe('kustomize base', () => {
  it('holds the same objects as the chart with its default values', async () => {
    const rendered = parseDocs(await helm(['template', 'multcall-operator', CHART, '-n', 'multcall-system']));
    const baseFiles = readdirSync(repo('deploy/base')).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml' && f !== 'namespace.yaml');
    const base = baseFiles.flatMap((f) => parseDocs(readFileSync(repo(`deploy/base/${f}`), 'utf8')));
    expect(byKindAndName(base)).toEqual(byKindAndName(rendered.map((d) => withoutHelmLabels(d) as Obj)));
  });

  it('applies, and the operator manages its own namespace only, with no rights beyond its rules', async () => {
    await kubectl(['apply', '--server-side', '-k', repo('deploy/base')]);
    await kubectl(['rollout', 'status', 'deployment/multcall-operator', '-n', 'multcall-system', '--timeout=60s']);
    const operator = 'system:serviceaccount:multcall-system:multcall-operator';
    const own = ['-n', 'multcall-system'];
    expect(await can(operator, ['watch', 'centrals.multcall.zanc.com.br', ...own])).toBe(true);
    expect(await can(operator, ['delete', 'configmaps', ...own])).toBe(true);
    expect(await can(operator, ['create', 'poddisruptionbudgets.policy', ...own])).toBe(true);
    // Secrets are read one by one, by name: never listed or watched.
    expect(await can(operator, ['get', 'secrets', ...own])).toBe(true);
    expect(await can(operator, ['list', 'secrets', ...own])).toBe(false);
    expect(await can(operator, ['watch', 'secrets', ...own])).toBe(false);
    expect(await can(operator, ['update', 'deployments', ...own])).toBe(false);
    expect(await can(operator, ['list', 'pods', ...own])).toBe(false);
    expect(await can(operator, ['delete', 'celulas.multcall.zanc.com.br', ...own])).toBe(false);
    // Nothing of any other namespace, its Secrets least of all, nor anything cluster-wide.
    expect(await can(operator, ['get', 'secrets', '-n', 'team-b'])).toBe(false);
    expect(await can(operator, ['watch', 'centrals.multcall.zanc.com.br', '--all-namespaces'])).toBe(false);
    expect(await can(operator, ['get', 'nodes'])).toBe(false);
  });

  it('runs the samples: the API server admits every object under the restricted Pod Security profile', async () => {
    await kubectl(['create', 'namespace', 'demo']);
    await kubectl(['label', 'namespace', 'demo', 'pod-security.kubernetes.io/enforce=restricted']);
    const applied = await cluster.kubectl(['apply', '-n', 'demo', '-f', repo('deploy/samples')]);
    expect(applied.code, applied.stderr).toBe(0);
    // PodSecurity admits Deployments and warns; the Pods themselves would be refused later.
    expect(applied.stderr).not.toContain('violate');
    expect(applied.stdout).toContain('celula.multcall.zanc.com.br/vendas created');
    expect(applied.stdout).toContain('central.multcall.zanc.com.br/pbx-sim created');
    await kubectl(['rollout', 'status', 'deployment/pbx-sim', '-n', 'demo', '--timeout=60s']);
    await kubectl(['rollout', 'status', 'deployment/redis', '-n', 'demo', '--timeout=60s']);
  });
});
