/**
 * The CRDs against a real kube-apiserver: bad Celulas and Centrals are refused with a
 * message naming the field, good ones come back with the same defaults zod applies, and
 * `kubectl explain`, printer columns and the scale subresource work.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml, stringify } from 'yaml';
import { parseCelula, parseCentral } from '../../src/api/index.js';
import { startCluster, type Cluster } from '../support/cluster.js';

type Obj = Record<string, unknown>;

const repo = (path: string): string => fileURLToPath(new URL(`../../${path}`, import.meta.url));

const NS = 'crd-validation';

function celula(name: string, spec: Obj): Obj {
  return { apiVersion: 'multcall.zanc.com.br/v1alpha1', kind: 'Celula', metadata: { name, namespace: NS }, spec };
}

function central(name: string, spec: Obj): Obj {
  return { apiVersion: 'multcall.zanc.com.br/v1alpha1', kind: 'Central', metadata: { name, namespace: NS }, spec };
}

/** The smallest Celula the API accepts; everything else is defaulted. */
const minimalSpec = (): Obj => ({
  queue: 'vendas',
  redis: { host: 'redis' },
  centrals: { names: ['pbx-1'] },
  originate: { channel: 'PJSIP/{number}@carrier', context: 'multcall-answered' },
});

const withSpec = (patch: (spec: Obj) => void): Obj => {
  const spec = minimalSpec();
  patch(spec);
  return spec;
};

const minimalCentral = (): Obj => ({ ami: { host: 'pbx-sim', credentialsSecretRef: { name: 'pbx-sim-ami' } } });

/** Each bad object, and text the API server's refusal must contain (the field it names). */
const badCelulas: { what: string; spec: Obj; field: string }[] = [
  { what: 'negative threads', spec: withSpec((s) => (s.threads = -1)), field: 'spec.threads' },
  { what: 'retries 11', spec: withSpec((s) => (s.retries = 11)), field: 'spec.retries' },
  { what: 'missing queue', spec: withSpec((s) => delete s.queue), field: 'spec.queue' },
  { what: 'queue with a slash', spec: withSpec((s) => (s.queue = 'vendas/sp')), field: 'spec.queue' },
  { what: 'minReplicas > maxReplicas', spec: withSpec((s) => (s.scaling = { minReplicas: 5, maxReplicas: 2 })), field: 'spec.scaling.minReplicas' },
  { what: 'unknown mode', spec: withSpec((s) => (s.scaling = { mode: 'auto' })), field: 'spec.scaling.mode' },
  { what: 'fixed mode without replicas', spec: withSpec((s) => (s.scaling = { mode: 'fixed' })), field: 'spec.replicas' },
  { what: 'bad duration', spec: withSpec((s) => (s.timeouts = { commandResponse: '5 seconds' })), field: 'spec.timeouts.commandResponse' },
  { what: 'zero duration', spec: withSpec((s) => (s.scaling = { scaleDownStabilization: '0s' })), field: 'spec.scaling.scaleDownStabilization' },
  { what: 'ACK timeout above 10m', spec: withSpec((s) => (s.timeouts = { commandAck: '20m' })), field: 'spec.timeouts.commandAck' },
  { what: 'channel without {number}', spec: withSpec((s) => (s.originate = { channel: 'PJSIP/1130000000@carrier', context: 'x' })), field: 'spec.originate.channel' },
  { what: 'a pod annotation key with a space', spec: withSpec((s) => (s.worker = { podAnnotations: { 'sidecar inject': 'false' } })), field: 'spec.worker.podAnnotations' },
  { what: 'a Local channel the central would optimise away', spec: withSpec((s) => (s.originate = { channel: 'local/{number}@outbound', context: 'x' })), field: 'spec.originate.channel' },
  { what: 'CR/LF in callerId', spec: withSpec((s) => (s.originate = { channel: 'PJSIP/{number}@c', context: 'x', callerId: 'a\r\nAction: Hangup' })), field: 'spec.originate.callerId' },
  { what: 'bad variable name', spec: withSpec((s) => (s.originate = { channel: 'PJSIP/{number}@c', context: 'x', variables: { '1BAD': 'x' } })), field: 'spec.originate.variables' },
  { what: 'reserved variable name', spec: withSpec((s) => (s.originate = { channel: 'PJSIP/{number}@c', context: 'x', variables: { _mc_req: 'x' } })), field: 'spec.originate.variables' },
  { what: 'both selector and names', spec: withSpec((s) => (s.centrals = { names: ['pbx-1'], selector: { matchLabels: { site: 'sp' } } })), field: 'spec.centrals' },
  { what: 'neither selector nor names', spec: withSpec((s) => (s.centrals = {})), field: 'spec.centrals' },
  { what: 'bad resource quantity', spec: withSpec((s) => (s.worker = { resources: { requests: { cpu: 'lots' } } })), field: 'spec.worker.resources.requests.cpu' },
  { what: 'redis db 16', spec: withSpec((s) => (s.redis = { host: 'redis', db: 16 })), field: 'spec.redis.db' },
  // Accepted by a `> 0s` rule, but 0 ms once rounded: a Celula the operator could not read.
  { what: 'sub-millisecond duration', spec: withSpec((s) => (s.scaling = { scaleDownStabilization: '0.4ms' })), field: 'spec.scaling.scaleDownStabilization' },
  // What the API server would refuse in the worker Deployment's pod template.
  { what: 'negative resource quantity', spec: withSpec((s) => (s.worker = { resources: { limits: { memory: '-1' } } })), field: 'spec.worker.resources.limits.memory' },
  { what: 'node selector key not a label key', spec: withSpec((s) => (s.worker = { nodeSelector: { 'zone/a/b': 'x' } })), field: 'spec.worker.nodeSelector' },
  { what: 'tolerationSeconds without NoExecute', spec: withSpec((s) => (s.worker = { tolerations: [{ key: 'k', operator: 'Exists', effect: 'NoSchedule', tolerationSeconds: 30 }] })), field: 'spec.worker.tolerations[0].tolerationSeconds' },
  { what: 'toleration value with Exists', spec: withSpec((s) => (s.worker = { tolerations: [{ key: 'k', operator: 'Exists', value: 'v' }] })), field: 'spec.worker.tolerations[0].value' },
];

