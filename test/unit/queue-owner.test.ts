/**
 * One queue, one Celula: the oldest keeps it, whatever order the operator sees them in.
 */
import { describe, expect, it } from 'vitest';
import { queueIdentity, queueOwner } from '../../src/operator/celula/queue-owner.js';
import type { KubeObject } from '../../src/operator/runtime/kube.js';

function celula(ns: string, name: string, created: string, queue: string, redis: Record<string, unknown> = { host: 'redis' }): KubeObject {
  return { metadata: { namespace: ns, name, uid: `${ns}/${name}`, creationTimestamp: created }, spec: { queue, redis } };
}

describe('queueOwner', () => {
  const vendas = celula('a', 'vendas', '2026-01-01T00:00:00Z', 'vendas');
  const copy = celula('b', 'copia', '2026-02-01T00:00:00Z', 'vendas');

  it('gives the queue to the older Celula, in whatever order they are listed', () => {
    for (const all of [[vendas, copy], [copy, vendas]]) {
      expect(queueOwner(vendas, all)).toBeUndefined();
      expect(queueOwner(copy, all)?.metadata.name).toBe('vendas');
    }
  });

  it('breaks a tie of creation times by namespace and name, the same way for both', () => {
    const twin = celula('b', 'vendas', '2026-01-01T00:00:00Z', 'vendas');
    expect(queueOwner(vendas, [vendas, twin])).toBeUndefined();
    expect(queueOwner(twin, [vendas, twin])?.metadata.namespace).toBe('a');
  });

  it('the same queue name on another Redis, database or prefix is another queue; defaults count as written', () => {
    for (const redis of [{ host: 'redis-2' }, { host: 'redis', db: 1 }, { host: 'redis', port: 6380 }, { host: 'redis', prefix: 'outro' }]) {
      expect(queueOwner(celula('b', 'x', '2026-03-01T00:00:00Z', 'vendas', redis), [vendas])).toBeUndefined();
    }
    const explicit = celula('b', 'y', '2026-03-01T00:00:00Z', 'vendas', { host: 'REDIS', port: 6379, db: 0, prefix: 'multcall' });
    expect(queueIdentity(explicit)).toBe(queueIdentity(vendas));
    expect(queueOwner(explicit, [vendas])?.metadata.name).toBe('vendas');
  });

  it('a Celula being deleted keeps no queue', () => {
    const leaving = { ...vendas, metadata: { ...vendas.metadata, deletionTimestamp: '2026-03-01T00:00:00Z' } };
    expect(queueOwner(copy, [leaving, copy])).toBeUndefined();
  });
});
