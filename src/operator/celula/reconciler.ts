/**
 * The Celula reconciler. Each run re-reads the world (the Celula, the Centrals it selects,
 * its Deployments and ConfigMaps, its Redis) and makes it match:
 *
 * 1. select the Centrals (label selector or names, same namespace); keep the Ready ones
 *    where no object of someone else's already has the name of this célula's workers;
 * 2. take the wanted total (in queue mode, the autoscaler's decision) and spread it over
 *    them by weight and by the channels other células leave free (apportion);
 * 3. server-side apply a ConfigMap, a Deployment and a PodDisruptionBudget per healthy
 *    Central, owned by the Celula;
 * 4. delete the ones of Centrals no longer selected or healthy — unless none is healthy:
 *    then the operator may be the one cut off, and workers whose central is really down
 *    take no calls anyway — and the settings files of earlier versions once their
 *    Deployment's rollout is over;
 * 5. push threads, retries and timeouts to the Redis config hash;
 * 6. write status (only when it changed) and events for what changed.
 *
 * Nothing here depends on how many times it ran before: running it twice changes nothing.
 */
import { createHash } from 'node:crypto';
import { API_VERSION, CELULA_NAMES, InvalidResourceError, durationMs, parseCelula, parseCentral, type Celula, type Central } from '../../api/index.js';
import type { Logger } from '../../lib/log.js';
import type { ResourceCache } from '../runtime/cache.js';
import { findCondition, isTrue, type Condition } from '../runtime/conditions.js';
import { TerminalError, type Result } from '../runtime/controller.js';
import type { EventRecorder } from '../runtime/events.js';
import { isNotFound, KubeApiError, NotLeaderError, paths, type KubeClient, type KubeObject } from '../runtime/kube.js';
import type { OperatorMetrics } from '../runtime/metrics.js';
import type { SpecAddress } from '../runtime/address.js';
import { matchesSelector } from '../runtime/selector.js';
import { apportion } from './apportion.js';
import type { Autoscaler } from '../autoscale/autoscaler.js';
import type { RedisTarget } from '../redis/pool.js';
import type { LiveConfigPusher } from './live-config.js';
import { celulaSelector, configMapName, LABELS, renderConfigMap, renderDeployment, renderDisruptionBudget, workerName } from './render.js';
import { CELULA_CLAIMS, queueIdentity, queueVerdict } from './queue-owner.js';
import { desiredTotal } from './replicas.js';
import { celulaStatus, stableJson, type CentralObservation, type RedisObservation } from './status.js';

/**
 * Redis is checked (and drift in its config hash corrected) at least this often. Drift of
 * the Kubernetes children is seen at once through their watch; this period only bounds how
 * long a Redis that lost its config hash waits, and each pass costs every célula six applies.
 */
export const RESYNC_MS = 300_000;
/** How long a Secret read by the reconciler is reused. */
export const SECRET_TTL_MS = 10_000;
/** Retry sooner while Redis does not answer. */
export const REDIS_RETRY_MS = 10_000;
/** How soon a célula whose worker names or queue are taken looks again. */
export const CONFLICT_RETRY_MS = 10_000;

export interface CelulaReconcilerDeps {
  kube: KubeClient;
  celulas: ResourceCache<KubeObject>;
  centrals: ResourceCache<KubeObject>;
  deployments: ResourceCache<KubeObject>;
  configMaps: ResourceCache<KubeObject>;
  disruptionBudgets: ResourceCache<KubeObject>;
  live: LiveConfigPusher;
  autoscaler: Autoscaler;
  /** Releases the célula's share of its Redis connection. */
  forgetRedis: (key: string) => void;
  metrics?: OperatorMetrics;
  resolve?: SpecAddress;
  events: EventRecorder;
  logger: Logger;
  defaultImage: string;
  workerServiceAccount?: string;
  now?: () => Date;
}

interface DeploymentView extends KubeObject {
  status?: {
    observedGeneration?: number;
    replicas?: number;
    updatedReplicas?: number;
    readyReplicas?: number;
    conditions?: Array<{ type?: string; status?: string; message?: string }>;
  };
}

