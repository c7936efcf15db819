/**
 * One queue, one Celula. Two Celulas that name the same queue on the same Redis would push
 * their own threads and timeouts into one config hash, each undoing the other's, and both
 * autoscale from the same queue. The oldest Celula keeps the queue; any later one is told so
 * and runs no workers. Pure: decided from the cached objects, the same way in every replica.
 */
import { DEFAULT_PREFIX } from '../../protocol/keys.js';
import type { KubeObject } from '../runtime/kube.js';

interface QueueSpec {
  queue?: unknown;
  redis?: { host?: unknown; port?: unknown; db?: unknown; prefix?: unknown };
}

/**
 * Where a Celula's queue lives: Redis address, database, prefix and queue name, with the
 * CRD's defaults (the API server fills them in; an object from an older CRD may lack them).
 * A host is compared as written: two spellings of one server are not recognised.
 */
export function queueIdentity(obj: KubeObject): string | undefined {
  const spec = (obj as { spec?: QueueSpec }).spec;
  if (typeof spec?.queue !== 'string' || typeof spec.redis?.host !== 'string') return undefined;
  const { host, port = 6379, db = 0, prefix = DEFAULT_PREFIX } = spec.redis;
  return [host.toLowerCase(), port, db, prefix, spec.queue].join('\n');
}

const age = (o: KubeObject): [string, string] => [o.metadata.creationTimestamp ?? '', `${o.metadata.namespace ?? ''}/${o.metadata.name}`];

/** Whether `a` was there first (older, then by namespace/name, so that every replica agrees). */
function before(a: KubeObject, b: KubeObject): boolean {
  const [ta, na] = age(a);
  const [tb, nb] = age(b);
  return ta !== tb ? ta < tb : na < nb;
}

/** The Celula that keeps `self`'s queue, when it is another one; undefined when `self` keeps it. */
export function queueOwner(self: KubeObject, celulas: readonly KubeObject[]): KubeObject | undefined {
  const identity = queueIdentity(self);
  if (identity === undefined) return undefined;
  let owner: KubeObject | undefined;
  for (const other of celulas) {
    if (other.metadata.uid === self.metadata.uid || other.metadata.deletionTimestamp) continue;
    if (queueIdentity(other) !== identity || !before(other, self)) continue;
    if (!owner || before(other, owner)) owner = other;
  }
  return owner;
}
