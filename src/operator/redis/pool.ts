/**
 * The operator's Redis connections: one per endpoint (host, port, db, password), shared by
 * every célula that uses it, for both the live-config pushes and the queue polls. Hundreds
 * of células usually live in a handful of Redis servers; a connection each cost the
 * operator hundreds of megabytes.
 */
import { Redis } from 'ioredis';

export interface RedisTarget {
  host: string;
  port: number;
  db: number;
  prefix: string;
  password?: string;
}

const TIMEOUT_MS = 2000;
/**
 * After a failed connect the endpoint answers with that failure for this long instead of
 * trying again: a Redis that does not answer would otherwise hold a reconcile worker for
 * the connect timeout on every célula that uses it.
 */
export const FAIL_FAST_MS = 5000;

interface Endpoint {
  /** The connection, once it is up. */
  redis?: Redis;
  /** The connect in progress: concurrent callers share it. */
  connecting?: Promise<Redis>;
  failed?: { at: number; error: Error };
}

export class RedisPool {
  private readonly endpoints = new Map<string, Endpoint>();
  /** célula → the endpoint it used last, so a célula that moves or goes releases its share. */
  private readonly endpointOf = new Map<string, string>();

  constructor(private readonly now: () => number = () => performance.now()) {}

  /** The connection for `celulaKey`'s Redis, connecting if needed. Rejects when Redis does not answer. */
  client(celulaKey: string, target: RedisTarget): Promise<Redis> {
    const key = endpointOf(target);
    const previous = this.endpointOf.get(celulaKey);
    this.endpointOf.set(celulaKey, key);
    if (previous !== undefined && previous !== key) this.release(previous);
    const endpoint = this.endpoints.get(key) ?? {};
    this.endpoints.set(key, endpoint);
    if (endpoint.redis?.status === 'ready') return Promise.resolve(endpoint.redis);
    if (endpoint.connecting) return endpoint.connecting;
    if (endpoint.failed && this.now() - endpoint.failed.at < FAIL_FAST_MS) return Promise.reject(endpoint.failed.error);
    endpoint.redis?.disconnect();
    delete endpoint.redis;
    const redis = new Redis({
      host: target.host,
      port: target.port,
      db: target.db,
      ...(target.password ? { password: target.password } : {}),
      lazyConnect: true,
      connectTimeout: TIMEOUT_MS,
      commandTimeout: TIMEOUT_MS,
      maxRetriesPerRequest: 0,
      enableOfflineQueue: false,
      // One attempt per use; the reconciler and the poller decide when to try again.
      retryStrategy: () => null,
    });
    redis.on('error', () => undefined);
    endpoint.connecting = redis.connect().then(
      () => {
        delete endpoint.connecting;
        delete endpoint.failed;
        // Released while connecting (its last célula went): do not keep it.
        if (this.endpoints.get(key) !== endpoint) redis.disconnect();
        else endpoint.redis = redis;
        return redis;
      },
      (error: unknown) => {
        delete endpoint.connecting;
        endpoint.failed = { at: this.now(), error: error instanceof Error ? error : new Error(String(error)) };
        redis.disconnect();
        throw error;
      },
    );
    return endpoint.connecting;
  }

  /** After a command on `redis` failed: drop that connection (only that one), so the next use reconnects. */
  drop(target: RedisTarget, redis?: Redis): void {
    const endpoint = this.endpoints.get(endpointOf(target));
    if (!endpoint?.redis || (redis && endpoint.redis !== redis)) return;
    endpoint.redis.disconnect();
    delete endpoint.redis;
  }

  /** The célula was deleted: close its endpoint's connection if no other célula uses it. */
  forget(celulaKey: string): void {
    const key = this.endpointOf.get(celulaKey);
    this.endpointOf.delete(celulaKey);
    if (key !== undefined) this.release(key);
  }

  closeAll(): void {
    for (const endpoint of this.endpoints.values()) endpoint.redis?.disconnect();
    this.endpoints.clear();
    this.endpointOf.clear();
  }

  private release(key: string): void {
    if ([...this.endpointOf.values()].includes(key)) return;
    this.endpoints.get(key)?.redis?.disconnect();
    this.endpoints.delete(key);
  }
}

export function endpointOf(target: RedisTarget): string {
  return JSON.stringify([target.host, target.port, target.db, target.password ?? '']);
}