/**
 * The Deployment controller has seen its current template and no pod of an earlier one is
 * left (`status.replicas` counts every ReplicaSet's pods that are not terminating; a
 * terminating one never starts again, so it reads no file).
 */
export function rolloutOver(d: DeploymentView): boolean {
  const { status } = d;
  if (!status || d.metadata.generation === undefined || status.observedGeneration !== d.metadata.generation) return false;
  return (status.replicas ?? 0) === (status.updatedReplicas ?? 0);
}

interface SecretObject {
  data?: Record<string, string>;
}

const celulaPath = (ns: string, name: string) => paths.object(API_VERSION, CELULA_NAMES.plural, ns, name);

/** Whether `central` is one of the Centrals `celula` asks for. */
export function selects(celula: Pick<Celula, 'spec'>, central: KubeObject): boolean {
  const { names, selector } = celula.spec.centrals;
  if (names) return names.includes(central.metadata.name);
  return selector ? matchesSelector(selector, central.metadata.labels) : false;
}

const describeObject = (o: KubeObject) => `${o.metadata.namespace ?? ''}/${o.metadata.name}`;

/** A Deployment's or budget's version for `applyIfChanged`: status updates leave it alone, spec edits bump it. */
const byGeneration = (o: KubeObject) => (o.metadata.generation !== undefined ? String(o.metadata.generation) : undefined);

/** An answer of the API server that trying again unchanged will not change (4xx but conflicts and throttling). */
function isRefusal(error: unknown): boolean {
  return error instanceof KubeApiError && error.status >= 400 && error.status < 500 && error.status !== 409 && error.status !== 429;
}

export function isOwnedBy(obj: KubeObject, uid: string | undefined): boolean {
  return uid !== undefined && (obj.metadata.ownerReferences ?? []).some((r) => r.uid === uid && r.controller === true);
}

/** What we last applied to a child, and the version of it that our apply produced. */
interface Applied {
  hash: string;
  version: string;
}

export class CelulaReconciler {
  /**
   * Children are re-applied only when what we want changed or someone else changed them.
   * Every Deployment status update (the controller-manager writes many while pods start)
   * re-queues its Celula; without this, each of those would cost six no-op applies.
   */
  private readonly applied = new Map<string, Applied>();
  /** Secret path → the Secret as last read, and when. */
  private readonly secrets = new Map<string, { at: number; secret: SecretObject }>();
  /** Célula key → the uid its remembered state belongs to. */
  private readonly uids = new Map<string, string>();
  /** Células that could not place all their replicas at their last reconcile. */
  private readonly shortOfRoom = new Set<string>();
  /** Célula key → the paths of its children in `applied`, to forget them with it. */
  private readonly appliedBy = new Map<string, Set<string>>();
  /** Célula key → digest of the status this process last wrote. */
  private readonly statusWritten = new Map<string, string>();

  constructor(private readonly deps: CelulaReconcilerDeps) {}

  /**
   * Applies `desired` unless the cache shows the object we produced last time, unchanged
   * since: same desired content, and the same `versionOf` (a Deployment's generation, which
   * status updates leave alone but any spec edit bumps; a ConfigMap's resourceVersion).
   */
  private async applyIfChanged<T extends KubeObject>(owner: string, path: string, desired: KubeObject, cached: KubeObject | undefined, versionOf: (o: KubeObject) => string | undefined): Promise<T> {
    // A digest, not the JSON: thousands of children would otherwise keep megabytes of it.
    const hash = createHash('sha1').update(stableJson(desired)).digest('base64');
    const last = this.applied.get(path);
    const cachedVersion = cached ? versionOf(cached) : undefined;
    if (cached && last && last.hash === hash && cachedVersion !== undefined && cachedVersion === last.version) return cached as T;
    const result = await this.deps.kube.apply<T>(path, desired);
    const version = versionOf(result);
    if (version !== undefined) {
      this.applied.set(path, { hash, version });
      const paths = this.appliedBy.get(owner) ?? new Set<string>();
      this.appliedBy.set(owner, paths.add(path));
    }
    return result;
  }

