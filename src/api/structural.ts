/**
 * zod → OpenAPI v3 *structural* schema, the dialect CRDs accept.
 *
 * zod's JSON Schema output is close but not admissible as is: the API server rejects
 * `$schema`, `propertyNames`, `const` and type arrays, and wants every node typed so that
 * it can prune unknown fields and apply defaults. This module rewrites those spots and then
 * checks the result, failing generation (not `kubectl apply`) when a schema slips through
 * that the API server would refuse or that `kubectl explain` would show without a
 * description.
 */
import { z } from 'zod';
import type { CelValidation } from './cel.js';

/** The subset of apiextensions.k8s.io/v1 JSONSchemaProps these CRDs use. */
export interface JSONSchemaProps {
  type?: 'object' | 'array' | 'string' | 'integer' | 'number' | 'boolean';
  description?: string;
  format?: string;
  default?: unknown;
  enum?: unknown[];
  pattern?: string;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: boolean;
  exclusiveMaximum?: boolean;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  maxProperties?: number;
  properties?: Record<string, JSONSchemaProps>;
  additionalProperties?: JSONSchemaProps;
  required?: string[];
  items?: JSONSchemaProps;
  anyOf?: JSONSchemaProps[];
  'x-kubernetes-int-or-string'?: boolean;
  'x-kubernetes-preserve-unknown-fields'?: boolean;
  'x-kubernetes-list-type'?: 'atomic' | 'set' | 'map';
  'x-kubernetes-list-map-keys'?: string[];
  'x-kubernetes-validations'?: CelValidation[];
}

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Keys the API server accepts in a structural schema node; anything else is a generator bug. */
const ALLOWED = new Set<string>([
  'type', 'description', 'format', 'default', 'enum', 'pattern', 'minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum',
  'minLength', 'maxLength', 'minItems', 'maxItems', 'maxProperties', 'properties', 'additionalProperties', 'required', 'items',
  'anyOf', 'x-kubernetes-int-or-string', 'x-kubernetes-preserve-unknown-fields', 'x-kubernetes-list-type',
  'x-kubernetes-list-map-keys', 'x-kubernetes-validations',
]);

/** What zod writes for `.int()` without bounds: JavaScript's safe-integer range, meaningless to Kubernetes. */
const SAFE_INT_BOUNDS = new Set([Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER]);

export class SchemaGenerationError extends Error {
  readonly code = 'MC_ERR_SCHEMA';
}

/** The input side of `schema` (defaults make fields optional) as a structural schema. */
export function toStructural(schema: z.ZodType): JSONSchemaProps {
  const json = z.toJSONSchema(schema, { io: 'input', reused: 'inline', unrepresentable: 'throw' }) as Json;
  delete json.$schema;
  const node = rewrite(json, '');
  check(node, '');
  return node;
}

function rewrite(node: Json, path: string): JSONSchemaProps {
  const out: Json = {};
  for (const [key, value] of Object.entries(node)) {
    switch (key) {
      case 'properties':
        out.properties = Object.fromEntries(Object.entries(value as Json).map(([k, v]) => [k, rewrite(v as Json, `${path}.${k}`)]));
        break;
      case 'items':
        out.items = rewrite(value as Json, `${path}[]`);
        break;
      case 'additionalProperties':
        // `false` is what zod says for closed objects; Kubernetes prunes unknown fields
        // instead, and rejects additionalProperties next to properties.
        if (isObject(value)) out.additionalProperties = rewrite(value, `${path}{}`);
        break;
      case 'propertyNames':
        // Not part of the CRD dialect; map keys are checked by CEL rules where it matters.
        break;
      case 'const':
        out.enum = [value];
        break;
      case 'minimum':
      case 'maximum':
        if (!SAFE_INT_BOUNDS.has(value as number)) out[key] = value;
        break;
      default:
        out[key] = value;
    }
  }
  if (out['x-kubernetes-int-or-string'] === true) {
    // int-or-string is the one place a structural schema may leave `type` out; the
    // branches say which two types are meant, and the pattern applies to the string.
    delete out.type;
    out.anyOf = [{ type: 'integer' }, { type: 'string' }];
  }
  if (isObject(out.default) && isObject(out.properties)) out.default = materialize(out.default, out.properties as Record<string, JSONSchemaProps>);
  return ordered(out) as JSONSchemaProps;
}

/**
 * `default: {}` spelled out with the defaults of its fields. The API server evaluates CEL
 * rules against a default as written, before the nested defaults would fill it in, so a
 * rule such as `self.minReplicas <= self.maxReplicas` needs the fields to be there.
 */
function materialize(value: Json, properties: Record<string, JSONSchemaProps>): Json {
  const out: Json = { ...value };
  for (const [name, prop] of Object.entries(properties)) {
    if (!(name in out) && prop.default !== undefined) out[name] = prop.default;
  }
  return out;
}

/** Reading order for the YAML: what a field is first, then its limits, then its children. */
const ORDER = ['type', 'anyOf', 'x-kubernetes-int-or-string', 'description', 'default', 'format', 'enum', 'pattern'];
const LAST = ['required', 'properties', 'additionalProperties', 'items'];

function ordered(node: Json): Json {
  const rank = (k: string): number => {
    const first = ORDER.indexOf(k);
    if (first >= 0) return first;
    const last = LAST.indexOf(k);
    return last >= 0 ? 100 + last : 50;
  };
  return Object.fromEntries(Object.entries(node).sort(([a], [b]) => rank(a) - rank(b)));
}

function check(node: JSONSchemaProps, path: string): void {
  const where = path || '(root)';
  for (const key of Object.keys(node)) {
    if (!ALLOWED.has(key)) throw new SchemaGenerationError(`${where}: "${key}" is not allowed in a structural schema`);
  }
  if (node['x-kubernetes-int-or-string'] !== true) {
    if (node.anyOf) throw new SchemaGenerationError(`${where}: anyOf is only generated for int-or-string fields; use an enum or a CEL rule`);
    if (typeof node.type !== 'string') throw new SchemaGenerationError(`${where}: every node needs a single type (got ${JSON.stringify(node.type)})`);
  }
  if (node.properties && node.additionalProperties) throw new SchemaGenerationError(`${where}: properties and additionalProperties are exclusive`);
  for (const [name, child] of Object.entries(node.properties ?? {})) {
    if (!child.description) throw new SchemaGenerationError(`${path}.${name}: needs a description for kubectl explain`);
    check(child, `${path}.${name}`);
  }
  if (node.items) check(node.items, `${path}[]`);
  if (node.additionalProperties) check(node.additionalProperties, `${path}{}`);
}
