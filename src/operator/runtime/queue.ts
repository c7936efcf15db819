/**
 * A level-triggered work queue of object keys (`namespace/name`), after client-go's:
 *
 * - a key waits at most once: ten events for one object before a worker gets to it are one
 *   reconcile (dedupe through the `dirty` set);
 * - a key is never reconciled by two workers at once: a key added while it is being processed
 *   is parked and handed out again after `done`;
 * - `addAfter` keeps only the earliest pending timer per key;
 * - `addRateLimited` delays by the key's own exponential backoff; `forget` resets it.
 */
import { PerKeyBackoff, RECONCILE_BACKOFF, type BackoffPolicy } from './backoff.js';
import { systemClock, type Clock, type Timer } from './clock.js';

export interface WorkQueueOptions {
  clock?: Clock;
  backoff?: BackoffPolicy;
}

export class WorkQueue {
  private readonly queue: string[] = [];
  /** Keys that need a reconcile (queued, or parked while processing). */
  private readonly dirty = new Set<string>();
  private readonly processing = new Set<string>();
  private readonly delayed = new Map<string, { at: number; timer: Timer }>();
  private readonly waiters: Array<(key: string | undefined) => void> = [];
  private readonly clock: Clock;
  private readonly limiter: PerKeyBackoff;
  private shuttingDown = false;

  constructor(options: WorkQueueOptions = {}) {
    this.clock = options.clock ?? systemClock;
    this.limiter = new PerKeyBackoff(options.backoff ?? RECONCILE_BACKOFF, () => this.clock.random());
  }

  add(key: string): void {
    if (this.shuttingDown || this.dirty.has(key)) return;
    this.dirty.add(key);
    if (this.processing.has(key)) return;
    const waiter = this.waiters.shift();
    if (waiter) {
      this.dirty.delete(key);
      this.processing.add(key);
      waiter(key);
    } else {
      this.queue.push(key);
    }
  }

  /** Adds `key` after `ms`; an earlier pending add of the same key wins. */
  addAfter(key: string, ms: number): void {
    if (this.shuttingDown) return;
    if (ms <= 0) return this.add(key);
    const at = this.clock.now() + ms;
    const pending = this.delayed.get(key);
    if (pending && pending.at <= at) return;
    pending?.timer.cancel();
    const timer = this.clock.after(ms, () => {
      this.delayed.delete(key);
      this.add(key);
    });
    this.delayed.set(key, { at, timer });
  }

  /** Adds `key` after its next backoff delay; returns that delay. */
  addRateLimited(key: string): number {
    const ms = this.limiter.next(key);
    this.addAfter(key, ms);
    return ms;
  }

  /** The key succeeded (or failed for good): its backoff starts over. */
  forget(key: string): void {
    this.limiter.forget(key);
  }

  retries(key: string): number {
    return this.limiter.retries(key);
  }

  /** Next key to work on; waits for one. Resolves undefined once the queue is shut down. */
  get(): Promise<string | undefined> {
    const key = this.queue.shift();
    if (key !== undefined) {
      this.dirty.delete(key);
      this.processing.add(key);
      return Promise.resolve(key);
    }
    if (this.shuttingDown) return Promise.resolve(undefined);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** The worker finished `key`; if it was added meanwhile it is queued again. */
  done(key: string): void {
    this.processing.delete(key);
    if (!this.dirty.has(key)) return;
    this.dirty.delete(key);
    this.add(key);
  }

  /** Keys waiting to be handed out (not counting delayed or in-flight ones). */
  get depth(): number {
    return this.queue.length;
  }

  get inFlight(): number {
    return this.processing.size;
  }

  get pendingDelayed(): number {
    return this.delayed.size;
  }

  /** Stops handing out keys; waiting `get`s resolve undefined. */
  shutdown(): void {
    this.shuttingDown = true;
    for (const { timer } of this.delayed.values()) timer.cancel();
    this.delayed.clear();
    for (const waiter of this.waiters.splice(0)) waiter(undefined);
  }
}
