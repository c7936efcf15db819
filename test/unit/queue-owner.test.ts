/**
 * One queue, one Celula: the one serving it keeps it; with nobody serving it, the oldest
 * takes it; two already serving it are both told, and neither is stopped.
 */
import { describe, expect, it } from 'vitest';
import { CELULA_CLAIMS, queueIdentity, queueVerdict, type QueueClaims } from '../../src/operator/celula/queue-owner.js';
import { qualifiedHost, specAddress } from '../../src/operator/runtime/address.js';
import type { KubeObject } from '../../src/operator/runtime/kube.js';

function celula(ns: string, name: string, created: string, queue: string, redis: Record<string, unknown> = { host: 'redis.shared' }): KubeObject {
  return { metadata: { namespace: ns, name, uid: `${ns}/${name}`, creationTimestamp: created }, spec: { queue, redis } };
}

const claims = (serving: KubeObject[] = [], invalid: KubeObject[] = []): QueueClaims => ({ valid: (o) => !invalid.includes(o), serving: (o) => serving.includes(o) });
const who = (v: ReturnType<typeof queueVerdict>) => (v.kind === 'taken' ? v.by.metadata.name : v.kind === 'shared' ? v.with.map((o) => o.metadata.name) : 'own');

describe('queueVerdict', () => {
  const vendas = celula('a', 'vendas', '2026-01-01T00:00:00Z', 'vendas');
  const copy = celula('b', 'copia', '2026-02-01T00:00:00Z', 'vendas');

  it('with nobody serving the queue yet, the older Celula takes it, in whatever order they are listed', () => {
    for (const all of [[vendas, copy], [copy, vendas]]) {
      expect(who(queueVerdict(vendas, all, claims()))).toBe('own');
      expect(who(queueVerdict(copy, all, claims()))).toBe('vendas');
    }
  });

  it('the Celula serving the queue keeps it against an older one moved onto it', () => {
    expect(who(queueVerdict(copy, [vendas, copy], claims([copy])))).toBe('own');
    expect(who(queueVerdict(vendas, [vendas, copy], claims([copy])))).toBe('copia');
  });

  it('two already serving it are both told and neither is stopped', () => {
    expect(queueVerdict(vendas, [vendas, copy], claims([vendas, copy]))).toMatchObject({ kind: 'shared', with: [copy] });
    expect(queueVerdict(copy, [vendas, copy], claims([vendas, copy]))).toMatchObject({ kind: 'shared', with: [vendas] });
  });

  it('an invalid or deleted Celula claims no queue', () => {
    expect(who(queueVerdict(copy, [vendas, copy], claims([], [vendas])))).toBe('own');
    const leaving = { ...vendas, metadata: { ...vendas.metadata, deletionTimestamp: '2026-03-01T00:00:00Z' } };
    expect(who(queueVerdict(copy, [leaving, copy], claims()))).toBe('own');
  });

  it('breaks a tie of creation times by namespace and name, the same way for both', () => {
    const twin = celula('b', 'vendas', '2026-01-01T00:00:00Z', 'vendas');
    expect(who(queueVerdict(vendas, [vendas, twin], claims()))).toBe('own');
    expect(queueVerdict(twin, [vendas, twin], claims())).toMatchObject({ kind: 'taken', by: vendas });
  });

  it('another Redis, database, port or prefix is another queue; defaults count as written; a bare host is a Service of the namespace', () => {
    for (const redis of [{ host: 'redis-2.shared' }, { host: 'redis.shared', db: 1 }, { host: 'redis.shared', port: 6380 }, { host: 'redis.shared', prefix: 'outro' }]) {
      expect(who(queueVerdict(celula('b', 'x', '2026-03-01T00:00:00Z', 'vendas', redis), [vendas], claims()))).toBe('own');
    }
    const explicit = celula('b', 'y', '2026-03-01T00:00:00Z', 'vendas', { host: 'REDIS.shared', port: 6379, db: 0, prefix: 'multcall' });
    expect(queueIdentity(explicit)).toBe(queueIdentity(vendas));
    // `redis` in two namespaces is two Services, two servers.
    const [inA, inB] = [celula('a', 'p', '2026-01-01T00:00:00Z', 'q', { host: 'redis' }), celula('b', 'q', '2026-02-01T00:00:00Z', 'q', { host: 'redis' })];
    expect(who(queueVerdict(inB, [inA, inB], claims()))).toBe('own');
    expect(queueIdentity(inA)).toBe('redis.a.svc:6379/0 multcall:{q}');
  });
});

