/**
 * The operator, wired: informers for Celulas, Centrals and the workers' Deployments and
 * ConfigMaps feed two controllers; leader election decides which process runs them.
 *
 *   Celula  ──┐                         ┌─▶ ConfigMap + Deployment per healthy Central
 *   Central ──┼─▶ celula queue ─▶ CelulaReconciler ─┼─▶ Redis config hash (live parameters)
 *   Deployment/ConfigMap (owned) ─┘      └─▶ Celula status, events
 *   Central ──▶ central queue ─▶ CentralReconciler ─▶ AMI probe ─▶ Central status
 *
 * Every process keeps its informers warm; only the leader's workers take keys from the
 * queues, and every write passes the leader's fence.
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import { API_VERSION, CELULA_NAMES, CENTRAL_NAMES } from '../api/index.js';
import { startHttp } from '../lib/http.js';
import type { Logger } from '../lib/log.js';
import { CelulaReconciler, selects } from './celula/reconciler.js';
import { LiveConfigPusher } from './celula/live-config.js';
import { Autoscaler, type AutoscalerMetrics } from './autoscale/autoscaler.js';
import { RedisPool } from './redis/pool.js';
import { LABELS, MANAGED_BY, WORKER_APP } from './celula/render.js';
import { CentralReconciler } from './central/reconciler.js';
import { probeAmi, type Prober } from './central/probe.js';
import { specAddress, type AddressResolver } from './runtime/address.js';
import { childSummary, ResourceCache, withoutManagedFields } from './runtime/cache.js';
import { isTrue, type Condition } from './runtime/conditions.js';
import { Controller } from './runtime/controller.js';
import { KubeEventRecorder } from './runtime/events.js';
import { keyOf } from './runtime/informer.js';
import type { KubeClient, KubeObject } from './runtime/kube.js';
import { DEFAULT_ELECTION, LeaderElector, type LeaderElectionConfig } from './runtime/leader.js';
import { createOperatorMetrics, type OperatorMetrics } from './runtime/metrics.js';
import { parseCelula } from '../api/index.js';

export interface OperatorOptions {
  kube: KubeClient;
  logger: Logger;
  /** Namespaces to watch; empty or undefined: all. */
  namespaces?: string[];
  leaderElection: boolean;
  leaseNamespace: string;
  leaseName?: string;
  /** Unique per process; defaults to hostname + random suffix. */
  identity?: string;
  election?: LeaderElectionConfig;
  /** -1 turns the server off; 0 picks a free port. */
  metricsPort: number;
  healthPort: number;
  workerImage: string;
  workerServiceAccount?: string;
  probe?: Prober;
  /** Relist an informer whose watch was silent this long. */
  informerSilenceMs?: number;
  celulaWorkers?: number;
  centralWorkers?: number;
  /** Maps spec host names (short ones qualified with the object's namespace first) to reachable addresses when the operator runs outside the cluster. */
  resolve?: AddressResolver;
  /** How often the autoscaler reads the queues (ms, at most 1000). */
  queuePollMs?: number;
}

export interface RunningOperator {
  identity: string;
  metrics: OperatorMetrics;
  ports: { metrics?: number; health?: number };
  isLeader(): boolean;
  stop(): Promise<void>;
}

/** Metadata that, when unchanged, means an update was only a status write. */
const specChanged = (a: KubeObject, b: KubeObject): boolean =>
  a.metadata.generation !== b.metadata.generation ||
  JSON.stringify(a.metadata.labels ?? {}) !== JSON.stringify(b.metadata.labels ?? {}) ||
  JSON.stringify(a.metadata.annotations ?? {}) !== JSON.stringify(b.metadata.annotations ?? {}) ||
  a.metadata.deletionTimestamp !== b.metadata.deletionTimestamp;

const centralReady = (c: KubeObject): boolean => isTrue((c as { status?: { conditions?: Condition[] } }).status?.conditions, 'Ready');

