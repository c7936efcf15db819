/**
 * `Celula`: one Multcall célula (campaign) and the workers that place its calls. The
 * operator reconciles it into one worker Deployment per selected, healthy Central.
 *
 * Bounds follow what the worker accepts (src/worker/config.ts and the live parameters in
 * src/protocol/messages.ts), so an object the API server admits is one a worker can run.
 */
import { z } from 'zod';
import { CELULA_NAME } from '../protocol/keys.js';
import { checkVariableLines, RESERVED_VARIABLE } from '../protocol/messages.js';
import { localKeepsPair, LOCAL_KEEPS_PAIR_MESSAGE } from '../ami/actions.js';
import { withRules } from './cel.js';
import {
  conditions,
  DNS_LABEL,
  duration,
  host,
  labelSelector,
  objectMeta,
  port,
  resourceRequirements,
  secretKeyRef,
  timestamp,
  nodeSelector,
  podAnnotations,
  toleration,
} from './common.js';
import { API_VERSION } from './group.js';

/** Upper bound on worker replicas: a guard against typos, far above any real célula. */
export const MAX_REPLICAS = 1000;

export const celulaQueue = withRules(
  z
    .string()
    .max(63)
    .regex(CELULA_NAME, { message: `must match ${CELULA_NAME.source}` })
    .describe(
      "The célula's name in Multcall: its Redis queues are named after it. Letters, digits, '_', '.' and '-', at most 63 characters. Immutable: a new name is a new célula.",
    ),
  [{ rule: 'self == oldSelf', message: 'queue is immutable: create a new Celula for another Multcall célula' }],
);

export const celulaTimeouts = z
  .object({
    commandResponse: duration({
      description: "How long a worker waits for the central's answer to an Originate before retrying (Timeout_Command_Response in a worker settings file).",
      default: '5s',
      min: '100ms',
      max: '2m',
    }),
    commandAck: duration({
      description: "How long a worker waits for Multcall's CodLigacao after sending the ACK (Timeout_Command_ACK in a worker settings file).",
      default: '10s',
      min: '100ms',
      max: '10m',
    }),
  })
  .prefault({})
  .describe('Timeouts of the call handshake. Changes reach running workers through Redis within a second, without a restart.');

export const celulaRedis = z
  .object({
    host: host.describe('Host name or IP address of the Redis server holding the célula\'s queues.'),
    port: port.default(6379).describe('TCP port of the Redis server.'),
    db: z.number().int().min(0).max(15).default(0).describe('Redis logical database number.'),
    prefix: z
      .string()
      .max(32)
      .regex(/^[A-Za-z0-9_.-]{1,32}$/, { message: 'must be 1-32 letters, digits, _, . or -' })
      .default('multcall')
      .describe('First part of every Redis key; must match what Multcall uses.'),
    passwordSecretRef: secretKeyRef.optional().describe('Secret key holding the Redis password; omit when Redis needs none.'),
  })
  .describe('The Redis server where Multcall and the workers exchange calls.');

export const celulaCentrals = withRules(
  z
    .object({
      selector: labelSelector.optional().describe('Centrals in this namespace whose labels match; set this or names.'),
      names: z
        .array(z.string().max(63).regex(DNS_LABEL, { message: 'must be the name of a Central' }))
        .min(1)
        .max(256)
        .optional()
        .describe('Centrals in this namespace, by name; set this or selector.')
        .meta({ 'x-kubernetes-list-type': 'set' }),
    })
    .describe('Which Centrals place this célula\'s calls. The operator runs workers only on the healthy ones.'),
  [
    {
      rule: 'has(self.selector) != has(self.names)',
      message: 'set exactly one of centrals.selector and centrals.names',
      check: (c) => (c.selector === undefined) !== (c.names === undefined),
    },
  ],
);

/**
 * Only values AMI can carry: a CR or LF would end the header and start another one, and a
 * NUL truncates it. Written as \x00 because the same pattern runs in the API server (Go).
 */
// eslint-disable-next-line no-control-regex -- refusing the control characters is the point
const AMI_VALUE = /^[^\r\n\x00]*$/;
// eslint-disable-next-line no-control-regex -- as AMI_VALUE
const CHANNEL = /^[A-Za-z0-9_-]+\/[^\r\n\x00]+$/;
const amiValue = (max: number) => z.string().max(max).regex(AMI_VALUE, { message: 'must not contain CR, LF or NUL' });