  /** Whether the célula wanted more replicas than the Centrals' free channels allowed. */
  isShortOfRoom(key: string): boolean {
    return this.shortOfRoom.has(key);
  }

  private forgetCelula(key: string): void {
    this.deps.autoscaler.forget(key);
    this.forgetApplied(key);
    this.shortOfRoom.delete(key);
  }

  private forgetApplied(owner: string): void {
    for (const path of this.appliedBy.get(owner) ?? []) this.applied.delete(path);
    this.appliedBy.delete(owner);
    this.statusWritten.delete(owner);
  }

  readonly reconcile = async (key: string): Promise<Result> => {
    const { deps } = this;
    const raw = deps.celulas.get(key);
    // Deleted and created again under the same name before we saw the deletion: what we
    // remember (decisions, applied children) belongs to the old object.
    const uid = raw?.metadata.uid;
    if (raw && uid !== undefined && this.uids.get(key) !== uid) {
      if (this.uids.has(key)) this.forgetCelula(key);
      this.uids.set(key, uid);
    }
    if (!raw || raw.metadata.deletionTimestamp) {
      this.uids.delete(key);
      // Garbage collection removes the children through their owner references.
      deps.autoscaler.forget(key);
      deps.forgetRedis(key);
      this.forgetApplied(key);
      this.shortOfRoom.delete(key);
      const [namespace = '', name = ''] = key.split('/');
      for (const kind of ['desired', 'actual', 'ready']) deps.metrics?.celulaReplicas.remove({ namespace, celula: name, kind });
      return {};
    }
    let celula: Celula;
    try {
      celula = parseCelula(raw);
    } catch (error) {
      if (error instanceof InvalidResourceError) {
        // Nothing drives a célula the operator cannot read: its workers stay as they are.
        deps.autoscaler.forget(key);
        await this.writeInvalid(raw, error);
        throw new TerminalError(error.message);
      }
      throw error;
    }
    const ns = celula.metadata.namespace ?? 'default';
    const log = deps.logger.child({ celula: key });
    // Another Celula has this queue: this one runs no workers and writes nothing to Redis.
    const verdict = queueVerdict(raw, deps.celulas.list(() => true), CELULA_CLAIMS);
    const served = queueIdentity(raw);
    const where = `Queue ${celula.spec.queue} on Redis ${celula.spec.redis.host}:${celula.spec.redis.port} db ${celula.spec.redis.db} (prefix ${celula.spec.redis.prefix})`;
    const queueConflict =
      verdict.kind === 'taken'
        ? `${where} belongs to Celula ${describeObject(verdict.by)}, which serves it (or is older). Give this Celula another queue or delete one of them.`
        : undefined;
    const queueShared =
      verdict.kind === 'shared'
        ? `${where} is also served by ${verdict.with.map((o) => `Celula ${describeObject(o)}`).join(', ')}: each pushes its own settings into the queue's one config hash and autoscales from the same queue. Nothing is stopped; give all but one of them another queue.`
        : undefined;
    const previousReason = findCondition(celula.status?.conditions as Condition[] | undefined, 'Ready')?.reason;
    if (queueConflict && previousReason !== 'QueueConflict') deps.events.record(raw, 'Warning', 'QueueConflict', queueConflict);
    if (queueShared && previousReason !== 'QueueShared') deps.events.record(raw, 'Warning', 'QueueShared', queueShared);
    if (queueConflict) deps.forgetRedis(key);

    // 1. Centrals
    const candidates = deps.centrals.list((c) => c.metadata.namespace === ns && selects(celula, c));
    const missing = (celula.spec.centrals.names ?? []).filter((n) => !candidates.some((c) => c.metadata.name === n));
    /**
     * `ready`: the Central's Ready condition; `healthy`: ready, and this Celula's workers may run
     * there; `budgetTaken`: why its PodDisruptionBudget is not applied (the name is someone else's).
     */
    const centrals: Array<{ central: Central; ready: boolean; healthy: boolean; problem?: string; budgetTaken?: string }> = [];
    for (const c of candidates.sort((a, b) => a.metadata.name.localeCompare(b.metadata.name))) {
      try {
        const central = parseCentral(c);
        const ready = findCondition(central.status?.conditions as Condition[] | undefined, 'Ready');
        const healthy = ready?.status === 'True';
        const conflict = healthy ? await this.nameConflict(ns, celula, central) : undefined;
        if (conflict?.kind === 'PodDisruptionBudget') {
          // A safeguard, not what runs the workers: they run without it.
          deps.events.record(raw, 'Warning', 'NameConflict', `${conflict.message} The workers on Central ${central.metadata.name} run without a disruption budget until it is renamed or removed.`);
          centrals.push({ central, ready: true, healthy: true, budgetTaken: conflict.message });
          continue;
        }
        if (conflict) {
          deps.events.record(raw, 'Warning', 'NameConflict', `${conflict.message} No new workers on Central ${central.metadata.name} until it is renamed or removed.`);
          centrals.push({ central, ready: true, healthy: false, problem: 'NameConflict' });
          continue;
        }
        centrals.push({ central, ready: healthy, healthy, ...(healthy ? {} : { problem: ready ? ready.reason : 'not probed yet' }) });
      } catch (error) {
        if (!(error instanceof InvalidResourceError)) throw error;
        log.warn({ central: c.metadata.name, err: (error as Error).message }, 'skipping an invalid Central');
      }
    }

    // 2. Replicas in total, then per central
    const redisTarget = await this.redisTarget(celula);
    if (queueConflict) {
      deps.autoscaler.forget(key);
    } else if (celula.spec.scaling.mode === 'queue' && redisTarget.ok) {
      const { minReplicas, maxReplicas, scaleToZero, scaleDownStabilization } = celula.spec.scaling;
      deps.autoscaler.track(key, {
        queue: celula.spec.queue,
        redis: redisTarget.target,
        threads: celula.spec.threads,
        bounds: { minReplicas, maxReplicas, scaleToZero },
        windowMs: durationMs(scaleDownStabilization),
        current: celula.status?.desiredReplicas ?? minReplicas,
      });
    } else if (celula.spec.scaling.mode !== 'queue') {
      deps.autoscaler.forget(key);
    }
    const scale = celula.spec.scaling.mode === 'queue' && !queueConflict ? deps.autoscaler.view(key) : undefined;
    const total = queueConflict ? 0 : desiredTotal(celula, scale);
    // One scan of the Deployments per Central, for the apportioning and the metrics alike.
    const othersUse = new Map(centrals.map(({ central }) => [central.metadata.name, this.channelsOfOthers(ns, central.metadata.name, celula.metadata.name)]));
    const shares = apportion(
      total,
      centrals.map(({ central, healthy }) => ({
        name: central.metadata.name,
        weight: central.spec.weight,
        freeChannels: central.spec.capacity.maxChannels - (othersUse.get(central.metadata.name) ?? 0),
        healthy,
      })),
      celula.spec.threads,
    );
    if (shares.unplaced > 0) this.shortOfRoom.add(key);
    else this.shortOfRoom.delete(key);
    for (const d of deps.autoscaler.takeDecisions(key)) deps.events.record(raw, 'Normal', d.to > d.from ? 'ScaledUp' : 'ScaledDown', d.message);

    // 3. Children of healthy centrals
    const owned = (cache: ResourceCache<KubeObject>) =>
      cache.list((o) => o.metadata.namespace === ns && o.metadata.labels?.[LABELS.celula] === celula.metadata.name && isOwnedBy(o, celula.metadata.uid));
    const existingDeployments = owned(deps.deployments);
    const existingConfigMaps = owned(deps.configMaps);
    /** Settings files of an earlier version that no pod mounts any more. */
    const superseded: KubeObject[] = [];
    // No selected Central is Ready: the operator may be the one that cannot reach them. Workers
    // already running are kept (they take no calls while their central does not answer).
    const keepUnhealthy = !queueConflict && centrals.length > 0 && centrals.every((c) => !c.ready);
    const observations: CentralObservation[] = [];
    const applyErrors: string[] = [];
    const retryErrors: string[] = [];
    for (const { central, healthy, problem, budgetTaken } of centrals) {
      const name = central.metadata.name;
      if (!healthy || queueConflict) {
        const kept = keepUnhealthy || (problem === 'NameConflict' && !queueConflict) ? existingDeployments.find((d) => d.metadata.labels?.[LABELS.central] === name) : undefined;
        const status = (kept as DeploymentView | undefined)?.status;
        observations.push({ name, healthy, ...(problem ? { problem } : {}), desired: 0, replicas: status?.replicas ?? 0, readyReplicas: status?.readyReplicas ?? 0 });
        continue;
      }
      const replicas = shares.replicas[name] ?? 0;
      const options = { defaultImage: deps.defaultImage, replicas, ...(deps.workerServiceAccount ? { serviceAccountName: deps.workerServiceAccount } : {}) };
      const configMap = renderConfigMap(celula, central);
      const deployment = renderDeployment(celula, central, options);
      let applied: DeploymentView;
      try {
        await this.applyIfChanged(key, paths.object('v1', 'configmaps', ns, configMap.metadata.name), configMap, deps.configMaps.get(`${ns}/${configMap.metadata.name}`), (o) => o.metadata.resourceVersion);
        const path = paths.object('apps/v1', 'deployments', ns, deployment.metadata.name);
        applied = await this.applyIfChanged<DeploymentView>(key, path, deployment, deps.deployments.get(`${ns}/${deployment.metadata.name}`), byGeneration);
      } catch (error) {
        // A refusal (quota, an admission webhook, a name the API server will not take) is said
        // in the status; anything else (a timeout, a 5xx, a conflict) is only retried. The
        // other Centrals, the prune, Redis and the status go on either way; the reconcile is
        // retried with backoff at the end.
        if (error instanceof NotLeaderError) throw error;
        if (isRefusal(error)) applyErrors.push(`Central ${name}: ${(error as Error).message}`);
        else retryErrors.push(`Central ${name}: ${(error as Error).message}`);
        // What runs there is still what ran before.
        const current = deps.deployments.get(`${ns}/${deployment.metadata.name}`) as DeploymentView | undefined;
        observations.push({ name, healthy, desired: replicas, replicas: current?.status?.replicas ?? 0, readyReplicas: current?.status?.readyReplicas ?? 0 });
        continue;
      }
      // The budget is a safeguard of the workers, not what runs them: its failure is told,
      // and never counts against the workers' availability.
      const budget = renderDisruptionBudget(celula, central);
      if (!budgetTaken) {
        try {
          const path = paths.object('policy/v1', 'poddisruptionbudgets', ns, budget.metadata.name);
          await this.applyIfChanged(key, path, budget, deps.disruptionBudgets.get(`${ns}/${budget.metadata.name}`), byGeneration);
        } catch (error) {
          if (error instanceof NotLeaderError) throw error;
          if (isRefusal(error)) deps.events.record(raw, 'Warning', 'DisruptionBudgetRefused', `PodDisruptionBudget ${budget.metadata.name}: ${(error as Error).message}`);
          retryErrors.push(`PodDisruptionBudget ${budget.metadata.name}: ${(error as Error).message}`);
        }
      }
      if (!existingDeployments.some((d) => d.metadata.name === deployment.metadata.name)) {
        deps.events.record(raw, 'Normal', 'WorkersCreated', `Deployment ${deployment.metadata.name} runs ${replicas} worker(s) on Central ${name}.`);
      }
      if (rolloutOver(applied)) {
        superseded.push(...existingConfigMaps.filter((o) => o.metadata.labels?.[LABELS.central] === name && o.metadata.name !== configMap.metadata.name));
      }
      deps.metrics?.centralChannels.set({ namespace: ns, central: name, kind: 'allocated' }, (othersUse.get(name) ?? 0) + replicas * celula.spec.threads);
      deps.metrics?.centralChannels.set({ namespace: ns, central: name, kind: 'max' }, central.spec.capacity.maxChannels);
      // The ReplicaSet could not create pods (no such ServiceAccount, quota, admission): the
      // one reason for unready workers that only the Deployment's status tells.
      const failure = applied.status?.conditions?.find((c) => c.type === 'ReplicaFailure' && c.status === 'True')?.message;
      observations.push({
        name,
        healthy,
        desired: replicas,
        replicas: applied.status?.replicas ?? 0,
        readyReplicas: applied.status?.readyReplicas ?? 0,
        ...(failure ? { failure } : {}),
      });
    }

    // 4. Children of centrals no longer selected or healthy
    // A name someone else holds stops new workers, never removes running ones.
    const keep = new Set(queueConflict ? [] : centrals.filter((c) => c.healthy || keepUnhealthy || c.problem === 'NameConflict').map((c) => c.central.metadata.name));
    for (const d of existingDeployments) {
      const central = d.metadata.labels?.[LABELS.central] ?? '';
      if (keep.has(central)) continue;
      await deps.kube.delete(paths.object('apps/v1', 'deployments', ns, d.metadata.name), d.metadata.uid);
      const why = centrals.some((c) => c.central.metadata.name === central) ? 'is not Ready' : 'is no longer selected';
      deps.events.record(raw, 'Normal', 'WorkersRemoved', `Deleted Deployment ${d.metadata.name}: Central ${central} ${why}.`);
    }
    for (const [children, apiVersion, plural] of [
      [existingConfigMaps, 'v1', 'configmaps'],
      [owned(deps.disruptionBudgets), 'policy/v1', 'poddisruptionbudgets'],
    ] as const) {
      for (const o of children) {
        if (keep.has(o.metadata.labels?.[LABELS.central] ?? '') && !superseded.includes(o)) continue;
        await deps.kube.delete(paths.object(apiVersion, plural, ns, o.metadata.name), o.metadata.uid);
      }
    }

    // 5. Live parameters
    const redis: RedisObservation = queueConflict
      ? { reachable: true, pushed: false, changed: false }
      : redisTarget.ok
        ? await this.pushLiveConfig(key, celula, raw, redisTarget.target)
        : redisTarget.observation;
    if (redis.reachable && redis.changed) {
      deps.events.record(
        raw,
        'Normal',
        'LiveConfigPushed',
        `Redis config of queue ${celula.spec.queue}: threads=${celula.spec.threads} retries=${celula.spec.retries} commandResponse=${celula.spec.timeouts.commandResponse} commandAck=${celula.spec.timeouts.commandAck}.`,
      );
    }

    // 6. Status
    const status = celulaStatus(
      celula,
      {
        selector: celulaSelector(celula),
        centrals: observations,
        missing,
        desiredTotal: total,
        unplaced: shares.unplaced,
        redis,
        applyErrors,
        ...(queueConflict ? { queueConflict } : {}),
        ...(queueShared ? { queueShared } : {}),
        ...(!queueConflict && served !== undefined ? { servedQueue: served } : {}),
        ...(scale ? { scale } : {}),
      },
      deps.now?.() ?? new Date(),
    );
    await this.writeStatus(raw, celula, status);
    const who = { namespace: ns, celula: celula.metadata.name };
    deps.metrics?.celulaReplicas.set({ ...who, kind: 'actual' }, status?.replicas ?? 0);
    deps.metrics?.celulaReplicas.set({ ...who, kind: 'ready' }, status?.readyReplicas ?? 0);
    if (!scale) deps.metrics?.celulaReplicas.set({ ...who, kind: 'desired' }, total);
    if (applyErrors.length + retryErrors.length > 0) throw new Error(`applying the workers failed: ${[...applyErrors, ...retryErrors].join('; ')}`);
    // An object in the way is not watched (it may not carry our labels): look again soon.
    if (queueConflict || centrals.some((c) => c.problem === 'NameConflict' || c.budgetTaken)) return { requeueAfterMs: CONFLICT_RETRY_MS };
    return { requeueAfterMs: redis.reachable ? RESYNC_MS : REDIS_RETRY_MS };
  };