const badCentrals: { what: string; spec: Obj; field: string }[] = [
  { what: 'weight 0', spec: { ...minimalCentral(), weight: 0 }, field: 'spec.weight' },
  { what: 'probe timeout not below interval', spec: { ...minimalCentral(), probe: { interval: '5s', timeout: '5s' } }, field: 'spec.probe.timeout' },
  { what: 'missing credentials', spec: { ami: { host: 'pbx-sim' } }, field: 'spec.ami.credentialsSecretRef' },
];

let cluster: Cluster;

async function kubectl(args: string[], input?: string): Promise<string> {
  const r = await cluster.kubectl(args, input);
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

/** Server-side dry run: the object goes through defaulting, schema and CEL validation, and is not stored. */
async function tryCreate(obj: Obj): Promise<{ code: number; stderr: string }> {
  return cluster.kubectl(['create', '--dry-run=server', '-o', 'name', '-f', '-'], JSON.stringify(obj));
}

beforeAll(async () => {
  cluster = await startCluster();
  const crds = [repo('crds/multcall.zanc.com.br_celulas.yaml'), repo('crds/multcall.zanc.com.br_centrals.yaml')];
  await kubectl(['apply', '--server-side', ...crds.flatMap((f) => ['-f', f])]);
  await kubectl(['wait', '--for=condition=Established', '--timeout=30s', 'crd/celulas.multcall.zanc.com.br', 'crd/centrals.multcall.zanc.com.br']);
  await kubectl(['create', 'namespace', NS]);
}, 120_000);

afterAll(async () => {
  await cluster?.stop();
});

describe('Celula validation by the API server', () => {
  it.each(badCelulas)('refuses $what, naming $field', async ({ spec, field }) => {
    const r = await tryCreate(celula('bad', spec));
    expect(r.code, 'the API server accepted it').not.toBe(0);
    expect(r.stderr).toContain(field);
    // The operator's parser refuses it too, so an object stored under an older CRD is caught.
    expect(() => parseCelula(celula('bad', spec))).toThrow();
  });

  it('refuses a Celula or Central whose name cannot be a label value, naming metadata.name', async () => {
    const long = 'c'.repeat(64);
    for (const obj of [celula(long, minimalSpec()), central(long, minimalCentral())]) {
      const r = await tryCreate(obj);
      expect(r.code, 'the API server accepted it').not.toBe(0);
      expect(r.stderr).toContain('metadata.name must be at most 63 characters');
    }
    expect(() => parseCelula(celula(long, minimalSpec()))).toThrow(/metadata\.name must be at most 63/);
    expect((await tryCreate(celula('c'.repeat(63), minimalSpec()))).code).toBe(0);
  });

  it('refuses a change of queue on update', async () => {
    await kubectl(['apply', '-f', '-'], JSON.stringify(celula('rename-me', minimalSpec())));
    const renamed = celula('rename-me', { ...minimalSpec(), queue: 'cobranca' });
    const r = await cluster.kubectl(['apply', '-f', '-'], JSON.stringify(renamed));
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('spec.queue');
    expect(r.stderr).toContain('immutable');
  });

  it('accepts a minimal Celula and fills in the same defaults as parseCelula', async () => {
    const input = celula('minimal', minimalSpec());
    await kubectl(['apply', '-f', '-'], JSON.stringify(input));
    const stored = JSON.parse(await kubectl(['get', '-n', NS, 'celula', 'minimal', '-o', 'json'])) as Obj;
    const spec = stored.spec as Obj;
    expect(spec).toMatchObject({
      threads: 10,
      retries: 2,
      timeouts: { commandResponse: '5s', commandAck: '10s' },
      redis: { host: 'redis', port: 6379, db: 0, prefix: 'multcall' },
      originate: { exten: 's', priority: 1, ringTimeout: '30s' },
      scaling: { mode: 'queue', minReplicas: 1, maxReplicas: 10, scaleDownStabilization: '60s', scaleToZero: false },
      worker: { logLevel: 'info', drainTimeout: '600s', ackTimeoutPolicy: 'report' },
    });
    // zod and the CRD default identically: what the operator sees does not depend on who filled it in.
    expect(parseCelula(stored).spec).toEqual(spec);
    expect(parseCelula(input).spec).toEqual(spec);
  });

  it('accepts the sample célula', async () => {
    const sample = parseYaml(readFileSync(repo('deploy/samples/celula.yaml'), 'utf8')) as Obj;
    const r = await tryCreate({ ...sample, metadata: { ...(sample.metadata as Obj), namespace: NS } });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  });

  it('accepts a Local channel that keeps its pair (/n, with other options too)', async () => {
    const spec = { ...minimalSpec(), queue: 'local-n', originate: { channel: 'Local/{number}@outbound/nj', context: 'agents' } };
    const r = await tryCreate(celula('local-n', spec));
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  });
});

describe('Central validation by the API server', () => {
  it.each(badCentrals)('refuses $what, naming $field', async ({ spec, field }) => {
    const r = await tryCreate(central('bad', spec));
    expect(r.code, 'the API server accepted it').not.toBe(0);
    expect(r.stderr).toContain(field);
    expect(() => parseCentral(central('bad', spec))).toThrow();
  });

  it('accepts a minimal Central and fills in the same defaults as parseCentral', async () => {
    const input = central('pbx-1', minimalCentral());
    await kubectl(['apply', '-f', '-'], JSON.stringify(input));
    const stored = JSON.parse(await kubectl(['get', '-n', NS, 'central', 'pbx-1', '-o', 'json'])) as Obj;
    expect(stored.spec).toMatchObject({
      ami: { port: 5038, credentialsSecretRef: { usernameKey: 'username', secretKey: 'secret' } },
      capacity: { maxChannels: 100, maxOriginatesPerSecond: 20 },
      weight: 100,
      probe: { interval: '10s', timeout: '3s' },
    });
    expect(parseCentral(input).spec).toEqual(stored.spec);
  });
});

describe('kubectl surface', () => {
  it('explains the fields', async () => {
    const out = await kubectl(['explain', 'celula.spec.scaling']);
    expect(out).toContain('How many workers run');
    expect(out).toMatch(/minReplicas\s+<integer>\s+Fewest worker replicas/);
    const central = await kubectl(['explain', 'central.spec.capacity.maxChannels']);
    expect(central).toContain('Most calls the central carries at once');
  });

  it('scales a Celula through the scale subresource', async () => {
    await kubectl(['apply', '-f', '-'], stringify(celula('scaled', { ...minimalSpec(), queue: 'scaled', scaling: { mode: 'external' } })));
    await kubectl(['scale', '-n', NS, 'celula/scaled', '--replicas=3']);
    const replicas = await kubectl(['get', '-n', NS, 'celula', 'scaled', '-o', 'jsonpath={.spec.replicas}']);
    expect(replicas).toBe('3');
  });

  it('shows status through the printer columns, written via the status subresource only', async () => {
    const status = {
      status: {
        observedGeneration: 1,
        replicas: 2,
        readyReplicas: 1,
        desiredReplicas: 2,
        queued: 40,
        inFlight: 7,
        selector: 'multcall.zanc.com.br/celula=minimal',
        conditions: [{ type: 'Ready', status: 'True', reason: 'WorkersReady', message: 'workers are ready', lastTransitionTime: '2025-01-01T00:00:00Z' }],
        centrals: [{ name: 'pbx-1', replicas: 2, readyReplicas: 1, healthy: true }],
      },
    };
    await kubectl(['patch', '-n', NS, 'celula', 'minimal', '--subresource=status', '--type=merge', '-p', JSON.stringify(status)]);
    const table = await kubectl(['get', '-n', NS, 'celula', 'minimal']);
    const [header, row] = table.trim().split('\n');
    expect(header?.split(/\s{2,}/)).toEqual(['NAME', 'QUEUE', 'MODE', 'THREADS', 'REPLICAS', 'READY', 'QUEUED', 'IN FLIGHT', 'STATUS', 'AGE']);
    expect(row?.split(/\s+/).slice(0, 9)).toEqual(['minimal', 'vendas', 'queue', '10', '2', '1', '40', '7', 'True']);
    const stored = JSON.parse(await kubectl(['get', '-n', NS, 'celula', 'minimal', '-o', 'json'])) as Obj;
    expect(parseCelula(stored).status?.centrals?.[0]?.healthy).toBe(true);

    const centrals = await kubectl(['get', '-n', NS, 'central']);
    expect(centrals.split('\n')[0]?.split(/\s{2,}/)).toEqual(['NAME', 'HOST', 'WEIGHT', 'MAX CHANNELS', 'READY', 'AMI', 'ASTERISK', 'AGE']);
  });
});
