/**
 * Building blocks shared by both kinds: durations, resource quantities, label selectors,
 * Secret references, conditions and object metadata, each shaped like its Kubernetes
 * counterpart so users meet nothing new.
 */
import { z } from 'zod';
import { withRules } from './cel.js';

// ---------------------------------------------------------------------------------------
// Durations

/**
 * Durations are strings (`500ms`, `5s`, `2m`, `1h30m`) as in the rest of Kubernetes, not
 * bare numbers whose unit a reader must guess. The grammar is a subset of Go's
 * time.ParseDuration, which is what CEL's `duration()` uses, so both sides agree.
 */
export const DURATION = /^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$/;
const DURATION_PART = /([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)/g;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Milliseconds in a duration string; throws on anything the CRD pattern would reject. */
export function durationMs(text: string): number {
  if (!DURATION.test(text)) throw new Error(`not a duration: ${JSON.stringify(text)} (expected e.g. 500ms, 5s, 2m, 1h30m)`);
  let total = 0;
  for (const [, amount, unit] of text.matchAll(DURATION_PART)) total += Number(amount) * (UNIT_MS[unit ?? ''] ?? Number.NaN);
  return Math.round(total);
}

/** Like durationMs, but undefined for text that is not a duration. */
export function tryDurationMs(text: string): number | undefined {
  try {
    return durationMs(text);
  } catch {
    return undefined;
  }
}

export interface DurationOptions {
  description: string;
  default?: string;
  /** Inclusive upper bound, e.g. `2m`. */
  max?: string;
  /** Inclusive lower bound; 1ms without it. */
  min?: string;
}

/** A positive duration string, bounded where the consumer (worker, probe) has limits. */
export function duration(opts: DurationOptions & { default: string }): z.ZodDefault<z.ZodString>;
export function duration(opts: DurationOptions & { default?: undefined }): z.ZodString;
export function duration(opts: DurationOptions): z.ZodString | z.ZodDefault<z.ZodString> {
  // At least 1ms when no bound is given: what is under it rounds to 0 ms here, which CEL's
  // `> 0s` would let through to a Celula the operator then cannot read.
  const min = opts.min ?? '1ms';
  const upper = opts.max ? ` && duration(self) <= duration('${opts.max}')` : '';
  const minMs = durationMs(min);
  const maxMs = opts.max ? durationMs(opts.max) : Number.POSITIVE_INFINITY;
  const bounds = `from ${min}${opts.max ? ` to ${opts.max}` : ' up'}`;
  const base = withRules(z.string().max(32).regex(DURATION, { message: 'must be a duration such as 500ms, 5s, 2m or 1h30m' }), [
    {
      rule: `duration(self) >= duration('${min}')${upper}`,
      message: `must be a duration ${bounds}`,
      check: (s) => {
        const ms = tryDurationMs(s);
        return ms !== undefined && ms >= minMs && ms <= maxMs;
      },
    },
  ]);
  const described = base.describe(`${opts.description} A duration such as 500ms, 5s or 2m; ${bounds}.`);
  return opts.default === undefined ? described : described.default(opts.default);
}

// ---------------------------------------------------------------------------------------
// Names and references

/** DNS-1123 label: names of Deployments, Services and Centrals. */
export const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
/** DNS-1123 subdomain: names of Secrets and most other objects. */
export const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
/** Keys inside a Secret's data. */
export const SECRET_KEY = /^[-._a-zA-Z0-9]+$/;
/** Host names and IP addresses, without anything that would smuggle a URL or a second host. */
export const HOST = /^[A-Za-z0-9]([A-Za-z0-9.:_-]*[A-Za-z0-9])?$/;

export const secretName = z.string().min(1).max(253).regex(DNS_SUBDOMAIN, { message: 'must be a Secret name (DNS-1123 subdomain)' });
export const secretKey = z.string().min(1).max(253).regex(SECRET_KEY, { message: 'must be a key of a Secret: letters, digits, -, _ and .' });
export const host = z.string().min(1).max(253).regex(HOST, { message: 'must be a host name or an IP address' });
export const port = z.number().int().min(1).max(65535);

export const secretKeyRef = z
  .object({
    name: secretName.describe('Name of the Secret, in the namespace of this object.'),
    key: secretKey.describe('Key inside the Secret whose value is used.'),
  })
  .describe('A key of a Secret in the same namespace.');

// ---------------------------------------------------------------------------------------
// Label selectors (metav1.LabelSelector)

const LABEL_KEY = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

export const labelSelectorRequirement = withRules(
  z
    .object({
      key: z.string().min(1).max(316).regex(LABEL_KEY, { message: 'must be a label key' }).describe('Label key the requirement applies to.'),
      operator: z.enum(['In', 'NotIn', 'Exists', 'DoesNotExist']).describe('How the key relates to the values: In, NotIn, Exists or DoesNotExist.'),
      values: z
        .array(z.string().max(63).regex(LABEL_VALUE, { message: 'must be a label value' }))
        .max(64)
        .optional()
        .describe('Label values; non-empty for In and NotIn, empty for Exists and DoesNotExist.'),
    })
    .describe('A label requirement: key, operator and values.'),
  [
    {
      rule: "(self.operator in ['In', 'NotIn']) == (has(self.values) && size(self.values) > 0)",
      message: 'values must be non-empty for In and NotIn, and empty for Exists and DoesNotExist',
      fieldPath: '.values',
      check: (r) => ['In', 'NotIn'].includes(r.operator) === (r.values !== undefined && r.values.length > 0),
    },
  ],
);

export const labelSelector = z
  .object({
    matchLabels: z
      .record(z.string().max(316).regex(LABEL_KEY), z.string().max(63).regex(LABEL_VALUE, { message: 'must be a label value' }))
      .optional()
      .describe('Labels an object must carry, all of them, with these exact values.'),
    matchExpressions: z.array(labelSelectorRequirement).max(32).optional().describe('Requirements an object must meet, all of them.'),
  })
  .describe('A standard Kubernetes label selector (matchLabels and matchExpressions, ANDed).');
export type LabelSelector = z.infer<typeof labelSelector>;

// ---------------------------------------------------------------------------------------
// Pod scheduling and resources

/** The Kubernetes quantity grammar (`100m`, `128Mi`, `1.5`, `2e3`), without a minus: no resource is negative. */
export const QUANTITY = /^\+?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$/;

/** A resource quantity: YAML writes `1` as a number and `500m` as a string, so both are accepted. */
export const quantity = z
  .union([z.number().nonnegative(), z.string().regex(QUANTITY, { message: 'must be a quantity such as 500m, 1, 128Mi or 2Gi' })])
  .meta({ 'x-kubernetes-int-or-string': true, pattern: QUANTITY.source });

export const resourceRequirements = z
  .object({
    requests: z.record(z.string(), quantity).optional().describe('Resources the scheduler reserves for the container, e.g. cpu: 100m, memory: 128Mi.'),
    limits: z.record(z.string(), quantity).optional().describe('Most resources the container may use, e.g. memory: 256Mi.'),
  })
  .describe('Compute resources of the container, as in a Pod spec.');
export type ResourceRequirements = z.infer<typeof resourceRequirements>;

/** The label key pattern in a CEL raw string (RE2 takes it as it is). */
const LABEL_KEY_CEL = `r'${LABEL_KEY.source}'`;

/** Node labels the pods must run on: label keys and values, as the API server holds a Pod's nodeSelector to them. */
export const nodeSelector = withRules(
  z
    .record(z.string().max(316), z.string().max(63).regex(LABEL_VALUE, { message: 'must be a label value' }))
    .meta({ maxProperties: 64 }),
  [
    {
      rule: `self.all(k, k.matches(${LABEL_KEY_CEL}))`,
      message: 'keys must be label keys: an optional DNS prefix and /, then at most 63 letters, digits, -, _ and .',
      check: (m) => Object.keys(m).every((k) => LABEL_KEY.test(k)),
    },
  ],
);

/**
 * Pod annotations: keys as label keys, values free text (a service mesh's settings, say); at
 * most 64 of 2 KiB, well inside the API server's 256 KiB for all of a pod's annotations.
 */
export const podAnnotations = withRules(
  z
    .record(z.string().max(316), z.string().max(2048))
    .meta({ maxProperties: 64 }),
  [
    {
      rule: `self.all(k, k.matches(${LABEL_KEY_CEL}))`,
      message: 'keys must be annotation keys: an optional DNS prefix and /, then at most 63 letters, digits, -, _ and .',
      check: (m) => Object.keys(m).every((k) => LABEL_KEY.test(k)),
    },
  ],
);

const isExists = (t: { operator?: string | undefined }) => t.operator === 'Exists';

export const toleration = withRules(
  z
  .object({
    key: z.string().max(316).optional().describe('Taint key the toleration matches; empty with operator Exists matches every taint.'),
    operator: z.enum(['Exists', 'Equal']).optional().describe('Exists or Equal (the default).'),
    value: z.string().max(63).optional().describe('Taint value the toleration matches when operator is Equal.'),
    effect: z.enum(['NoSchedule', 'PreferNoSchedule', 'NoExecute']).optional().describe('Taint effect to match; empty matches all effects.'),
    tolerationSeconds: z.number().int().optional().describe('For NoExecute: seconds the pod stays bound after the taint appears.'),
  })
  .describe('A toleration, as in a Pod spec.'),
  // What the API server checks in a Pod's tolerations, so that a Celula it accepts never has its Deployment refused.
  [
    {
      rule: `!has(self.key) || self.key == '' || self.key.matches(${LABEL_KEY_CEL})`,
      message: 'key must be a label key',
      fieldPath: '.key',
      check: (t) => !t.key || LABEL_KEY.test(t.key),
    },
    {
      rule: "(has(self.key) && self.key != '') || (has(self.operator) && self.operator == 'Exists')",
      message: 'an empty key needs operator Exists',
      fieldPath: '.operator',
      check: (t) => !!t.key || isExists(t),
    },
    {
      rule: "!has(self.operator) || self.operator != 'Exists' || !has(self.value) || self.value == ''",
      message: 'value must be empty when operator is Exists',
      fieldPath: '.value',
      check: (t) => !isExists(t) || !t.value,
    },
    {
      rule: "!has(self.tolerationSeconds) || (has(self.effect) && self.effect == 'NoExecute')",
      message: 'tolerationSeconds applies only to effect NoExecute',
      fieldPath: '.tolerationSeconds',
      check: (t) => t.tolerationSeconds === undefined || t.effect === 'NoExecute',
    },
  ],
);
export type Toleration = z.infer<typeof toleration>;

// ---------------------------------------------------------------------------------------
// Status conditions (metav1.Condition)

const CONDITION_TYPE = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$/;
const CONDITION_REASON = /^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$/;

/** An RFC 3339 timestamp as Kubernetes writes it. */
export const timestamp = z
  .string()
  .max(64)
  .refine((s) => !Number.isNaN(Date.parse(s)), { message: 'must be an RFC 3339 timestamp' })
  .meta({ format: 'date-time' });

export const condition = z
  .object({
    type: z.string().max(316).regex(CONDITION_TYPE).describe('Type of the condition in CamelCase, e.g. Ready.'),
    status: z.enum(['True', 'False', 'Unknown']).describe('True, False or Unknown.'),
    observedGeneration: z.number().int().min(0).optional().describe('metadata.generation the condition was set from.'),
    lastTransitionTime: timestamp.describe('When the status last changed.'),
    reason: z.string().min(1).max(1024).regex(CONDITION_REASON).describe('Why the condition is what it is, one CamelCase word for programs.'),
    message: z.string().max(32768).describe('Why the condition is what it is, for people.'),
  })
  .describe('The state of one aspect of the object, per the Kubernetes API conventions.');
export type Condition = z.infer<typeof condition>;

export function conditions(description: string) {
  return z.array(condition).max(16).optional().describe(description).meta({ 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['type'] });
}

// ---------------------------------------------------------------------------------------
// Object metadata

/** Celula and Central names become label values on the worker Deployments and pods: at most 63 characters. */
export const NAME_MAX = 63;
export const NAME_TOO_LONG = `metadata.name must be at most ${NAME_MAX} characters: it becomes a label value on the worker Deployments and pods`;

/**
 * The metadata fields the operator reads. Everything else (managedFields, ownerReferences,
 * timestamps) is kept as it came: the operator never writes metadata it did not read.
 */
export const objectMeta = z.looseObject({
  name: z.string().min(1).max(NAME_MAX, { message: NAME_TOO_LONG }),
  namespace: z.string().max(63).optional(),
  uid: z.string().optional(),
  generation: z.number().int().optional(),
  resourceVersion: z.string().optional(),
  labels: z.record(z.string(), z.string()).optional(),
  annotations: z.record(z.string(), z.string()).optional(),
});
export type ObjectMeta = z.infer<typeof objectMeta>;