  /**
   * Why this célula's workers cannot have their names on `central`: a Deployment, ConfigMap or
   * PodDisruptionBudget of that name exists and is not this Celula's (another Celula's whose name and central
   * join into the same one, or an object made by hand). Never taken over.
   */
  private async nameConflict(ns: string, celula: Celula, central: Central): Promise<{ kind: 'Deployment' | 'ConfigMap' | 'PodDisruptionBudget'; message: string } | undefined> {
    const workers = workerName(celula.metadata.name, central.metadata.name);
    for (const [kind, cache, apiVersion, plural, name] of [
      ['Deployment', this.deps.deployments, 'apps/v1', 'deployments', workers],
      ['ConfigMap', this.deps.configMaps, 'v1', 'configmaps', configMapName(celula, central)],
      ['PodDisruptionBudget', this.deps.disruptionBudgets, 'policy/v1', 'poddisruptionbudgets', workers],
    ] as const) {
      // The caches hold only objects with the workers' labels; one made by hand is looked up
      // (once per reconcile, only while this célula has no such object of its own there).
      const path = paths.object(apiVersion, plural, ns, name);
      const existing = cache.get(`${ns}/${name}`) ?? (await this.deps.kube.get<KubeObject>(path).catch((error: unknown) => (isNotFound(error) ? undefined : Promise.reject(error))));
      if (!existing || isOwnedBy(existing, celula.metadata.uid)) continue;
      const owner = existing.metadata.ownerReferences?.find((r) => r.controller === true);
      return { kind, message: `${kind} ${ns}/${name} already exists and belongs to ${owner ? `${owner.kind} ${owner.name}` : 'no Celula'}.` };
    }
    return undefined;
  }

