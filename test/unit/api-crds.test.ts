import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { generateCrds } from '../../scripts/generate-crds.js';
import { celulaCrd, centralCrd, durationMs, InvalidResourceError, parseCelula, parseCentral } from '../../src/api/index.js';
import { toStructural, type JSONSchemaProps } from '../../src/api/structural.js';

type Obj = Record<string, unknown>;

const repo = (path: string): string => fileURLToPath(new URL(`../../${path}`, import.meta.url));

const minimalCelula = (spec: Obj = {}): Obj => ({
  apiVersion: 'multcall.zanc.com.br/v1alpha1',
  kind: 'Celula',
  metadata: { name: 'vendas', namespace: 'callcenter' },
  spec: {
    queue: 'vendas',
    redis: { host: 'redis' },
    centrals: { names: ['pbx-1'] },
    originate: { channel: 'PJSIP/{number}@carrier', context: 'multcall-answered' },
    ...spec,
  },
});

const minimalCentral = (spec: Obj = {}): Obj => ({
  apiVersion: 'multcall.zanc.com.br/v1alpha1',
  kind: 'Central',
  metadata: { name: 'pbx-1' },
  spec: { ami: { host: 'pbx-1.pbx', credentialsSecretRef: { name: 'pbx-1-ami' } }, ...spec },
});

/** Every node of a schema, with its path. */
function* nodes(node: JSONSchemaProps, path = ''): Generator<[string, JSONSchemaProps]> {
  yield [path, node];
  for (const [name, child] of Object.entries(node.properties ?? {})) yield* nodes(child, `${path}.${name}`);
  if (node.items) yield* nodes(node.items, `${path}[]`);
  if (node.additionalProperties) yield* nodes(node.additionalProperties, `${path}{}`);
}

function at(root: JSONSchemaProps, path: string): JSONSchemaProps {
  const found = [...nodes(root)].find(([p]) => p === path);
  if (!found) throw new Error(`no schema node at ${path}`);
  return found[1];
}

const celulaSchema = (): JSONSchemaProps => {
  const version = celulaCrd().spec.versions[0];
  if (!version) throw new Error('no version');
  return version.schema.openAPIV3Schema;
};

