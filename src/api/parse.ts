/**
 * The edge between Kubernetes and the operator: every Celula and Central the operator
 * reads goes through these, so the rest of the code sees typed objects with defaults
 * filled in, whether or not the API server that stored them had the current CRD.
 */
import type { z } from 'zod';
import { celula, type Celula } from './celula.js';
import { central, type Central } from './central.js';

export class InvalidResourceError extends Error {
  readonly code = 'MC_ERR_INVALID_RESOURCE';
  constructor(
    readonly kind: string,
    /** `namespace/name` when the object had one. */
    readonly object: string,
    /** One entry per problem: `spec.scaling.minReplicas: minReplicas must not exceed maxReplicas`. */
    readonly problems: string[],
  ) {
    super(`invalid ${kind} ${object}: ${problems.join('; ')}`);
    this.name = 'InvalidResourceError';
  }
}

function describe(error: z.ZodError): string[] {
  return error.issues.slice(0, 10).map((i) => `${i.path.length ? i.path.join('.') : '(object)'}: ${i.message}`);
}

function nameOf(obj: unknown): string {
  if (typeof obj !== 'object' || obj === null) return '(not an object)';
  const meta = (obj as { metadata?: { name?: unknown; namespace?: unknown } }).metadata;
  const name = typeof meta?.name === 'string' ? meta.name : '(unnamed)';
  return typeof meta?.namespace === 'string' ? `${meta.namespace}/${name}` : name;
}

function parseWith<T>(schema: z.ZodType<T>, kind: string, obj: unknown): T {
  const result = schema.safeParse(obj);
  if (!result.success) throw new InvalidResourceError(kind, nameOf(obj), describe(result.error));
  return result.data;
}

/** Validates a Celula from the API server (or a file) and applies the defaults. */
export function parseCelula(obj: unknown): Celula {
  return parseWith(celula, 'Celula', obj);
}

/** Validates a Central from the API server (or a file) and applies the defaults. */
export function parseCentral(obj: unknown): Central {
  return parseWith(central, 'Central', obj);
}
