/**
 * Celula + Central → the objects that run its workers there: a ConfigMap with the worker
 * settings file, a Deployment and its PodDisruptionBudget. Pure: the same inputs always give
 * the same objects, so a reconcile that applies them again changes nothing.
 */
import { createHash } from 'node:crypto';
import { stringify as toYaml } from 'yaml';
import { API_VERSION, durationMs, WORKER_HTTP_PORT, workerFileFor, type Celula, type Central } from '../../api/index.js';
import type { KubeObject, OwnerReference } from '../runtime/kube.js';
import { selectorString } from '../runtime/selector.js';
import { WORKER_NODE_OPTIONS } from '../../worker/node-options.js';

export const LABELS = {
  name: 'app.kubernetes.io/name',
  instance: 'app.kubernetes.io/instance',
  component: 'app.kubernetes.io/component',
  partOf: 'app.kubernetes.io/part-of',
  managedBy: 'app.kubernetes.io/managed-by',
  celula: 'multcall.zanc.com.br/celula',
  central: 'multcall.zanc.com.br/central',
} as const;
export const WORKER_APP = 'multcall-worker';
export const MANAGED_BY = 'multcall-operator';

export const CONFIG_DIR = '/etc/multcall';
export const CONFIG_FILE = 'worker.yaml';
export const AMI_SECRET_DIR = '/var/run/secrets/multcall/ami';
export const REDIS_SECRET_DIR = '/var/run/secrets/multcall/redis';
/** Extra seconds past drain_timeout before the kubelet kills a draining worker. */
export const GRACE_MARGIN_SECONDS = 30;

export interface RenderOptions {
  /** Image when the Celula does not set spec.worker.image. */
  defaultImage: string;
  /** ServiceAccount of the worker pods (one without RBAC); the namespace's default when undefined. */
  serviceAccountName?: string;
  /** Worker replicas this célula runs on this central. */
  replicas: number;
}

/** Labels that select every worker pod of a célula: status.selector, for the scale subresource. */
export function celulaSelectorLabels(celula: Celula): Record<string, string> {
  return { [LABELS.name]: WORKER_APP, [LABELS.celula]: celula.metadata.name };
}

export function celulaSelector(celula: Celula): string {
  return selectorString(celulaSelectorLabels(celula));
}

export function workerLabels(celula: Celula, central: Central): Record<string, string> {
  return { ...celulaSelectorLabels(celula), [LABELS.central]: central.metadata.name };
}

/** `<celula>-<central>`, shortened with a hash when longer than a Deployment's pods allow comfortably. */
export function workerName(celula: string, central: string): string {
  const full = `${celula}-${central}`;
  if (full.length <= 52) return full;
  const hash = createHash('sha256').update(full).digest('hex').slice(0, 8);
  // A cut that ends in '.' or '-' would not be a valid name once the hash follows.
  return `${full.slice(0, 43).replace(/[-.]+$/, '')}-${hash}`;
}

export function ownerReference(celula: Celula): OwnerReference {
  return { apiVersion: API_VERSION, kind: 'Celula', name: celula.metadata.name, uid: celula.metadata.uid ?? '', controller: true, blockOwnerDeletion: true };
}

function metadata(celula: Celula, central: Central, name: string) {
  return {
    name,
    namespace: celula.metadata.namespace,
    labels: {
      ...workerLabels(celula, central),
      [LABELS.instance]: celula.metadata.name,
      [LABELS.component]: 'worker',
      [LABELS.partOf]: 'multcall',
      [LABELS.managedBy]: MANAGED_BY,
    },
    ownerReferences: [ownerReference(celula)],
  };
}

/** The settings file for workers of `celula` on `central`. */
export function workerSettings(celula: Celula, central: Central): ReturnType<typeof workerFileFor> {
  // The Central's whole capacity, not a share per replica: the workers of every célula on
  // the central enforce it together through Redis (docs/protocol.md, "Central guards").
  return workerFileFor(celula, central);
}

/**
 * Hash of what a running worker cannot pick up without a restart. Threads, retries and
 * timeouts are left out: they reach workers through Redis, so a live change restarts
 * nobody. The file no longer depends on the replica count, so neither does a scale. A
 * change of the Central's capacity rolls the workers (they read it at start).
 */
export function configHash(settings: ReturnType<typeof workerFileFor>): string {
  const stable = {
    ...settings,
    Queues: settings.Queues.map((q) => ({ nome: q.nome })),
    Retries: undefined,
    Timeout_Command_Response: undefined,
    Timeout_Command_ACK: undefined,
  };
  return createHash('sha256').update(JSON.stringify(stable)).digest('hex').slice(0, 16);
}

/**
 * `<workers>-<configHash>`: a settings file per version of what workers read at start. Each
 * ReplicaSet's pods mount the file of their own version, so a pod of the old one that
 * restarts in the middle of a rollout starts as it did before, not with settings its image
 * may not know. Live values (threads, retries, timeouts) change the file in place: workers
 * take them from Redis, and the file's copy only seeds a worker that starts before Redis
 * answers. Versions no pod uses any more are pruned once the rollout is over.
 */
export function configMapName(celula: Celula, central: Central): string {
  return `${workerName(celula.metadata.name, central.metadata.name)}-${configHash(workerSettings(celula, central)).slice(0, 10)}`;
}

export function renderConfigMap(celula: Celula, central: Central): KubeObject {
  const settings = workerSettings(celula, central);
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: metadata(celula, central, configMapName(celula, central)),
    data: { [CONFIG_FILE]: toYaml(settings) },
  };
}

