/** The Celula reconciler's pure parts: replica apportioning, rendering, status. */
import { describe, expect, it } from 'vitest';
import { parseCelula, parseCentral } from '../../src/api/index.js';
import { apportion, capacityOf } from '../../src/operator/celula/apportion.js';
import { configMapName, renderConfigMap, renderDeployment, workerName, workerSettings } from '../../src/operator/celula/render.js';
import { desiredTotal } from '../../src/operator/celula/replicas.js';
import { rolloutOver } from '../../src/operator/celula/reconciler.js';
import { celulaConditions, celulaStatus } from '../../src/operator/celula/status.js';
import { centralConditions } from '../../src/operator/central/reconciler.js';

const c = (name: string, weight = 100, freeChannels = 1000, healthy = true) => ({ name, weight, freeChannels, healthy });

describe('apportion', () => {
  it('splits by weight, ties by name', () => {
    expect(apportion(3, [c('b'), c('a')], 10)).toEqual({ replicas: { a: 2, b: 1 }, unplaced: 0 });
    expect(apportion(10, [c('a', 300), c('b', 100)], 10).replicas).toEqual({ a: 8, b: 2 });
    expect(apportion(0, [c('a'), c('b')], 10).replicas).toEqual({ a: 0, b: 0 });
  });

  it('gives unhealthy centrals nothing', () => {
    expect(apportion(4, [c('a'), c('b', 100, 1000, false)], 10)).toEqual({ replicas: { a: 4 }, unplaced: 0 });
    expect(apportion(4, [c('a', 100, 1000, false)], 10)).toEqual({ replicas: {}, unplaced: 4 });
  });

  it('caps a central at its channels over threads and moves the rest to the others', () => {
    expect(capacityOf(50, 20)).toBe(2);
    expect(capacityOf(5, 20)).toBe(1);
    expect(apportion(10, [c('a', 100, 40), c('b', 100, 1000)], 20)).toEqual({ replicas: { a: 2, b: 8 }, unplaced: 0 });
    expect(apportion(10, [c('a', 100, 40), c('b', 100, 60)], 20)).toEqual({ replicas: { a: 2, b: 3 }, unplaced: 5 });
  });

  it('one replica more never takes one away from a central (a scale-up drains no worker)', () => {
    // Largest remainder gives 1/1/1 for 3 and 0/2/2 for 4: the scale-up would drain a's worker.
    expect(apportion(3, [c('a', 1), c('b', 3), c('c', 3)], 10).replicas).toEqual({ a: 1, b: 1, c: 1 });
    expect(apportion(4, [c('a', 1), c('b', 3), c('c', 3)], 10).replicas).toEqual({ a: 1, b: 2, c: 1 });
    const sets = [
      [c('a', 1), c('b', 3), c('c', 3)],
      [c('a', 7, 200), c('b', 3, 90), c('c', 1, 1000), c('d', 5, 10, false)],
      [c('a', 100, 30), c('b', 250), c('c', 13, 70), c('d', 100)],
    ];
    for (const centrals of sets) {
      let previous = apportion(0, centrals, 10).replicas;
      for (let total = 1; total <= 120; total++) {
        const next = apportion(total, centrals, 10).replicas;
        for (const [name, n] of Object.entries(previous)) expect(next[name], `${name} at ${total}`).toBeGreaterThanOrEqual(n);
        previous = next;
      }
    }
  });

  it('stays within one replica of the exact share when nothing is full', () => {
    const centrals = [c('a', 1), c('b', 3), c('c', 3), c('d', 10)];
    for (let total = 0; total <= 200; total++) {
      const { replicas } = apportion(total, centrals, 1);
      for (const { name, weight } of centrals) expect(Math.abs((replicas[name] ?? 0) - (total * weight) / 17), `${name} at ${total}`).toBeLessThan(1);
    }
  });

  it('always places exactly min(total, capacity) replicas', () => {
    for (let total = 0; total < 40; total++) {
      const r = apportion(total, [c('a', 7, 200), c('b', 3, 90), c('c', 1, 1000), c('d', 5, 10, false)], 10);
      const placed = Object.values(r.replicas).reduce((x, y) => x + y, 0);
      expect(placed + r.unplaced).toBe(total);
      expect(r.replicas.a ?? 0).toBeLessThanOrEqual(20);
      expect(r.replicas.b ?? 0).toBeLessThanOrEqual(9);
    }
  });
});

