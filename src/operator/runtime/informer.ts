/**
 * A supervised informer: list, then watch from the list's resourceVersion, keeping a cache
 * of the objects and telling handlers what changed.
 *
 * Supervision, because a watch fails in many quiet ways:
 * - any error (list or watch) → relist after a jittered, growing backoff, forever;
 * - 410 Gone (the resourceVersion is too old) → relist at once;
 * - no event and no bookmark for `silenceMs` → the connection is presumed dead: relist;
 * - the server ends the watch normally (timeoutSeconds) → watch again from the last version.
 * A relist diffs against the cache, so objects deleted while the watch was down still
 * produce a delete.
 */
import type { Logger } from '../../lib/log.js';
import { backoffMs, INFORMER_BACKOFF, type BackoffPolicy } from './backoff.js';
import { sleep, systemClock, type Clock } from './clock.js';
import { KubeApiError, type KubeClient, type KubeObject, type WatchEvent } from './kube.js';

export interface InformerHandlers<T extends KubeObject> {
  add?(obj: T): void;
  update?(oldObj: T, newObj: T): void;
  delete?(obj: T): void;
}

export interface InformerOptions<T extends KubeObject = KubeObject> {
  /** Name for logs and metrics, e.g. `celulas`. */
  resource: string;
  /** Collection path, e.g. /apis/apps/v1/deployments or …/namespaces/ns/deployments. */
  path: string;
  labelSelector?: string;
  /** Relist when the watch has been silent this long (bookmarks count). Default 5 min. */
  silenceMs?: number;
  /** Asks the server to end each watch after this long (it is then resumed). Default 5 min. */
  watchTimeoutSeconds?: number;
  clock?: Clock;
  backoff?: BackoffPolicy;
  logger: Logger;
  onRestart?: (resource: string, reason: string) => void;
  /**
   * Trims each object before it is cached and handed to handlers: what the operator never
   * reads (managedFields, a Deployment's pod template) is most of an object's size.
   */
  transform?: (obj: T) => T;
}

export const keyOf = (obj: KubeObject): string => (obj.metadata.namespace ? `${obj.metadata.namespace}/${obj.metadata.name}` : obj.metadata.name);

export class Informer<T extends KubeObject> {
  private readonly store = new Map<string, T>();
  private readonly handlers: Array<InformerHandlers<T>> = [];
  private readonly clock: Clock;
  private readonly abort = new AbortController();
  private synced = false;
  private running: Promise<void> | undefined;
  private lastSeenAt = 0;
  private resourceVersion = '';

  constructor(
    private readonly kube: KubeClient,
    private readonly opts: InformerOptions<T>,
  ) {
    this.clock = opts.clock ?? systemClock;
  }

  on(handlers: InformerHandlers<T>): this {
    this.handlers.push(handlers);
    return this;
  }

  get(key: string): T | undefined {
    return this.store.get(key);
  }

  list(filter?: (obj: T) => boolean): T[] {
    const all = [...this.store.values()];
    return filter ? all.filter(filter) : all;
  }

  hasSynced(): boolean {
    return this.synced;
  }

  start(): void {
    this.running ??= this.supervise();
  }

  /** Resolves once the first list has filled the cache (or the informer stops). */
  async waitForSync(): Promise<void> {
    while (!this.synced && !this.abort.signal.aborted) await sleep(this.clock, 50, this.abort.signal);
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.running;
  }

  private async supervise(): Promise<void> {
    let failures = 0;
    let relist = true;
    const signal = this.abort.signal;
    while (!signal.aborted) {
      try {
        if (relist) await this.relist();
        relist = false;
        await this.watchOnce();
        failures = 0;
      } catch (error) {
        if (signal.aborted) break;
        relist = true;
        if (error instanceof KubeApiError && error.status === 410) {
          this.opts.onRestart?.(this.opts.resource, 'expired');
          this.opts.logger.info({ resource: this.opts.resource }, 'watch expired (410 Gone); relisting');
          continue;
        }
        const delay = backoffMs(this.opts.backoff ?? INFORMER_BACKOFF, failures++, () => this.clock.random());
        this.opts.onRestart?.(this.opts.resource, error instanceof SilenceError ? 'silence' : 'error');
        // A 404 on the collection itself is nearly always a missing CRD: say so.
        const hint = error instanceof KubeApiError && error.status === 404 ? { hint: `${this.opts.path} is not served: are the CRDs installed? (kubectl apply --server-side -f crds/)` } : {};
        this.opts.logger.warn({ resource: this.opts.resource, err: (error as Error).message, retryInMs: delay, ...hint }, 'informer failed; restarting');
        await sleep(this.clock, delay, signal);
      }
    }
  }

