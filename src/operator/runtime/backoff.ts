/**
 * Retry delays. Pure functions of the attempt number and a random draw, so every schedule
 * is reproducible in a test.
 */

export interface BackoffPolicy {
  /** Delay of the first retry. */
  baseMs: number;
  /** Ceiling of any delay. */
  maxMs: number;
  /** 0 = exact exponential; 1 = full jitter (uniform in [0, d]). Between: d·(1 − j) + uniform·d·j. */
  jitter: number;
}

/** base·2^attempt capped at max, spread by the jitter so a crowd of retries does not line up. */
export function backoffMs(policy: BackoffPolicy, attempt: number, random: () => number): number {
  const exp = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.min(Math.max(attempt, 0), 40));
  const spread = exp * policy.jitter;
  return Math.round(exp - spread + random() * spread);
}

/**
 * Per-key exponential rate limiter: each failure of a key doubles its next delay, a success
 * (`forget`) starts it over. Keys do not affect each other.
 */
export class PerKeyBackoff {
  private readonly failures = new Map<string, number>();

  constructor(
    private readonly policy: BackoffPolicy,
    private readonly random: () => number,
  ) {}

  /** The delay before the next retry of `key`, counting this failure. */
  next(key: string): number {
    const attempt = this.failures.get(key) ?? 0;
    this.failures.set(key, attempt + 1);
    return backoffMs(this.policy, attempt, this.random);
  }

  retries(key: string): number {
    return this.failures.get(key) ?? 0;
  }

  forget(key: string): void {
    this.failures.delete(key);
  }
}

/** Reconcile retries: 200 ms doubling to 5 min, lightly jittered (client-go uses 5 ms → 1000 s). */
export const RECONCILE_BACKOFF: BackoffPolicy = { baseMs: 200, maxMs: 5 * 60_000, jitter: 0.2 };
/** Informer restarts after a failed list or watch: 500 ms doubling to 30 s, full jitter. */
export const INFORMER_BACKOFF: BackoffPolicy = { baseMs: 500, maxMs: 30_000, jitter: 1 };
