/**
 * What a Celula's status says, decided from what the reconcile observed. Pure; the
 * reconciler only writes the result when it differs from what is there.
 */
import { STATUS_CENTRALS_MAX, type Celula, type CelulaCentralStatus, type CelulaStatus } from '../../api/index.js';
import type { ScaleView } from '../autoscale/autoscaler.js';
import { mergeConditions, type Condition, type ConditionInput } from '../runtime/conditions.js';

export interface CentralObservation {
  name: string;
  healthy: boolean;
  /** Why it is not healthy, for the message. */
  problem?: string;
  /** Replicas the Deployment asks for on this central (0 for an unhealthy central). */
  desired: number;
  replicas: number;
  readyReplicas: number;
  /** Why the Deployment's pods could not be created, as its ReplicaFailure condition says. */
  failure?: string;
}

export type RedisObservation = { reachable: true; pushed: boolean; changed: boolean } | { reachable: false; reason: string; message: string };

export interface Observation {
  selector: string;
  centrals: CentralObservation[];
  /** Names listed in spec.centrals.names that do not exist. */
  missing: string[];
  desiredTotal: number;
  unplaced: number;
  redis: RedisObservation;
  /** Why another Celula keeps this one's queue: it runs no workers and pushes nothing. */
  queueConflict?: string;
  /** Which other Celulas serve the same queue alongside this one (none is stopped). */
  queueShared?: string;
  /** The queue this Celula holds (queue-owner.ts): absent while another one keeps it. */
  servedQueue?: string;
  /** What the API server refused when the workers were applied, one entry per central. */
  applyErrors?: string[];
  /** The autoscaler's view, in queue mode. */
  scale?: ScaleView;
}

/** Names in a condition message: the first few and a count, so that a message stays far under the API's limit. */
const NAMES_IN_A_MESSAGE = 20;
/** Longest entry quoted (an API server's refusal can be long). */
const ENTRY_IN_A_MESSAGE = 512;
function listed(names: readonly string[], separator = ', '): string {
  const shown = names.slice(0, NAMES_IN_A_MESSAGE).map((n) => (n.length > ENTRY_IN_A_MESSAGE ? `${n.slice(0, ENTRY_IN_A_MESSAGE)}…` : n));
  return names.length <= NAMES_IN_A_MESSAGE ? shown.join(separator) : `${shown.join(separator)}${separator}and ${names.length - NAMES_IN_A_MESSAGE} more`;
}