export const celulaOriginate = z
  .object({
    channel: withRules(
      z
        .string()
        .max(256)
        .regex(CHANNEL, { message: 'must be Tech/resource, e.g. PJSIP/{number}@carrier' }),
      [
        {
          rule: "self.contains('{number}')",
          message: 'channel must contain {number} where the dialled number goes, e.g. PJSIP/{number}@carrier',
          check: (s) => s.includes('{number}'),
        },
        { rule: "!self.matches('^(?i)local/') || self.matches('/[a-z]*n[a-z]*$')", message: LOCAL_KEEPS_PAIR_MESSAGE, check: localKeepsPair },
      ],
    ).describe('Dial string of the outbound leg, with {number} where the number goes, e.g. PJSIP/{number}@carrier.'),
    context: z
      .string()
      .regex(/^[A-Za-z0-9_.-]{1,79}$/, { message: 'must be 1-79 letters, digits, _, . or -' })
      .describe('Dialplan context the answered call continues in.'),
    exten: z
      .string()
      .regex(/^[A-Za-z0-9_*#+.-]{1,79}$/, { message: 'must be a dialplan extension' })
      .default('s')
      .describe('Extension in the context where the answered call continues.'),
    priority: z.number().int().min(1).max(100_000).default(1).describe('Dialplan priority where the answered call continues.'),
    callerId: amiValue(128).optional().describe('Caller ID presented to the called party, e.g. "Zanc" <1130000000>.'),
    ringTimeout: duration({ description: 'How long the number may ring before the call counts as not answered.', default: '30s', min: '1s', max: '5m' }),
    variables: withRules(
      z
        .record(z.string().max(64).regex(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/), amiValue(512))
        .optional()
        .describe('Channel variables set on every call of the célula (Multcall can add more per call).')
        .meta({ maxProperties: 64 }),
      [
        {
          rule: "self.all(k, k.matches('^[A-Za-z_][A-Za-z0-9_]{0,63}$'))",
          message: 'variable names must be letters, digits and _, not starting with a digit, at most 64 characters',
          check: (vars) => vars === undefined || Object.keys(vars).every((k) => /^[A-Za-z_][A-Za-z0-9_]{0,63}$/.test(k)),
        },
        {
          // The workers' own (MC_REQ, MC_CELULA); Asterisk reads `_MC_REQ` as MC_REQ.
          rule: "self.all(k, !k.matches('^_*[Mm][Cc]_'))",
          message: 'variable names starting with MC_ (in any case, after any leading underscores) are reserved',
          check: (vars) => vars === undefined || Object.keys(vars).every((k) => !RESERVED_VARIABLE.test(k)),
        },
      ],
      // The line length is not said in CEL, which cannot escape: the parser refuses it (InvalidSpec).
    ).superRefine(checkVariableLines),
  })
  .describe('How each call is placed on the central (the AMI Originate).');

export const scalingMode = z.enum(['queue', 'external', 'fixed']);
export type ScalingMode = z.infer<typeof scalingMode>;

export const celulaScaling = withRules(
  z
    .object({
      mode: scalingMode
        .default('queue')
        .describe(
          'queue: the operator scales workers from the Redis queue depth (queued + in flight). external: spec.replicas is set by someone else through the scale subresource (an HPA, KEDA). fixed: spec.replicas as written.',
        ),
      minReplicas: z.number().int().min(0).max(MAX_REPLICAS).default(1).describe('Fewest worker replicas in queue and external modes.'),
      maxReplicas: z.number().int().min(0).max(MAX_REPLICAS).default(10).describe('Most worker replicas in queue and external modes.'),
      scaleDownStabilization: duration({
        description: 'How long the queue must ask for fewer workers before replicas are removed; scaling up is immediate.',
        default: '60s',
        max: '1h',
      }),
      scaleToZero: z
        .boolean()
        .default(false)
        .describe('In queue mode, remove every worker once the queue and the in-flight calls stay empty for the stabilization window.'),
    })
    .prefault({})
    .describe('How many workers run, and who decides.'),
  [
    {
      rule: 'self.minReplicas <= self.maxReplicas',
      message: 'minReplicas must not exceed maxReplicas',
      fieldPath: '.minReplicas',
      check: (s) => s.minReplicas <= s.maxReplicas,
    },
  ],
);

export const logLevel = z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);

/**
 * Worker pods are never BestEffort by default: under memory pressure those are evicted first,
 * and a hard eviction gives no grace period, so no drain.
 */
export const defaultWorkerResources = () => ({ requests: { cpu: '250m', memory: '192Mi' }, limits: { memory: '384Mi' } });

export const celulaWorker = z
  .object({
    image: z.string().max(512).optional().describe("Container image of the workers; defaults to the operator's own image."),
    imagePullPolicy: z.enum(['Always', 'IfNotPresent', 'Never']).optional().describe('Always, IfNotPresent or Never.'),
    resources: resourceRequirements
      .default(defaultWorkerResources)
      .describe(
        'Compute resources of the worker container, as in a Pod spec. Default: requests cpu 250m, memory 192Mi; limits memory 384Mi (a worker uses about 125 MB with 1,000 calls up, 165 MB at 1,000 calls/s, 220 MB at 3,000; no CPU limit, whose throttling would delay calls). Set to {} for none.',
      ),
    logLevel: logLevel.default('info').describe('Worker log level: fatal, error, warn, info, debug, trace or silent.'),
    drainTimeout: duration({
      description:
        'How long a stopping worker waits for its live calls to end before handing them to a peer; the pod grace period is sized from it.',
      default: '600s',
      max: '1h',
    }),
    ackTimeoutPolicy: z
      .enum(['report', 'hangup'])
      .default('report')
      .describe("What a worker does with a placed call when Multcall's CodLigacao never arrives: report it without one, or hang it up."),
    podAnnotations: podAnnotations
      .optional()
      .describe(
        "Annotations of the worker pods, e.g. a service mesh's: sidecar.istio.io/inject: 'false', or a sidecar drain as long as the worker's (drainTimeout).",
      ),
    priorityClassName: z
      .string()
      .max(253)
      .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/, { message: 'must be a DNS subdomain name' })
      .optional()
      .describe('PriorityClass of the worker pods: placed calls outrank batch work when a node is short of room.'),
    nodeSelector: nodeSelector.optional().describe('Node labels the worker pods must run on.'),
    tolerations: z.array(toleration).max(32).optional().describe('Tolerations of the worker pods.'),
  })
  .prefault({})
  .describe('Overrides for the worker pods.');

