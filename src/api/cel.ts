/**
 * A validation rule written once and enforced twice: the API server evaluates the CEL
 * expression (it lands in the CRD as `x-kubernetes-validations`), and zod runs `check` when
 * the operator parses an object — so an object that slipped past an older CRD, or one built
 * in a test, is held to the same rule with the same message.
 */
import type { z } from 'zod';

export type CelReason = 'FieldValueInvalid' | 'FieldValueRequired' | 'FieldValueForbidden' | 'FieldValueDuplicate';

export interface CelRule<T> {
  /** CEL over `self` (and `oldSelf` for transition rules). */
  rule: string;
  message: string;
  /** Field the API server names in its error, relative to the node carrying the rule, e.g. `.minReplicas`. */
  fieldPath?: string;
  reason?: CelReason;
  /**
   * The same rule for zod. Absent for transition rules (`oldSelf`): a single object cannot
   * tell whether a field changed.
   */
  check?: (value: T) => boolean;
}

/** The shape the API server expects under `x-kubernetes-validations`. */
export interface CelValidation {
  rule: string;
  message: string;
  fieldPath?: string;
  reason?: CelReason;
}

export const CEL_META_KEY = 'x-kubernetes-validations';

/** Attaches rules to a schema: zod refinements now, CEL in the generated CRD. */
export function withRules<S extends z.ZodType>(schema: S, rules: CelRule<z.output<S>>[]): S {
  const refined = schema.superRefine((value, ctx) => {
    for (const r of rules) {
      if (r.check && !r.check(value)) {
        const path = r.fieldPath ? r.fieldPath.replace(/^\./, '').split('.') : [];
        ctx.addIssue({ code: 'custom', message: r.message, path });
      }
    }
  }) as S;
  const validations: CelValidation[] = rules.map(({ rule, message, fieldPath, reason }) => ({
    rule,
    message,
    ...(fieldPath ? { fieldPath } : {}),
    ...(reason ? { reason } : {}),
  }));
  return refined.meta({ [CEL_META_KEY]: validations }) as S;
}