  /** Channels the workers of other células can hold on `central`: their replicas there × their threads. */
  private channelsOfOthers(ns: string, central: string, self: string): number {
    let used = 0;
    for (const d of this.deps.deployments.list((o) => o.metadata.namespace === ns && o.metadata.labels?.[LABELS.central] === central)) {
      const owner = d.metadata.labels?.[LABELS.celula];
      if (owner === undefined || owner === self) continue;
      const threads = (this.deps.celulas.get(`${ns}/${owner}`) as { spec?: { threads?: unknown } } | undefined)?.spec?.threads;
      const replicas = (d as { spec?: { replicas?: unknown } }).spec?.replicas;
      if (typeof threads === 'number' && typeof replicas === 'number') used += threads * replicas;
    }
    return used;
  }

  private async redisTarget(celula: Celula): Promise<{ ok: true; target: RedisTarget } | { ok: false; observation: RedisObservation }> {
    const { redis } = celula.spec;
    let password: string | undefined;
    if (redis.passwordSecretRef) {
      try {
        password = await this.secretValue(celula.metadata.namespace ?? 'default', redis.passwordSecretRef.name, redis.passwordSecretRef.key, 'spec.redis.passwordSecretRef');
      } catch (error) {
        return { ok: false, observation: { reachable: false, reason: 'PasswordSecretMissing', message: (error as Error).message } };
      }
    }
    const address = (await this.deps.resolve?.(celula.metadata.namespace ?? 'default', redis.host, redis.port)) ?? { host: redis.host, port: redis.port };
    return { ok: true, target: { ...address, db: redis.db, prefix: redis.prefix, ...(password !== undefined ? { password } : {}) } };
  }

