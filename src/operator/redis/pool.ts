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

export class RedisPool {
  private readonly clients = new Map<string, Redis>();
  /** célula → the endpoint it used last, so a célula that moves or goes releases its share. */
  private readonly endpointOf = new Map<string, string>();

  /** The connection for `celulaKey`'s Redis, connecting if needed. Rejects when Redis does not answer. */
  async client(celulaKey: string, target: RedisTarget): Promise<Redis> {
    const endpoint = endpointOf(target);
    const previous = this.endpointOf.get(celulaKey);
    this.endpointOf.set(celulaKey, endpoint);
    if (previous !== undefined && previous !== endpoint) this.release(previous);
    const existing = this.clients.get(endpoint);
    if (existing && existing.status === 'ready') return existing;
    this.drop(target);
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
    this.clients.set(endpoint, redis);
    try {
      await redis.connect();
    } catch (error) {
      this.drop(target);
      throw error;
    }
    return redis;
  }

  /** Closes the connection to `target` after a failure, so the next use reconnects. */
  drop(target: RedisTarget): void {
    const endpoint = endpointOf(target);
    const redis = this.clients.get(endpoint);
    if (!redis) return;
    this.clients.delete(endpoint);
    redis.disconnect();
  }

  /** The célula was deleted: close its endpoint's connection if no other célula uses it. */
  forget(celulaKey: string): void {
    const endpoint = this.endpointOf.get(celulaKey);
    this.endpointOf.delete(celulaKey);
    if (endpoint !== undefined) this.release(endpoint);
  }

  closeAll(): void {
    for (const redis of this.clients.values()) redis.disconnect();
    this.clients.clear();
    this.endpointOf.clear();
  }

  private release(endpoint: string): void {
    if ([...this.endpointOf.values()].includes(endpoint)) return;
    this.clients.get(endpoint)?.disconnect();
    this.clients.delete(endpoint);
  }
}

export function endpointOf(target: RedisTarget): string {
  return JSON.stringify([target.host, target.port, target.db, target.password ?? '']);
}
