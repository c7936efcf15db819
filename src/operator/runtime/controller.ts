/**
 * A controller: one work queue, one reconcile function, a few workers.
 *
 * What a reconcile returns decides what happens to its key, as in controller-runtime:
 * - resolves `{}` → done, backoff forgotten;
 * - resolves `{ requeueAfter }` → backoff forgotten, key added again after that time;
 * - throws `TerminalError` → logged, not retried until the object changes;
 * - throws anything else → retried after the key's exponential backoff.
 *
 * Workers run only while `active` (the leader); the queue keeps collecting keys meanwhile so
 * a new leader starts with everything its informers have seen.
 */
import type { Logger } from '../../lib/log.js';
import { NotLeaderError } from './kube.js';
import type { OperatorMetrics } from './metrics.js';
import { WorkQueue } from './queue.js';

export interface Result {
  requeueAfterMs?: number;
}

/** A failure that retrying cannot fix (an invalid object); the next change of the object retries. */
export class TerminalError extends Error {
  readonly code = 'MC_ERR_TERMINAL';
}

export type Reconcile = (key: string) => Promise<Result>;

export interface ControllerOptions {
  kind: string;
  reconcile: Reconcile;
  workers?: number;
  logger: Logger;
  metrics: OperatorMetrics;
  queue?: WorkQueue;
}

export class Controller {
  readonly queue: WorkQueue;
  readonly kind: string;
  private workers: Array<Promise<void>> = [];
  private active = false;
  private shutDown = false;
  private wake: (() => void) | undefined;
  private paused: Promise<void> = new Promise((resolve) => (this.wake = resolve));

  constructor(private readonly opts: ControllerOptions) {
    this.kind = opts.kind;
    this.queue = opts.queue ?? new WorkQueue();
  }

  enqueue(key: string): void {
    this.queue.add(key);
    this.opts.metrics.queueDepth.set({ kind: this.kind }, this.queue.depth);
  }

  /** Starts the workers; they wait until `setActive(true)`. */
  start(): void {
    const n = this.opts.workers ?? 2;
    for (let i = 0; i < n; i++) this.workers.push(this.work());
  }

  setActive(active: boolean): void {
    if (active === this.active) return;
    this.active = active;
    if (active) this.wake?.();
    else this.paused = new Promise((resolve) => (this.wake = resolve));
  }

  /** Stops handing out keys and waits for the reconciles in flight. */
  async stop(): Promise<void> {
    this.shutDown = true;
    this.queue.shutdown();
    this.wake?.();
    await Promise.all(this.workers);
  }

  private async work(): Promise<void> {
    for (;;) {
      const key = await this.queue.get();
      if (key === undefined) return;
      while (!this.active && !this.shutDown) await this.paused;
      if (!this.active) {
        // Shut down while paused: leave the key for whoever leads next.
        this.queue.done(key);
        return;
      }
      await this.process(key);
      this.queue.done(key);
      this.opts.metrics.queueDepth.set({ kind: this.kind }, this.queue.depth);
    }
  }

  private async process(key: string): Promise<void> {
    const { metrics, logger } = this.opts;
    const end = metrics.reconcileDuration.startTimer({ kind: this.kind });
    try {
      const result = await this.opts.reconcile(key);
      this.queue.forget(key);
      if (result.requeueAfterMs !== undefined && result.requeueAfterMs > 0) {
        this.queue.addAfter(key, result.requeueAfterMs);
        metrics.reconciles.inc({ kind: this.kind, result: 'requeue' });
      } else {
        metrics.reconciles.inc({ kind: this.kind, result: 'success' });
      }
    } catch (error) {
      if (error instanceof TerminalError) {
        this.queue.forget(key);
        metrics.reconciles.inc({ kind: this.kind, result: 'terminal' });
        logger.warn({ kind: this.kind, key, err: error.message }, 'reconcile failed; not retrying until the object changes');
      } else if (error instanceof NotLeaderError) {
        // Lost the lease mid-reconcile: the next leader picks the key up from its own queue.
        metrics.reconciles.inc({ kind: this.kind, result: 'not_leader' });
        this.queue.addRateLimited(key);
      } else {
        const retryInMs = this.queue.addRateLimited(key);
        metrics.reconciles.inc({ kind: this.kind, result: 'error' });
        logger.warn({ kind: this.kind, key, err: (error as Error).message, retryInMs, retries: this.queue.retries(key) }, 'reconcile failed; retrying');
      }
    } finally {
      end();
    }
  }
}