  private async pushLiveConfig(key: string, celula: Celula, raw: KubeObject, target: RedisTarget): Promise<RedisObservation> {
    const { redis } = celula.spec;
    const result = await this.deps.live.push(key, celula.spec.queue, target, {
      threads: celula.spec.threads,
      retries: celula.spec.retries,
      commandTimeoutMs: durationMs(celula.spec.timeouts.commandResponse),
      ackTimeoutMs: durationMs(celula.spec.timeouts.commandAck),
    });
    if (result.ok) return { reachable: true, pushed: true, changed: result.changed };
    const wasReachable = isTrue(celula.status?.conditions as Condition[] | undefined, 'RedisReachable');
    const message = `Redis at ${redis.host}:${redis.port} db ${redis.db} does not answer: ${result.error}. Check spec.redis and that Redis runs; retrying every ${REDIS_RETRY_MS / 1000} s.`;
    if (wasReachable || !celula.status?.conditions) this.deps.events.record(raw, 'Warning', 'RedisUnreachable', message);
    return { reachable: false, reason: 'ConnectionFailed', message };
  }

  private async secretValue(ns: string, name: string, key: string, usedBy: string): Promise<string> {
    // Read through a short-lived copy: every reconcile needs the same few Secrets (a Redis
    // password, one AMI user per Central), and hundreds of células would otherwise GET them
    // many times a second. A rotated value is seen within SECRET_TTL_MS.
    const path = paths.object('v1', 'secrets', ns, name);
    const now = performance.now();
    let cached = this.secrets.get(path);
    if (!cached || now - cached.at > SECRET_TTL_MS) {
      try {
        cached = { at: now, secret: await this.deps.kube.get<SecretObject>(path) };
      } catch (error) {
        this.secrets.delete(path);
        if (isNotFound(error)) throw new Error(`Secret ${ns}/${name} (named by ${usedBy}) does not exist`);
        throw error;
      }
      this.secrets.set(path, cached);
    }
    const { secret } = cached;
    const value = secret.data?.[key];
    if (value === undefined) throw new Error(`Secret ${ns}/${name} (named by ${usedBy}) has no key ${key}`);
    return Buffer.from(value, 'base64').toString('utf8').replace(/\r?\n$/, '');
  }

