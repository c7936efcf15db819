/**
 * One queue, one Celula. Two Celulas that name the same queue on the same Redis would push
 * their own threads and timeouts into one config hash, each undoing the other's, and both
 * autoscale from the same queue. Pure: decided from the cached objects, the same way in
 * every operator replica.
 *
 * A Celula already serving the queue keeps it: a newcomer (created later, or edited onto
 * the queue) is told so and runs no workers. Two that both serve it (they did before this
 * rule existed) are both told, and neither is stopped: which to stop is the user's call.
 * With no one serving it, the oldest valid Celula takes it.
 */
import { parseCelula } from '../../api/index.js';
import { DEFAULT_PREFIX } from '../../protocol/keys.js';
import { qualifiedHost } from '../runtime/address.js';
import { findCondition, type Condition } from '../runtime/conditions.js';
import type { KubeObject } from '../runtime/kube.js';

interface QueueSpec {
  queue?: unknown;
  redis?: { host?: unknown; port?: unknown; db?: unknown; prefix?: unknown };
}

/**
 * Where a Celula's queue lives, as `host:port/db prefix:{queue}`: Redis address, database,
 * prefix and queue name, with the CRD's defaults (the API server fills them in; an object
 * from an older CRD may lack them). A host without a dot is a Service of the Celula's own
 * namespace, as its workers resolve it. Other spellings of one server (an FQDN and its IP)
 * are not recognised as one.
 */
export function queueIdentity(obj: KubeObject): string | undefined {
  const spec = (obj as { spec?: QueueSpec }).spec;
  if (typeof spec?.queue !== 'string' || typeof spec.redis?.host !== 'string') return undefined;
  const { port = 6379, db = 0, prefix = DEFAULT_PREFIX } = spec.redis;
  const host = qualifiedHost(obj.metadata.namespace ?? 'default', spec.redis.host).toLowerCase();
  return `${host.includes(':') ? `[${host}]` : host}:${port}/${db} ${prefix}:{${spec.queue}}`;
}

const age = (o: KubeObject): [string, string] => [o.metadata.creationTimestamp ?? '', `${o.metadata.namespace ?? ''}/${o.metadata.name}`];

/** Whether `a` was there first (older, then by namespace/name, so that every replica agrees). */
function before(a: KubeObject, b: KubeObject): boolean {
  const [ta, na] = age(a);
  const [tb, nb] = age(b);
  return ta !== tb ? ta < tb : na < nb;
}

export interface QueueClaims {
  /** Whether the Celula is valid: an invalid one runs nothing and claims no queue. */
  valid(celula: KubeObject): boolean;
  /** Whether the Celula serves its queue now: workers running for its current spec. */
  serving(celula: KubeObject): boolean;
}

/**
 * The claims as Celulas carry them. A Celula serves its queue when its status names that
 * queue in `servedQueue` (written by every reconcile that did not find the queue taken): a
 * spec edit that keeps the queue (threads, say) keeps the claim while the edit is being
 * reconciled, and one edited onto another's queue serves the queue it had, not that one.
 * Redis being down does not change it, so a blip never hands the queue to someone else.
 */
export const CELULA_CLAIMS: QueueClaims = {
  valid: (o) => {
    try {
      parseCelula(o);
      return true;
    } catch {
      return false;
    }
  },
  serving: (o) => {
    const status = (o as { status?: { servedQueue?: string; observedGeneration?: number; conditions?: Condition[] } }).status;
    if (status?.servedQueue !== undefined) return status.servedQueue === queueIdentity(o);
    // A status written before servedQueue existed: serving when it describes the current spec.
    if (!status?.conditions || status.observedGeneration !== o.metadata.generation) return false;
    return findCondition(status.conditions, 'Ready')?.reason !== 'QueueConflict';
  },
};

export type QueueVerdict = { kind: 'own' } | { kind: 'taken'; by: KubeObject } | { kind: 'shared'; with: KubeObject[] };

export function queueVerdict(self: KubeObject, celulas: readonly KubeObject[], claims: QueueClaims): QueueVerdict {
  const identity = queueIdentity(self);
  if (identity === undefined) return { kind: 'own' };
  const rivals = celulas.filter((o) => o.metadata.uid !== self.metadata.uid && !o.metadata.deletionTimestamp && queueIdentity(o) === identity && claims.valid(o));
  if (rivals.length === 0) return { kind: 'own' };
  const serving = rivals.filter((o) => claims.serving(o));
  if (claims.serving(self)) return serving.length > 0 ? { kind: 'shared', with: serving } : { kind: 'own' };
  const contenders = serving.length > 0 ? serving : rivals.filter((o) => before(o, self));
  const first = contenders.reduce<KubeObject | undefined>((best, o) => (!best || before(o, best) ? o : best), undefined);
  return first ? { kind: 'taken', by: first } : { kind: 'own' };
}