const celula = parseCelula({
  apiVersion: 'multcall.zanc.com.br/v1alpha1',
  kind: 'Celula',
  metadata: { name: 'vendas', namespace: 'demo', uid: 'u-1', generation: 3 },
  spec: {
    queue: 'vendas',
    threads: 10,
    redis: { host: 'redis', passwordSecretRef: { name: 'redis', key: 'password' } },
    centrals: { names: ['pbx-01'] },
    originate: { channel: 'PJSIP/{number}@carrier', context: 'agents' },
    scaling: { mode: 'external', minReplicas: 2, maxReplicas: 5 },
    replicas: 9,
    worker: { drainTimeout: '120s' },
  },
});
const central = parseCentral({
  apiVersion: 'multcall.zanc.com.br/v1alpha1',
  kind: 'Central',
  metadata: { name: 'pbx-01', namespace: 'demo' },
  spec: { ami: { host: 'pbx', credentialsSecretRef: { name: 'ami' } }, capacity: { maxChannels: 100, maxOriginatesPerSecond: 30 } },
});

describe('desired replicas', () => {
  it('clamps external mode to min/max and uses the floor in queue mode', () => {
    expect(desiredTotal(celula)).toBe(5);
    expect(desiredTotal({ ...celula, spec: { ...celula.spec, scaling: { ...celula.spec.scaling, mode: 'queue' } } })).toBe(2);
    expect(desiredTotal({ ...celula, spec: { ...celula.spec, scaling: { ...celula.spec.scaling, mode: 'fixed' } } })).toBe(9);
  });
});