/**
 * At most one worker of a célula on a central evicted at a time (a node drain, a cluster
 * upgrade): each one evicted drains its calls and a new one takes its place, so the célula
 * keeps its capacity there. An unready worker (its central or Redis not answering) may
 * always be evicted — it takes no new calls, and drains or hands off what it holds on
 * SIGTERM like any other — so that a PBX outage never holds a node drain hostage.
 */
export function renderDisruptionBudget(celula: Celula, central: Central): KubeObject {
  return {
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    metadata: metadata(celula, central, workerName(celula.metadata.name, central.metadata.name)),
    spec: { maxUnavailable: 1, selector: { matchLabels: workerLabels(celula, central) }, unhealthyPodEvictionPolicy: 'AlwaysAllow' },
  };
}

export function renderDeployment(celula: Celula, central: Central, opts: RenderOptions): KubeObject {
  const { spec } = celula;
  const name = workerName(celula.metadata.name, central.metadata.name);
  const labels = workerLabels(celula, central);
  const meta = metadata(celula, central, name);
  const drainSeconds = Math.ceil(durationMs(spec.worker.drainTimeout) / 1000);
  const amiRef = central.spec.ami.credentialsSecretRef;
  const redisRef = spec.redis.passwordSecretRef;

  const env: unknown[] = [
    { name: 'MULTCALL_WORKER_ID', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
    { name: 'AMI_USERNAME_FILE', value: `${AMI_SECRET_DIR}/username` },
    { name: 'AMI_SECRET_FILE', value: `${AMI_SECRET_DIR}/secret` },
    { name: 'NODE_OPTIONS', value: WORKER_NODE_OPTIONS },
  ];
  if (redisRef) env.push({ name: 'REDIS_PASSWORD_FILE', value: `${REDIS_SECRET_DIR}/password` });

  const volumeMounts: unknown[] = [
    { name: 'config', mountPath: CONFIG_DIR, readOnly: true },
    { name: 'ami-secret', mountPath: AMI_SECRET_DIR, readOnly: true },
    { name: 'tmp', mountPath: '/tmp' },
  ];
  const volumes: unknown[] = [
    { name: 'config', configMap: { name: configMapName(celula, central), items: [{ key: CONFIG_FILE, path: CONFIG_FILE }] } },
    {
      name: 'ami-secret',
      secret: { secretName: amiRef.name, items: [{ key: amiRef.usernameKey, path: 'username' }, { key: amiRef.secretKey, path: 'secret' }], defaultMode: 0o440 },
    },
    { name: 'tmp', emptyDir: { sizeLimit: '64Mi' } },
  ];
  if (redisRef) {
    volumeMounts.push({ name: 'redis-password', mountPath: REDIS_SECRET_DIR, readOnly: true });
    volumes.push({ name: 'redis-password', secret: { secretName: redisRef.name, items: [{ key: redisRef.key, path: 'password' }], defaultMode: 0o440 } });
  }

  const container: Record<string, unknown> = {
    name: 'worker',
    image: spec.worker.image ?? opts.defaultImage,
    args: ['worker', '--config', `${CONFIG_DIR}/${CONFIG_FILE}`, '--celula', spec.queue],
    env,
    ports: [{ name: 'http', containerPort: WORKER_HTTP_PORT, protocol: 'TCP' }],
    readinessProbe: { httpGet: { path: '/readyz', port: 'http' }, periodSeconds: 5, failureThreshold: 2 },
    livenessProbe: { httpGet: { path: '/healthz', port: 'http' }, periodSeconds: 10, failureThreshold: 3 },
    securityContext: {
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      runAsNonRoot: true,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    },
    volumeMounts,
  };
  if (spec.worker.imagePullPolicy) container.imagePullPolicy = spec.worker.imagePullPolicy;
  if (spec.worker.resources.requests || spec.worker.resources.limits) container.resources = spec.worker.resources;

  const podSpec: Record<string, unknown> = {
    automountServiceAccountToken: false,
    terminationGracePeriodSeconds: drainSeconds + GRACE_MARGIN_SECONDS,
    securityContext: { runAsNonRoot: true, runAsUser: 10001, runAsGroup: 10001, fsGroup: 10001, seccompProfile: { type: 'RuntimeDefault' } },
    containers: [container],
    volumes,
    // Spread over nodes, softly: a node lost takes a share of a central's calls to recovery,
    // not all of them. By the template's hash, so a rollout's old and new pods count apart.
    topologySpreadConstraints: [
      { maxSkew: 1, topologyKey: 'kubernetes.io/hostname', whenUnsatisfiable: 'ScheduleAnyway', labelSelector: { matchLabels: labels }, matchLabelKeys: ['pod-template-hash'] },
    ],
  };
  if (opts.serviceAccountName) podSpec.serviceAccountName = opts.serviceAccountName;
  if (spec.worker.nodeSelector) podSpec.nodeSelector = spec.worker.nodeSelector;
  if (spec.worker.tolerations) podSpec.tolerations = spec.worker.tolerations;
  if (spec.worker.priorityClassName) podSpec.priorityClassName = spec.worker.priorityClassName;

  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: meta,
    spec: {
      replicas: opts.replicas,
      selector: { matchLabels: labels },
      revisionHistoryLimit: 3,
      // A new worker comes up before an old one starts draining: capacity never dips in a rollout.
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
      template: { metadata: { labels: meta.labels, ...(spec.worker.podAnnotations ? { annotations: spec.worker.podAnnotations } : {}) }, spec: podSpec },
    },
  };
}