export async function startOperator(opts: OperatorOptions): Promise<RunningOperator> {
  const { kube, logger } = opts;
  const identity = opts.identity ?? `${hostname()}-${randomBytes(3).toString('hex')}`;
  const metrics = createOperatorMetrics();
  const onRestart = (resource: string, reason: string) => metrics.informerRestarts.inc({ resource, reason });
  kube.onWrite = (verb, path) => metrics.kubeWrites.inc({ verb, resource: resourceOf(path) });

  const common = { namespaces: opts.namespaces, logger, onRestart, silenceMs: opts.informerSilenceMs };
  const workerSelector = `${LABELS.name}=${WORKER_APP},${LABELS.managedBy}=${MANAGED_BY}`;
  // The caches keep only what reconcilers read; for 500 células that is most of the heap.
  const celulas = new ResourceCache<KubeObject>(kube, { ...common, transform: withoutManagedFields, resource: 'celulas', apiVersion: API_VERSION, plural: CELULA_NAMES.plural });
  const centrals = new ResourceCache<KubeObject>(kube, { ...common, transform: withoutManagedFields, resource: 'centrals', apiVersion: API_VERSION, plural: CENTRAL_NAMES.plural });
  const deployments = new ResourceCache<KubeObject>(kube, { ...common, transform: childSummary, resource: 'deployments', apiVersion: 'apps/v1', plural: 'deployments', labelSelector: workerSelector });
  const configMaps = new ResourceCache<KubeObject>(kube, { ...common, transform: childSummary, resource: 'configmaps', apiVersion: 'v1', plural: 'configmaps', labelSelector: workerSelector });
  const disruptionBudgets = new ResourceCache<KubeObject>(kube, { ...common, transform: childSummary, resource: 'poddisruptionbudgets', apiVersion: 'policy/v1', plural: 'poddisruptionbudgets', labelSelector: workerSelector });

  const events = new KubeEventRecorder(kube, logger, identity);
  const redisPool = new RedisPool();
  const resolve = specAddress(opts.resolve);
  const live = new LiveConfigPusher(redisPool, () => kube.writeGuard());
  // The autoscaler asks for a reconcile through the same queue as every other change.
  let enqueueCelula: (key: string) => void = () => undefined;
  const autoscaler = new Autoscaler({
    pool: redisPool,
    logger,
    onChange: (key) => enqueueCelula(key),
    metrics: autoscalerMetrics(metrics),
    ...(opts.queuePollMs !== undefined ? { intervalMs: opts.queuePollMs } : {}),
  });
  const celulaReconciler = new CelulaReconciler({
    kube,
    celulas,
    centrals,
    deployments,
    configMaps,
    disruptionBudgets,
    live,
    autoscaler,
    forgetRedis: (key) => redisPool.forget(key),
    resolve,
    metrics,
    events,
    logger,
    defaultImage: opts.workerImage,
    ...(opts.workerServiceAccount ? { workerServiceAccount: opts.workerServiceAccount } : {}),
  });
  const celulaController = new Controller({
    kind: 'Celula',
    workers: opts.celulaWorkers ?? 4,
    logger,
    metrics,
    reconcile: celulaReconciler.reconcile,
  });
  const centralReconciler = new CentralReconciler({ kube, centrals, probe: opts.probe ?? probeAmi, events, logger, metrics, resolve });
  const centralController = new Controller({
    kind: 'Central',
    workers: opts.centralWorkers ?? 4,
    logger,
    metrics,
    reconcile: centralReconciler.reconcile,
  });

  enqueueCelula = (key) => celulaController.enqueue(key);

  // Celulas: every change but our own status writes.
  celulas.on({
    add: (c) => celulaController.enqueue(keyOf(c)),
    update: (a, b) => specChanged(a, b) && celulaController.enqueue(keyOf(b)),
    delete: (c) => celulaController.enqueue(keyOf(c)),
  });

  // Centrals: their own queue on spec/label changes; the Celulas that select them when
  // their labels, spec or readiness change.
  const celulasSelecting = (central: KubeObject): string[] =>
    celulas
      .list((c) => c.metadata.namespace === central.metadata.namespace)
      .filter((c) => {
        try {
          return selects(parseCelula(c), central);
        } catch {
          return false;
        }
      })
      .map(keyOf);
  const requeueSelecting = (...objs: KubeObject[]) => {
    for (const key of new Set(objs.flatMap(celulasSelecting))) celulaController.enqueue(key);
  };
  centrals.on({
    add: (c) => {
      centralController.enqueue(keyOf(c));
      requeueSelecting(c);
    },
    update: (a, b) => {
      if (specChanged(a, b)) centralController.enqueue(keyOf(b));
      if (specChanged(a, b) || centralReady(a) !== centralReady(b)) requeueSelecting(a, b);
    },
    delete: (c) => requeueSelecting(c),
  });

  // Owned children: any change (status included — that is where readyReplicas comes from,
  // and a hand edit or a deletion is drift to undo) goes to the owning Celula.
  const toOwner = (o: KubeObject) => {
    const owner = (o.metadata.ownerReferences ?? []).find((r) => r.controller && r.kind === 'Celula' && r.apiVersion.startsWith('multcall.zanc.com.br/'));
    if (owner && o.metadata.namespace) celulaController.enqueue(`${o.metadata.namespace}/${owner.name}`);
  };
  for (const cache of [deployments, configMaps, disruptionBudgets]) cache.on({ add: toOwner, update: (_a, b) => toOwner(b), delete: toOwner });
  // A central's free channels are shared: when one célula's workers there shrink or go, or
  // a célula there lowers its threads, the células that could not place all their
  // replicas re-apportion. Growth never frees room, and the others have what they want.
  const replicasOf = (o: KubeObject) => (o as { spec?: { replicas?: unknown } }).spec?.replicas;
  const requeueShortOfRoom = (central: KubeObject | undefined, except: string) => {
    if (!central) return;
    for (const key of celulasSelecting(central)) if (key !== except && celulaReconciler.isShortOfRoom(key)) celulaController.enqueue(key);
  };
  const centralOf = (d: KubeObject) => centrals.get(`${d.metadata.namespace ?? ''}/${d.metadata.labels?.[LABELS.central] ?? ''}`);
  const ownerKey = (d: KubeObject) => `${d.metadata.namespace ?? ''}/${d.metadata.labels?.[LABELS.celula] ?? ''}`;
  deployments.on({
    update: (a, b) => {
      const [was, now] = [replicasOf(a), replicasOf(b)];
      if (typeof was === 'number' && typeof now === 'number' && now < was) requeueShortOfRoom(centralOf(b), ownerKey(b));
    },
    delete: (d) => requeueShortOfRoom(centralOf(d), ownerKey(d)),
  });
  const threadsOf = (o: KubeObject) => (o as { spec?: { threads?: unknown } }).spec?.threads;
  celulas.on({
    update: (a, b) => {
      const [was, now] = [threadsOf(a), threadsOf(b)];
      if (typeof was !== 'number' || typeof now !== 'number' || now >= was) return;
      for (const d of deployments.list((o) => ownerKey(o) === keyOf(b))) requeueShortOfRoom(centralOf(d), keyOf(b));
    },
  });

  const caches = [celulas, centrals, deployments, configMaps, disruptionBudgets];
  for (const c of caches) c.start();
  celulaController.start();
  centralController.start();

  let leading = false;
  const onStartedLeading = () => {
    leading = true;
    metrics.leader.set(1);
    // A new leader trusts nothing it did not reconcile itself: everything goes through once.
    for (const key of celulas.keys()) celulaController.enqueue(key);
    for (const key of centrals.keys()) centralController.enqueue(key);
    celulaController.setActive(true);
    centralController.setActive(true);
    autoscaler.start();
  };
  const onStoppedLeading = () => {
    leading = false;
    metrics.leader.set(0);
    celulaController.setActive(false);
    centralController.setActive(false);
    // What this process decided and counted is stale once another leads.
    void autoscaler.stop();
    autoscaler.reset();
    centralReconciler.reset();
  };

  let elector: LeaderElector | undefined;
  if (opts.leaderElection) {
    elector = new LeaderElector(
      kube,
      { namespace: opts.leaseNamespace, name: opts.leaseName ?? 'multcall-operator', identity, config: opts.election ?? DEFAULT_ELECTION, logger },
      { onStartedLeading, onStoppedLeading, onNewLeader: (who) => logger.info({ leader: who }, 'leader observed') },
    );
    const fence = elector;
    kube.writeGuard = () => fence.mayWrite();
  }

  const servers: Server[] = [];
  const ports: RunningOperator['ports'] = {};
  const checks = {
    ready: () => ({ informersSynced: caches.every((c) => c.hasSynced()) }),
  };
  if (opts.metricsPort >= 0) {
    const s = await startHttp(opts.metricsPort, metrics.registry, checks);
    servers.push(s.server);
    ports.metrics = s.port;
  }
  if (opts.healthPort >= 0) {
    const s = await startHttp(opts.healthPort, metrics.registry, checks);
    servers.push(s.server);
    ports.health = s.port;
  }

  await Promise.all(caches.map((c) => c.waitForSync()));
  logger.info({ identity, namespaces: opts.namespaces?.length ? opts.namespaces : 'all' }, 'caches synced');
  if (elector) elector.start();
  else onStartedLeading();

  let stopping: Promise<void> | undefined;
  return {
    identity,
    metrics,
    ports,
    isLeader: () => leading && (elector ? elector.mayWrite() : true),
    stop() {
      stopping ??= (async () => {
        // Finish the reconciles in flight, then give the lease up so a standby starts at once.
        await autoscaler.stop();
        await Promise.all([celulaController.stop(), centralController.stop()]);
        if (elector) await elector.stop();
        await Promise.all(caches.map((c) => c.stop()));
        redisPool.closeAll();
        await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
        logger.info({ identity }, 'operator stopped');
      })();
      return stopping;
    },
  };
}

function resourceOf(path: string): string {
  const parts = path.split('?')[0]?.split('/') ?? [];
  const i = parts.indexOf('namespaces');
  const rest = i >= 0 ? parts.slice(i + 2) : parts.slice(parts[1] === 'api' ? 3 : 4);
  return rest.length > 2 ? `${rest[0]}/${rest[2]}` : (rest[0] ?? 'unknown');
}

function autoscalerMetrics(m: OperatorMetrics): AutoscalerMetrics {
  const labels = (key: string) => {
    const [namespace = '', celula = ''] = key.split('/');
    return { namespace, celula };
  };
  return {
    signal(key, queued, inFlight) {
      m.celulaQueued.set(labels(key), queued);
      m.celulaInFlight.set(labels(key), inFlight);
    },
    desired: (key, replicas) => m.celulaReplicas.set({ ...labels(key), kind: 'desired' }, replicas),
    decision: (direction) => m.scaleDecisions.inc({ direction }),
    pollFailed: () => m.queuePollFailures.inc(),
    forget(key) {
      m.celulaQueued.remove(labels(key));
      m.celulaInFlight.remove(labels(key));
      m.celulaReplicas.remove({ ...labels(key), kind: 'desired' });
    },
  };
}