export const celulaSpec = withRules(
  z
    .object({
      queue: celulaQueue,
      threads: z.number().int().min(1).max(1000).default(10).describe('Calls at once per worker replica (threads of the célula\'s entry in a worker settings file). Live: no restart.'),
      retries: z.number().int().min(0).max(10).default(2).describe('Times an Originate the central did not answer is sent again (Retries in a worker settings file). Live: no restart.'),
      timeouts: celulaTimeouts,
      redis: celulaRedis,
      centrals: celulaCentrals,
      originate: celulaOriginate,
      scaling: celulaScaling,
      replicas: z
        .number()
        .int()
        .min(0)
        .max(MAX_REPLICAS)
        .optional()
        .describe(
          'Worker replicas in total over all centrals, in fixed and external modes. `kubectl scale`, an HPA or KEDA write it through the scale subresource.',
        ),
      worker: celulaWorker,
    })
    .describe('What the célula is and how its calls are placed.'),
  [
    {
      rule: "self.scaling.mode != 'fixed' || has(self.replicas)",
      message: 'replicas is required when scaling.mode is fixed',
      fieldPath: '.replicas',
      reason: 'FieldValueRequired',
      check: (s) => s.scaling.mode !== 'fixed' || s.replicas !== undefined,
    },
  ],
);
export type CelulaSpec = z.infer<typeof celulaSpec>;

/** Centrals listed in a Celula's status: a selector may match more; the conditions count them all. */
export const STATUS_CENTRALS_MAX = 256;

export const celulaCentralStatus = z
  .object({
    name: z.string().max(63).describe('Name of the Central.'),
    replicas: z.number().int().min(0).describe('Worker pods on this central.'),
    readyReplicas: z.number().int().min(0).describe('Ready worker pods on this central.'),
    healthy: z.boolean().describe('Whether the central answers AMI; an unhealthy one gets no new calls.'),
  })
  .describe('Workers of the célula on one central.');
export type CelulaCentralStatus = z.infer<typeof celulaCentralStatus>;

export const celulaStatus = z
  .object({
    observedGeneration: z.number().int().min(0).optional().describe('metadata.generation this status describes.'),
    conditions: conditions('Ready summarises the célula; other types tell why it is not.'),
    replicas: z.number().int().min(0).optional().describe('Worker pods over all centrals.'),
    readyReplicas: z.number().int().min(0).optional().describe('Ready worker pods over all centrals.'),
    desiredReplicas: z.number().int().min(0).optional().describe('Worker pods the operator is aiming for.'),
    selector: z.string().max(1024).optional().describe('Label selector of the worker pods, for the scale subresource.'),
    servedQueue: z
      .string()
      .max(1024)
      .optional()
      .describe('The queue this Celula\'s workers serve (host:port/db prefix:{queue}); absent while another Celula holds it.'),
    queued: z.number().int().min(0).optional().describe('Calls waiting in the Redis queue at the last poll.'),
    inFlight: z.number().int().min(0).optional().describe('Calls held by workers at the last poll.'),
    centrals: z
      .array(celulaCentralStatus)
      .max(STATUS_CENTRALS_MAX)
      .optional()
      .describe('Workers per central.')
      .meta({ 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['name'] }),
    lastScaleTime: timestamp.optional().describe('When the desired replicas last changed.'),
  })
  .describe('What the operator observed; written by the operator only.');
export type CelulaStatus = z.infer<typeof celulaStatus>;

export const celula = z.object({
  apiVersion: z.literal(API_VERSION),
  kind: z.literal('Celula'),
  metadata: objectMeta,
  spec: celulaSpec,
  status: celulaStatus.optional(),
});
export type Celula = z.infer<typeof celula>;