  private async relist(): Promise<void> {
    const list = await this.kube.list<T>(this.opts.path, { labelSelector: this.opts.labelSelector });
    const seen = new Set<string>();
    for (const item of list.items) {
      const key = keyOf(item);
      seen.add(key);
      this.upsert(key, item);
    }
    for (const [key, old] of [...this.store]) {
      if (seen.has(key)) continue;
      this.store.delete(key);
      this.emit((h) => h.delete?.(old));
    }
    this.resourceVersion = list.metadata.resourceVersion ?? '';
    this.synced = true;
  }

  private async watchOnce(): Promise<void> {
    const watchAbort = new AbortController();
    const stopWatch = () => watchAbort.abort();
    this.abort.signal.addEventListener('abort', stopWatch, { once: true });
    const silenceMs = this.opts.silenceMs ?? 5 * 60_000;
    this.lastSeenAt = this.clock.now();
    let silent = false;
    const check = (): void => {
      const quietFor = this.clock.now() - this.lastSeenAt;
      if (quietFor >= silenceMs) {
        silent = true;
        watchAbort.abort();
      } else {
        watchdog = this.clock.after(silenceMs - quietFor, check);
      }
    };
    let watchdog = this.clock.after(silenceMs, check);
    let failure: unknown;
    try {
      await this.kube.watch<T>(
        this.opts.path,
        {
          labelSelector: this.opts.labelSelector,
          resourceVersion: this.resourceVersion,
          allowWatchBookmarks: 'true',
          timeoutSeconds: String(this.opts.watchTimeoutSeconds ?? 300),
        },
        (event) => {
          try {
            this.handle(event);
          } catch (error) {
            failure ??= error;
            watchAbort.abort();
          }
        },
        watchAbort.signal,
      );
    } finally {
      watchdog.cancel();
      this.abort.signal.removeEventListener('abort', stopWatch);
    }
    if (failure) throw failure;
    if (silent) throw new SilenceError(`no event or bookmark for ${silenceMs} ms`);
  }

  private handle(event: WatchEvent<T>): void {
    this.lastSeenAt = this.clock.now();
    if (event.type === 'ERROR') {
      const status = event.object as unknown as { code?: number; reason?: string; message?: string };
      throw new KubeApiError(status.code ?? 500, status.reason ?? 'WatchError', status.message ?? 'watch error', 'WATCH', this.opts.path);
    }
    const rv = event.object.metadata.resourceVersion;
    if (rv) this.resourceVersion = rv;
    if (event.type === 'BOOKMARK') return;
    const key = keyOf(event.object);
    if (event.type === 'DELETED') {
      const old = this.store.get(key) ?? (this.opts.transform ? this.opts.transform(event.object) : event.object);
      this.store.delete(key);
      this.emit((h) => h.delete?.(old));
      return;
    }
    this.upsert(key, event.object);
  }

  private upsert(key: string, received: T): void {
    const obj = this.opts.transform ? this.opts.transform(received) : received;
    const old = this.store.get(key);
    this.store.set(key, obj);
    if (!old) this.emit((h) => h.add?.(obj));
    else if (old.metadata.resourceVersion !== obj.metadata.resourceVersion) this.emit((h) => h.update?.(old, obj));
  }

  private emit(call: (h: InformerHandlers<T>) => void): void {
    for (const h of this.handlers) {
      try {
        call(h);
      } catch (error) {
        this.opts.logger.error({ resource: this.opts.resource, err: (error as Error).message }, 'informer handler threw');
      }
    }
  }
}

class SilenceError extends Error {}
