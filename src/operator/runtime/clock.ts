/**
 * Time, timers and randomness as values, so the queue, the backoff and the leader election
 * can be driven by a fake clock in unit tests.
 */
export interface Timer {
  cancel(): void;
}

export interface Clock {
  /**
   * Milliseconds on a monotonic clock, for every interval and deadline: a wall clock stepped
   * back by NTP would stretch the leader's fence past a standby's takeover.
   */
  now(): number;
  /** Milliseconds since the epoch, for what is written down (a Lease's renewTime, an Event's timestamps). */
  wall(): number;
  /** Calls `fn` after `ms`; the returned handle cancels it. Timers never keep the process alive. */
  after(ms: number, fn: () => void): Timer;
  /** Uniform in [0, 1). */
  random(): number;
}

export const systemClock: Clock = {
  now: () => performance.now(),
  wall: () => Date.now(),
  after(ms, fn) {
    const handle = setTimeout(fn, Math.max(0, ms));
    handle.unref();
    return { cancel: () => clearTimeout(handle) };
  },
  random: () => Math.random(),
};

/** Resolves after `ms` on `clock`, or at once when `signal` aborts. */
export function sleep(clock: Clock, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const onAbort = () => {
      timer.cancel();
      resolve();
    };
    const timer = clock.after(ms, () => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    });
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