describe('render', () => {
  const opts = { defaultImage: 'img:1', replicas: 3 };
  it('a Deployment that runs the worker with secrets from files, never literals', () => {
    const d = renderDeployment(celula, central, opts) as unknown as { spec: { selector: { matchLabels: Record<string, string> }; template: { spec: Record<string, unknown> & { containers: Array<Record<string, unknown>> } } } };
    const pod = d.spec.template.spec;
    expect(pod.terminationGracePeriodSeconds).toBe(150);
    const env = pod.containers[0]?.env as Array<{ name: string; value?: string }>;
    expect(env.map((e) => e.name)).toEqual(['MULTCALL_WORKER_ID', 'AMI_USERNAME_FILE', 'AMI_SECRET_FILE', 'NODE_OPTIONS', 'REDIS_PASSWORD_FILE']);
    // Bounded semi-spaces keep a busy worker's RSS well under its limit (src/worker/node-options.ts).
    expect(env.find((e) => e.name === 'NODE_OPTIONS')?.value).toBe('--max-semi-space-size=16');
    expect(JSON.stringify(d)).not.toMatch(/"value":"[^"/]*secret[^"/]*"/);
    expect(pod.topologySpreadConstraints).toEqual([
      { maxSkew: 1, topologyKey: 'kubernetes.io/hostname', whenUnsatisfiable: 'ScheduleAnyway', labelSelector: { matchLabels: d.spec.selector.matchLabels }, matchLabelKeys: ['pod-template-hash'] },
    ]);
    // Never BestEffort unless asked: such pods are evicted first, with no grace period to drain.
    expect(pod.containers[0]?.resources).toEqual({ requests: { cpu: '250m', memory: '192Mi' }, limits: { memory: '384Mi' } });
    // What a service mesh or the scheduler is told about the pods, as the Celula says.
    const meshed = parseCelula({ ...celula, spec: { ...celula.spec, worker: { ...celula.spec.worker, podAnnotations: { 'sidecar.istio.io/inject': 'false' }, priorityClassName: 'calls-high' } } });
    const template = (renderDeployment(meshed, central, opts).spec as { template: { metadata: Record<string, unknown>; spec: Record<string, unknown> } }).template;
    expect(template.metadata.annotations).toEqual({ 'sidecar.istio.io/inject': 'false' });
    expect(template.spec.priorityClassName).toBe('calls-high');
    expect((d.spec.template as unknown as { metadata: Record<string, unknown> }).metadata.annotations).toBeUndefined();
    const none = parseCelula({ ...celula, spec: { ...celula.spec, worker: { ...celula.spec.worker, resources: {} } } });
    expect((renderDeployment(none, central, opts).spec as typeof d.spec).template.spec.containers[0]?.resources).toBeUndefined();
  });

  it('the settings file carries the central\'s whole capacity, whatever the replicas', () => {
    const s = workerSettings(celula, central);
    expect(s.central).toMatchObject({ maxChannels: 100, maxOriginatesPerSecond: 30 });
    // The AMI user comes from the Secret, mounted: nothing read from a Secret is written into the ConfigMap.
    expect(s.central).not.toHaveProperty('username');
    expect(renderConfigMap(celula, central).data).toHaveProperty(['worker.yaml']);
  });

  it('a settings file per version of what workers read at start; live parameters change neither it nor the pods', () => {
    const template = (c: typeof celula, k: typeof central) => JSON.stringify((renderDeployment(c, k, { defaultImage: 'img', replicas: 2 }).spec as { template: unknown }).template);
    const base = configMapName(celula, central);
    expect(base).toMatch(/^vendas-pbx-01-[0-9a-f]{10}$/);
    expect(template(celula, central)).toContain(`"configMap":{"name":"${base}"`);
    const live = { ...celula, spec: { ...celula.spec, threads: 99, retries: 0 } };
    expect(configMapName(live, central)).toBe(base);
    expect(template(live, central)).toBe(template(celula, central));
    expect((renderConfigMap(live, central).data as Record<string, string>)['worker.yaml']).toMatch(/threads: 99/);
    const context = { ...celula, spec: { ...celula.spec, originate: { ...celula.spec.originate, context: 'other' } } };
    expect(configMapName(context, central)).not.toBe(base);
    expect(template(context, central)).toContain(`"configMap":{"name":"${configMapName(context, central)}"`);
    // The Central's capacity is read at start: changing it rolls the workers.
    expect(configMapName(celula, { ...central, spec: { ...central.spec, capacity: { maxChannels: 50, maxOriginatesPerSecond: 30 } } })).not.toBe(base);
  });

  it('a rollout is over when the controller saw the template and no pod of an older one is left', () => {
    const d = (generation: number, status: Record<string, number>) => ({ metadata: { name: 'd', generation }, status });
    expect(rolloutOver(d(2, { observedGeneration: 2, replicas: 3, updatedReplicas: 3 }))).toBe(true);
    expect(rolloutOver(d(2, { observedGeneration: 2 }))).toBe(true); // scaled to zero
    expect(rolloutOver(d(2, { observedGeneration: 2, replicas: 4, updatedReplicas: 3 }))).toBe(false); // an old pod left
    expect(rolloutOver(d(3, { observedGeneration: 2, replicas: 3, updatedReplicas: 3 }))).toBe(false); // not seen yet
    expect(rolloutOver({ metadata: { name: 'd', generation: 1 } })).toBe(false);
  });

  it('names fit a DNS label', () => {
    expect(workerName('vendas', 'pbx-01')).toBe('vendas-pbx-01');
    const long = workerName('a'.repeat(40), 'b'.repeat(40));
    expect(long.length).toBeLessThanOrEqual(52);
    expect(long).toMatch(/^[a-z0-9-]+$/);
    // Dotted names cut where a '.' would end up before the hash.
    const dotted = workerName(`${'a'.repeat(42)}.b`, 'c'.repeat(20));
    expect(dotted).toMatch(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/);
    expect(dotted).not.toMatch(/[-.]-/);
  });
});