  private async writeStatus(raw: KubeObject, celula: Celula, status: Celula['status']): Promise<void> {
    const before = (raw as { status?: unknown }).status;
    const ns = celula.metadata.namespace ?? 'default';
    const key = `${ns}/${celula.metadata.name}`;
    const wanted = stableJson(status);
    const digest = createHash('sha1').update(wanted).digest('base64');
    // The cache may not show our last write yet: a status that went S0 → S1 → S0 within a
    // watch delay must still be written back to S0, or S1 stays until the next resync.
    const written = this.statusWritten.get(key);
    if (stableJson(before ?? {}) === wanted && (written === undefined || written === digest)) return;
    await this.deps.kube.apply(`${celulaPath(ns, celula.metadata.name)}/status`, {
      apiVersion: API_VERSION,
      kind: 'Celula',
      metadata: { name: celula.metadata.name, namespace: ns },
      status,
    });
    this.statusWritten.set(key, digest);
    const was = findCondition((before as Celula['status'])?.conditions as Condition[] | undefined, 'Ready');
    const now = findCondition(status?.conditions as Condition[] | undefined, 'Ready');
    if (now && (was?.status !== now.status || was.reason !== now.reason)) {
      this.deps.events.record(raw, now.status === 'True' ? 'Normal' : 'Warning', now.status === 'True' ? 'Ready' : now.reason, now.message);
    }
  }