describe('generated CRDs', () => {
  it('match the committed YAML in crds/ and in the chart', () => {
    const files = generateCrds();
    expect(Object.keys(files).sort()).toEqual([
      'charts/multcall-operator/crds/multcall.zanc.com.br_celulas.yaml',
      'charts/multcall-operator/crds/multcall.zanc.com.br_centrals.yaml',
      'crds/multcall.zanc.com.br_celulas.yaml',
      'crds/multcall.zanc.com.br_centrals.yaml',
    ]);
    for (const [path, text] of Object.entries(files)) {
      expect(readFileSync(repo(path), 'utf8'), `${path} is stale: run npm run gen`).toBe(text);
    }
  });

  it('are structural: typed everywhere, no $ref, int-or-string only for quantities', () => {
    for (const crd of [celulaCrd(), centralCrd()]) {
      const root = crd.spec.versions[0]?.schema.openAPIV3Schema;
      if (!root) throw new Error('no schema');
      expect(JSON.stringify(root)).not.toContain('$ref');
      for (const [path, node] of nodes(root)) {
        if (node['x-kubernetes-int-or-string']) {
          expect(path).toMatch(/\.resources\.(requests|limits)\{\}$/);
          expect(node.anyOf).toEqual([{ type: 'integer' }, { type: 'string' }]);
        } else {
          expect(node.type, `${path} has no type`).toBeTypeOf('string');
        }
        expect(node['x-kubernetes-preserve-unknown-fields'], path).toBeUndefined();
      }
    }
  });

  it('describe every field for kubectl explain', () => {
    for (const crd of [celulaCrd(), centralCrd()]) {
      const root = crd.spec.versions[0]?.schema.openAPIV3Schema;
      if (!root) throw new Error('no schema');
      for (const [path, node] of nodes(root.properties?.spec ?? {}, '.spec')) {
        if (!path.endsWith('[]') && !path.endsWith('{}')) expect(node.description, path).toBeTruthy();
      }
    }
  });

  it('carry the CEL rules', () => {
    const schema = celulaSchema();
    const rules = (path: string) => (at(schema, path)['x-kubernetes-validations'] ?? []).map((v) => v.rule);
    expect(rules('.spec')).toContain("self.scaling.mode != 'fixed' || has(self.replicas)");
    expect(rules('.spec.queue')).toEqual(['self == oldSelf']);
    expect(rules('.spec.scaling')).toContain('self.minReplicas <= self.maxReplicas');
    expect(rules('.spec.centrals')).toContain('has(self.selector) != has(self.names)');
    expect(rules('.spec.originate.channel')).toContain("self.contains('{number}')");
    for (const d of ['.spec.timeouts.commandResponse', '.spec.timeouts.commandAck', '.spec.originate.ringTimeout', '.spec.scaling.scaleDownStabilization', '.spec.worker.drainTimeout']) {
      expect(rules(d).join(), d).toMatch(/duration\(self\) >=? duration\('/);
    }
    for (const [path, node] of nodes(schema)) {
      for (const v of node['x-kubernetes-validations'] ?? []) expect(v.message, `${path}: ${v.rule}`).toBeTruthy();
    }
  });

  it('default nested objects in full, so CEL rules see every field', () => {
    expect(at(celulaSchema(), '.spec.scaling').default).toEqual({ mode: 'queue', minReplicas: 1, maxReplicas: 10, scaleDownStabilization: '60s', scaleToZero: false });
  });

  it('give Celula a scale subresource and the printer columns', () => {
    const version = celulaCrd().spec.versions[0];
    expect(version?.subresources).toEqual({
      status: {},
      scale: { specReplicasPath: '.spec.replicas', statusReplicasPath: '.status.replicas', labelSelectorPath: '.status.selector' },
    });
    expect(version?.additionalPrinterColumns.filter((c) => !c.priority).map((c) => c.name)).toEqual([
      'Queue', 'Mode', 'Threads', 'Replicas', 'Ready', 'Queued', 'In Flight', 'Status', 'Age',
    ]);
    expect(celulaCrd().spec.names).toMatchObject({ plural: 'celulas', shortNames: ['cel'] });
    expect(centralCrd().spec.names).toMatchObject({ plural: 'centrals', shortNames: ['ctl'] });
    expect(centralCrd().spec.versions[0]?.additionalPrinterColumns.filter((c) => !c.priority).map((c) => c.name)).toEqual([
      'Host', 'Weight', 'Max Channels', 'Ready', 'AMI', 'Asterisk', 'Age',
    ]);
  });

  it('refuse to generate what the API server would refuse', () => {
    expect(() => toStructural(z.object({ a: z.string() }))).toThrow(/needs a description/);
    expect(() => toStructural(z.object({ a: z.union([z.string(), z.number()]).describe('x') }))).toThrow(/single type/);
  });

  it('write the chart copy identical to crds/', () => {
    const a = parseYaml(readFileSync(repo('crds/multcall.zanc.com.br_celulas.yaml'), 'utf8')) as Obj;
    const b = parseYaml(readFileSync(repo('charts/multcall-operator/crds/multcall.zanc.com.br_celulas.yaml'), 'utf8')) as Obj;
    expect(a).toEqual(b);
  });
});

describe('parseCelula', () => {
  it('applies the defaults', () => {
    const { spec } = parseCelula(minimalCelula());
    expect(spec).toEqual({
      queue: 'vendas',
      threads: 10,
      retries: 2,
      timeouts: { commandResponse: '5s', commandAck: '10s' },
      redis: { host: 'redis', port: 6379, db: 0, prefix: 'multcall' },
      centrals: { names: ['pbx-1'] },
      originate: { channel: 'PJSIP/{number}@carrier', context: 'multcall-answered', exten: 's', priority: 1, ringTimeout: '30s' },
      scaling: { mode: 'queue', minReplicas: 1, maxReplicas: 10, scaleDownStabilization: '60s', scaleToZero: false },
      worker: { resources: { requests: { cpu: '250m', memory: '192Mi' }, limits: { memory: '384Mi' } }, logLevel: 'info', drainTimeout: '600s', ackTimeoutPolicy: 'report' },
    });
  });

  it('keeps metadata it does not model', () => {
    const obj = minimalCelula();
    (obj.metadata as Obj).ownerReferences = [{ kind: 'X' }];
    expect(parseCelula(obj).metadata.ownerReferences).toEqual([{ kind: 'X' }]);
  });

  const bad: [string, Obj, string][] = [
    ['negative threads', { threads: -1 }, 'spec.threads'],
    ['retries 11', { retries: 11 }, 'spec.retries'],
    ['minReplicas > maxReplicas', { scaling: { minReplicas: 4, maxReplicas: 3 } }, 'spec.scaling.minReplicas: minReplicas must not exceed maxReplicas'],
    ['fixed without replicas', { scaling: { mode: 'fixed' } }, 'spec.replicas: replicas is required'],
    ['bad duration', { timeouts: { commandResponse: '5' } }, 'spec.timeouts.commandResponse'],
    ['zero duration', { timeouts: { commandAck: '0ms' } }, 'spec.timeouts.commandAck'],
    ['unknown mode', { scaling: { mode: 'auto' } }, 'spec.scaling.mode'],
    ['channel without {number}', { originate: { channel: 'PJSIP/100@carrier', context: 'x' } }, 'spec.originate.channel'],
    ['both selector and names', { centrals: { names: ['a'], selector: {} } }, 'spec.centrals'],
    ['queue with a space', { queue: 'ven das' }, 'spec.queue'],
    ['a pod annotation key with a space', { worker: { podAnnotations: { 'sidecar inject': 'false' } } }, 'spec.worker.podAnnotations: keys must be annotation keys'],
    ['a priorityClassName with capitals', { worker: { priorityClassName: 'High' } }, 'spec.worker.priorityClassName'],
    ['a Local channel without /n', { originate: { channel: 'Local/{number}@outbound/j', context: 'x' } }, 'spec.originate.channel: a Local channel must end in /n'],
    ['LF in a variable', { originate: { channel: 'PJSIP/{number}@c', context: 'x', variables: { A: 'x\nAction: Hangup' } } }, 'spec.originate.variables.A'],
    ['a reserved variable', { originate: { channel: 'PJSIP/{number}@c', context: 'x', variables: { __Mc_Req: 'x' } } }, 'spec.originate.variables: variable names starting with MC_'],
    // 512 characters, each escaped to two bytes: past AMI's 1024-byte line, which a worker would refuse to start with.
    ['a variable too long for one AMI line', { originate: { channel: 'PJSIP/{number}@c', context: 'x', variables: { LISTA: ','.repeat(512) } } }, 'spec.originate.variables.LISTA: too long for one AMI line'],
  ];
  it.each(bad)('rejects %s, naming the field', (_what, spec, message) => {
    let error: unknown;
    try {
      parseCelula(minimalCelula(spec));
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(InvalidResourceError);
    const invalid = error as InvalidResourceError;
    expect(invalid.code).toBe('MC_ERR_INVALID_RESOURCE');
    expect(invalid.object).toBe('callcenter/vendas');
    expect(invalid.problems.join('\n')).toContain(message);
  });

  it('rejects objects of another kind or version', () => {
    expect(() => parseCelula({ ...minimalCelula(), kind: 'Central' })).toThrow(/kind/);
    expect(() => parseCelula({ ...minimalCelula(), apiVersion: 'multcall.zanc.com.br/v1' })).toThrow(/apiVersion/);
    expect(() => parseCelula(null)).toThrow(InvalidResourceError);
  });
});

describe('parseCentral', () => {
  it('applies the defaults', () => {
    expect(parseCentral(minimalCentral()).spec).toEqual({
      ami: { host: 'pbx-1.pbx', port: 5038, credentialsSecretRef: { name: 'pbx-1-ami', usernameKey: 'username', secretKey: 'secret' } },
      capacity: { maxChannels: 100, maxOriginatesPerSecond: 20 },
      weight: 100,
      probe: { interval: '10s', timeout: '3s' },
    });
  });

  it('rejects a probe timeout not below the interval, and a weight out of range', () => {
    expect(() => parseCentral(minimalCentral({ probe: { interval: '2s', timeout: '2s' } }))).toThrow(/spec\.probe\.timeout/);
    expect(() => parseCentral(minimalCentral({ weight: 1001 }))).toThrow(/spec\.weight/);
  });
});

describe('durationMs', () => {
  it.each([
    ['500ms', 500],
    ['5s', 5000],
    ['2m', 120_000],
    ['1h30m', 5_400_000],
    ['1.5s', 1500],
  ])('%s is %d ms', (text, ms) => expect(durationMs(text)).toBe(ms));

  it.each(['', '5', '5 s', '-1s', 's', '1d'])('refuses %j', (text) => expect(() => durationMs(text)).toThrow(/not a duration/));
});