describe('status', () => {
  const obs = {
    selector: 's',
    centrals: [{ name: 'pbx-01', healthy: true, desired: 2, replicas: 2, readyReplicas: 1 }],
    missing: [],
    desiredTotal: 2,
    unplaced: 0,
    redis: { reachable: true as const, pushed: true, changed: false },
  };
  it('Ready is False with the first failing reason', () => {
    const conds = celulaConditions(celula, obs);
    expect(conds[0]).toMatchObject({ type: 'Ready', status: 'False', reason: 'WorkersNotReady' });
    expect(conds.map((x) => x.type)).toEqual(['Ready', 'CentralsAvailable', 'WorkersAvailable', 'RedisReachable', 'ConfigPushed']);
  });
  it('Ready is True when everything is', () => {
    const conds = celulaConditions(celula, { ...obs, centrals: [{ ...obs.centrals[0]!, readyReplicas: 2 }] });
    expect(conds.every((x) => x.status === 'True')).toBe(true);
  });
  it('an unreachable Redis is a condition with an actionable message', () => {
    const conds = celulaConditions(celula, { ...obs, redis: { reachable: false, reason: 'ConnectionFailed', message: 'Redis at redis:6379 does not answer' } });
    expect(conds.find((x) => x.type === 'RedisReachable')).toMatchObject({ status: 'False', reason: 'ConnectionFailed' });
    expect(conds.find((x) => x.type === 'ConfigPushed')).toMatchObject({ status: 'False', reason: 'RedisUnreachable' });
  });
  it('lists at most as many Centrals as the CRD allows, those with workers first, and the status still parses', () => {
    const many = Array.from({ length: 300 }, (_, i) => ({ name: `pbx-${String(i).padStart(3, '0')}`, healthy: true, desired: i === 299 ? 1 : 0, replicas: 0, readyReplicas: 0 }));
    const status = celulaStatus(celula, { ...obs, centrals: many }, new Date('2026-01-01T00:00:00Z'));
    expect(status.centrals).toHaveLength(256);
    expect(status.centrals?.map((c) => c.name)).toContain('pbx-299');
    expect(status.centrals?.map((c) => c.name)).toEqual([...(status.centrals ?? []).map((c) => c.name)].sort());
    expect(() => parseCelula({ ...celula, status })).not.toThrow();
    // Condition messages name a few and count the rest (the API server caps a message at 32 KiB).
    const down = many.map((c) => ({ ...c, name: `${c.name}-${'x'.repeat(55)}`, healthy: false, problem: 'Timeout' }));
    for (const condition of celulaConditions(celula, { ...obs, centrals: down })) expect(condition.message.length).toBeLessThan(4096);
    expect(celulaConditions(celula, { ...obs, centrals: down }).find((x) => x.type === 'CentralsAvailable')?.message).toContain('and 280 more');
  });
});

describe('central conditions', () => {
  const now = new Date('2026-01-01T00:01:00Z');
  const fail = { ok: false as const, reason: 'Timeout' as const, message: 'no answer', latencyMs: 1000 };
  it('a Ready central stays Ready through a short blip, then goes', () => {
    const ready = [
      { type: 'Ready', status: 'True' as const, reason: 'Reachable', message: '', lastTransitionTime: '2026-01-01T00:00:00Z' },
      { type: 'Reachable', status: 'True' as const, reason: 'ProbeSucceeded', message: '', lastTransitionTime: '2026-01-01T00:00:00Z' },
    ];
    expect(centralConditions(ready, fail, 10_000, now)[0]).toMatchObject({ status: 'True', reason: 'ProbeFailing' });
    const failing = [ready[0]!, { ...ready[1]!, status: 'False' as const, lastTransitionTime: '2026-01-01T00:00:45Z' }];
    expect(centralConditions(failing, fail, 10_000, now)[0]).toMatchObject({ status: 'True', reason: 'ProbeFailing' });
    const longFailing = [ready[0]!, { ...ready[1]!, status: 'False' as const, lastTransitionTime: '2026-01-01T00:00:30Z' }];
    expect(centralConditions(longFailing, fail, 10_000, now)[0]).toMatchObject({ status: 'False', reason: 'Timeout' });
  });
  it('two failed probes in a row take a Ready central out at once', () => {
    const ready = [
      { type: 'Ready', status: 'True' as const, reason: 'Reachable', message: '', lastTransitionTime: '2026-01-01T00:00:59Z' },
      { type: 'Reachable', status: 'False' as const, reason: 'Timeout', message: '', lastTransitionTime: '2026-01-01T00:00:59Z' },
    ];
    expect(centralConditions(ready, fail, 10_000, now, 1)[0]).toMatchObject({ status: 'True', reason: 'ProbeFailing' });
    expect(centralConditions(ready, fail, 10_000, now, 2)[0]).toMatchObject({ status: 'False', reason: 'Timeout' });
  });
  it('a central never Ready is not Ready on its first failure', () => {
    expect(centralConditions(undefined, fail, 10_000, now)[0]).toMatchObject({ status: 'False' });
  });
});