describe('serving, as Celulas carry it', () => {
  const spec = (host: string) => ({ queue: 'vendas', redis: { host }, centrals: { names: ['pbx'] }, originate: { channel: 'PJSIP/{number}@carrier', context: 'agents' } });
  const object = (name: string, created: string, generation: number, host: string, status: Record<string, unknown>): KubeObject =>
    ({ apiVersion: 'multcall.zanc.com.br/v1alpha1', kind: 'Celula', metadata: { namespace: 'a', name, uid: name, creationTimestamp: created, generation }, spec: spec(host), status }) as KubeObject;
  const conflict = { observedGeneration: 1, conditions: [{ type: 'Ready', status: 'False', reason: 'QueueConflict' }] };

  it('the Celula serving the queue keeps it while an edit of its own (threads) is reconciled', () => {
    const older = object('older', '2026-01-01T00:00:00Z', 1, 'redis', conflict);
    const owner = object('owner', '2026-02-01T00:00:00Z', 5, 'redis', { observedGeneration: 4, servedQueue: 'redis.a.svc:6379/0 multcall:{vendas}', conditions: [] });
    expect(who(queueVerdict(owner, [older, owner], CELULA_CLAIMS))).toBe('own');
    expect(who(queueVerdict(older, [older, owner], CELULA_CLAIMS))).toBe('owner');
  });

  it('one edited onto the queue serves the queue it had, not this one, even before its status catches up', () => {
    const owner = object('owner', '2026-02-01T00:00:00Z', 1, 'redis', { observedGeneration: 1, servedQueue: 'redis.a.svc:6379/0 multcall:{vendas}', conditions: [] });
    const moved = object('moved', '2026-01-01T00:00:00Z', 2, 'redis', { observedGeneration: 2, servedQueue: 'other.a.svc:6379/0 multcall:{vendas}', conditions: [] });
    expect(who(queueVerdict(moved, [owner, moved], CELULA_CLAIMS))).toBe('owner');
    expect(who(queueVerdict(owner, [owner, moved], CELULA_CLAIMS))).toBe('own');
  });

  it('a status from before servedQueue: serving when it describes the current spec and is not a conflict', () => {
    expect(CELULA_CLAIMS.serving(object('x', '2026-01-01T00:00:00Z', 3, 'redis', { observedGeneration: 3, conditions: [{ type: 'Ready', status: 'True', reason: 'Ready' }] }))).toBe(true);
    expect(CELULA_CLAIMS.serving(object('x', '2026-01-01T00:00:00Z', 4, 'redis', { observedGeneration: 3, conditions: [{ type: 'Ready', status: 'True', reason: 'Ready' }] }))).toBe(false);
    expect(CELULA_CLAIMS.serving(object('x', '2026-01-01T00:00:00Z', 1, 'redis', conflict))).toBe(false);
  });
});

describe('addresses named in a spec', () => {
  const dns = (known: string[], calls: string[] = []) => async (host: string) => {
    calls.push(host);
    if (known.includes(host)) return { address: '10.0.0.9' };
    throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
  };

  it('a short name is the Service of the object\'s namespace when there is one, else the name as written', async () => {
    const calls: string[] = [];
    const resolve = specAddress(undefined, dns(['redis.team-a.svc'], calls));
    expect(await resolve('team-a', 'redis', 6379)).toEqual({ host: 'redis.team-a.svc', port: 6379 });
    expect(await resolve('team-a', 'pbx01', 5038)).toEqual({ host: 'pbx01', port: 5038 });
    expect(await resolve('team-a', 'pbx01.site.example', 5038)).toEqual({ host: 'pbx01.site.example', port: 5038 });
    await resolve('team-a', 'redis', 6379); // remembered for a while: no second lookup
    expect(calls).toEqual(['redis.team-a.svc', 'pbx01.team-a.svc']);
  });

  it('a DNS that fails or does not answer keeps the Service name', async () => {
    const failing = specAddress(undefined, () => Promise.reject(Object.assign(new Error('queryA ETIMEOUT'), { code: 'ETIMEOUT' })));
    expect(await failing('team-a', 'redis', 6379)).toEqual({ host: 'redis.team-a.svc', port: 6379 });
    const asked: string[] = [];
    const silent = specAddress(undefined, (host) => {
      asked.push(host);
      return new Promise(() => undefined);
    });
    const started = performance.now();
    const [a, b] = await Promise.all([silent('team-a', 'redis', 6379), silent('team-a', 'redis', 6379)]);
    expect([a, b]).toEqual([{ host: 'redis.team-a.svc', port: 6379 }, { host: 'redis.team-a.svc', port: 6379 }]);
    expect(performance.now() - started).toBeLessThan(3000);
    expect(asked).toEqual(['redis.team-a.svc']); // one lookup per name while it hangs
  });

  it('outside the cluster, the qualified name is what the map is asked for', async () => {
    const resolve = specAddress((_ns, host, port) => (host === 'redis.team-a.svc' ? { host: '127.0.0.1', port: 16379 } : { host, port }));
    expect(await resolve('team-a', 'redis', 6379)).toEqual({ host: '127.0.0.1', port: 16379 });
  });
});

describe('qualifiedHost', () => {
  it('a short name is a Service of the object\'s namespace, as its workers there resolve it', () => {
    expect(qualifiedHost('team-a', 'redis')).toBe('redis.team-a.svc');
    expect(qualifiedHost('team-a', 'redis.shared')).toBe('redis.shared');
    expect(qualifiedHost('team-a', '10.0.0.5')).toBe('10.0.0.5');
    expect(qualifiedHost('team-a', 'fd00::5')).toBe('fd00::5');
    expect(qualifiedHost('team-a', 'localhost')).toBe('localhost');
  });
});