export function celulaConditions(celula: Celula, o: Observation): ConditionInput[] {
  const healthy = o.centrals.filter((c) => c.healthy);
  const unhealthy = o.centrals.filter((c) => !c.healthy);
  const describeUnhealthy = listed(unhealthy.map((c) => `${c.name}${c.problem ? ` (${c.problem})` : ''}`));
  const missing = o.missing.length ? ` Not found: ${listed(o.missing)}.` : '';

  let centrals: ConditionInput;
  if (o.centrals.length === 0) {
    centrals = {
      type: 'CentralsAvailable',
      status: 'False',
      reason: 'NoCentralSelected',
      message: `spec.centrals matches no Central in namespace ${celula.metadata.namespace ?? ''}.${missing} Create a Central or fix the selector/names.`,
    };
  } else if (healthy.length === 0) {
    const kept = o.centrals.reduce((n, c) => n + c.replicas, 0);
    centrals = {
      type: 'CentralsAvailable',
      status: 'False',
      reason: 'NoHealthyCentral',
      message: `No selected Central can take workers: ${describeUnhealthy}.${missing} Check the Centrals' AMI host, port and credentials (kubectl describe central).${
        kept > 0 ? ` The ${kept} worker(s) already running are kept: they take no calls while their central does not answer.` : ''
      }`,
    };
  } else if (unhealthy.length > 0 || o.missing.length > 0) {
    centrals = {
      type: 'CentralsAvailable',
      status: 'True',
      reason: 'SomeCentralsUnavailable',
      message: `Placing calls on ${listed(healthy.map((c) => c.name))}.${unhealthy.length ? ` No workers on: ${describeUnhealthy}.` : ''}${missing}`,
    };
  } else {
    centrals = { type: 'CentralsAvailable', status: 'True', reason: 'CentralsReady', message: `Placing calls on ${listed(healthy.map((c) => c.name))}.` };
  }

  const ready = o.centrals.reduce((n, c) => n + c.readyReplicas, 0);
  let workers: ConditionInput;
  if (o.queueConflict) {
    workers = { type: 'WorkersAvailable', status: 'False', reason: 'QueueConflict', message: o.queueConflict };
  } else if (o.applyErrors?.length) {
    workers = { type: 'WorkersAvailable', status: 'False', reason: 'ApplyFailed', message: `The API server refused the workers' objects: ${listed(o.applyErrors, '; ')}` };
  } else if (o.desiredTotal === 0) {
    workers = { type: 'WorkersAvailable', status: 'True', reason: 'ScaledToZero', message: 'No worker replicas are wanted.' };
  } else if (healthy.length === 0) {
    workers = { type: 'WorkersAvailable', status: 'False', reason: 'NoHealthyCentral', message: 'No worker takes calls: no selected Central is Ready.' };
  } else if (ready < o.desiredTotal - o.unplaced) {
    const failures = o.centrals.filter((c) => c.failure).map((c) => `on Central ${c.name}: ${c.failure}`);
    workers = {
      type: 'WorkersAvailable',
      status: 'False',
      reason: failures.length ? 'PodsNotCreated' : 'WorkersNotReady',
      message: failures.length
        ? `${ready} of ${o.desiredTotal - o.unplaced} worker pods are ready; pods could not be created ${listed(failures, '; ')}.${failures.some((f) => /serviceaccount .*not found/i.test(f)) ? ` The workers' ServiceAccount is made by the chart in the namespaces it is told of: add ${celula.metadata.namespace ?? 'this namespace'} to workers.serviceAccount.extraNamespaces (or watchNamespaces).` : ''}`
        : `${ready} of ${o.desiredTotal - o.unplaced} worker pods are ready. kubectl get pods -l ${o.selector} shows which are not.`,
    };
  } else if (o.unplaced > 0) {
    workers = {
      type: 'WorkersAvailable',
      status: 'True',
      reason: 'CapacityReached',
      message: `${ready} workers ready; ${o.unplaced} more wanted but the healthy Centrals' maxChannels allow no more at ${celula.spec.threads} threads each.`,
    };
  } else {
    workers = { type: 'WorkersAvailable', status: 'True', reason: 'WorkersReady', message: `${ready} of ${o.desiredTotal} worker pods are ready.` };
  }

  const where = `${celula.spec.redis.host}:${celula.spec.redis.port}`;
  const redis: ConditionInput = o.queueConflict
    ? { type: 'RedisReachable', status: 'Unknown', reason: 'QueueConflict', message: `Redis at ${where} is not used: the queue is another Celula's.` }
    : o.redis.reachable
      ? { type: 'RedisReachable', status: 'True', reason: 'Connected', message: `Redis at ${where} answers.` }
      : { type: 'RedisReachable', status: 'False', reason: o.redis.reason, message: o.redis.message };
  const pushed: ConditionInput = o.queueConflict
    ? { type: 'ConfigPushed', status: 'False', reason: 'QueueConflict', message: 'Live parameters are not written: the queue\'s config hash is the other Celula\'s.' }
    : o.redis.reachable
    ? {
        type: 'ConfigPushed',
        status: 'True',
        reason: 'LiveConfigCurrent',
        message: `Workers run with threads=${celula.spec.threads}, retries=${celula.spec.retries}, timeouts ${celula.spec.timeouts.commandResponse}/${celula.spec.timeouts.commandAck}.`,
      }
    : { type: 'ConfigPushed', status: 'False', reason: 'RedisUnreachable', message: `Live parameters could not be written to Redis at ${where}; running workers keep their last values.` };

  const parts = [centrals, workers, redis, pushed];
  const failing = parts.find((c) => c.status !== 'True');
  const summary: ConditionInput = o.queueConflict
    ? { type: 'Ready', status: 'False', reason: 'QueueConflict', message: o.queueConflict }
    : failing
    ? { type: 'Ready', status: 'False', reason: failing.reason, message: failing.message }
    : o.queueShared
    ? { type: 'Ready', status: 'False', reason: 'QueueShared', message: o.queueShared }
    : { type: 'Ready', status: 'True', reason: 'Ready', message: `${ready} workers on ${healthy.length} central(s) serve queue ${celula.spec.queue}.` };
  if (!o.scale) return [summary, ...parts];
  // How the autoscaler decided, apart from Ready: a célula keeps serving while its queue is unreadable.
  const scaling: ConditionInput = o.scale.error
    ? { type: 'Autoscaling', status: 'False', reason: 'QueueUnreadable', message: o.scale.message }
    : { type: 'Autoscaling', status: 'True', reason: 'FollowingQueue', message: o.scale.message };
  return [summary, ...parts, scaling];
}

export function celulaStatus(celula: Celula, o: Observation, now: Date): CelulaStatus {
  const previous = celula.status?.conditions as Condition[] | undefined;
  // Those with workers first, so that a selector matching more Centrals than the list holds
  // (the API server would refuse the whole status) still lists where the workers are.
  const withWorkers = (c: CentralObservation) => c.replicas + c.desired > 0;
  const listed =
    o.centrals.length <= STATUS_CENTRALS_MAX
      ? o.centrals
      : [...o.centrals.filter(withWorkers), ...o.centrals.filter((c) => !withWorkers(c))].slice(0, STATUS_CENTRALS_MAX).sort((a, b) => a.name.localeCompare(b.name));
  const centrals: CelulaCentralStatus[] = listed.map((c) => ({ name: c.name, replicas: c.replicas, readyReplicas: c.readyReplicas, healthy: c.healthy }));
  const status: CelulaStatus = {
    observedGeneration: celula.metadata.generation ?? 0,
    conditions: mergeConditions(previous, celulaConditions(celula, o), celula.metadata.generation, now),
    replicas: o.centrals.reduce((n, c) => n + c.replicas, 0),
    readyReplicas: o.centrals.reduce((n, c) => n + c.readyReplicas, 0),
    desiredReplicas: o.centrals.reduce((n, c) => n + c.desired, 0),
    selector: o.selector,
    centrals,
  };
  if (o.servedQueue !== undefined) status.servedQueue = o.servedQueue;
  // Queue figures exist only where the autoscaler reads the queue (queue mode).
  if (o.scale?.queued !== undefined) status.queued = o.scale.queued;
  if (o.scale?.inFlight !== undefined) status.inFlight = o.scale.inFlight;
  const scaledAt = o.scale?.lastScaleTime?.toISOString().replace(/\.\d{3}Z$/, 'Z') ?? celula.status?.lastScaleTime;
  if (scaledAt !== undefined) status.lastScaleTime = scaledAt;
  return status;
}

/** JSON with sorted keys, to compare a computed status with the stored one. */
export function stableJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => a.localeCompare(b)))
      : v,
  );
}