  private async writeInvalid(raw: KubeObject, error: InvalidResourceError): Promise<void> {
    const ns = raw.metadata.namespace ?? 'default';
    const stamp = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
    const message = `The Celula is invalid: ${error.problems.join('; ')}. Fix the spec; the operator retries when it changes.`;
    const previous = (raw as { status?: { observedGeneration?: number; conditions?: Condition[] } }).status ?? {};
    const generation = raw.metadata.generation ?? 0;
    const ready = findCondition(previous.conditions, 'Ready');
    if (ready?.reason === 'InvalidSpec' && ready.message === message && previous.observedGeneration === generation) return; // said already
    // The rest of the status is kept: the workers run on as they were, so the Celula still
    // serves its queue (servedQueue: no other may take it meanwhile), and the scale
    // subresource (an HPA in external mode) still needs the selector.
    await this.deps.kube.apply(`${celulaPath(ns, raw.metadata.name)}/status`, {
      apiVersion: API_VERSION,
      kind: 'Celula',
      metadata: { name: raw.metadata.name, namespace: ns },
      status: {
        ...previous,
        observedGeneration: generation,
        conditions: [{ type: 'Ready', status: 'False', observedGeneration: generation, lastTransitionTime: stamp, reason: 'InvalidSpec', message }],
      },
    });
    this.statusWritten.delete(`${ns}/${raw.metadata.name}`);
    this.deps.events.record(raw, 'Warning', 'InvalidSpec', message);
  }
}

