/**
 * Status conditions per the Kubernetes API conventions: one entry per type, and
 * `lastTransitionTime` moves only when the status flips (not when the message changes).
 */
export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  observedGeneration?: number;
  lastTransitionTime: string;
  reason: string;
  message: string;
}

export type ConditionInput = Omit<Condition, 'lastTransitionTime' | 'observedGeneration'>;

/** `desired` conditions, in that order, keeping each one's transition time when its status did not change. */
export function mergeConditions(previous: readonly Condition[] | undefined, desired: readonly ConditionInput[], generation: number | undefined, now: Date): Condition[] {
  return desired.map((c) => {
    const before = previous?.find((p) => p.type === c.type);
    const lastTransitionTime = before && before.status === c.status ? before.lastTransitionTime : now.toISOString().replace(/\.\d{3}Z$/, 'Z');
    return { type: c.type, status: c.status, ...(generation !== undefined ? { observedGeneration: generation } : {}), lastTransitionTime, reason: c.reason, message: c.message };
  });
}

export function findCondition(conditions: readonly Condition[] | undefined, type: string): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}

export function isTrue(conditions: readonly Condition[] | undefined, type: string): boolean {
  return findCondition(conditions, type)?.status === 'True';
}
