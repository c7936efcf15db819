/**
 * Pushes a célula's live parameters (threads, retries, timeouts) to its Redis config hash,
 * where running workers pick them up within a second (docs/protocol.md §7). A Redis that
 * does not answer is reported, never thrown past the reconciler.
 */
import { Redis } from 'ioredis';
import { CelulaStore } from '../../protocol/store.js';
import type { LiveConfig } from '../../protocol/messages.js';

export interface RedisTarget {
  host: string;
  port: number;
  db: number;
  prefix: string;
  password?: string;
}

export type PushResult = { ok: true; changed: boolean } | { ok: false; error: string };

const CONNECT_TIMEOUT_MS = 2000;

/**
 * One connection per Redis endpoint, shared by every célula that uses it: hundreds of
 * células usually live in a handful of Redis servers, and a connection each cost the
 * operator hundreds of megabytes.
 */
export class LiveConfigPusher {
  private readonly clients = new Map<string, Redis>();
  /** célula → the endpoint it used last, so a célula that moves or goes releases its share. */
  private readonly endpointOf = new Map<string, string>();

  /** Makes the hash hold `config`; writes (and announces) only the fields that differ. */
  async push(celulaKey: string, queue: string, target: RedisTarget, config: LiveConfig): Promise<PushResult> {
    const endpoint = JSON.stringify([target.host, target.port, target.db, target.password ?? '']);
    try {
      const previous = this.endpointOf.get(celulaKey);
      this.endpointOf.set(celulaKey, endpoint);
      if (previous !== undefined && previous !== endpoint) this.release(previous);
      const redis = await this.client(endpoint, target);
      const store = new CelulaStore(redis, { celula: queue, prefix: target.prefix });
      const current = await store.readConfig();
      const stale: Partial<LiveConfig> = {};
      for (const [field, value] of Object.entries(config) as Array<[keyof LiveConfig, number]>) if (current[field] !== String(value)) stale[field] = value;
      if (Object.keys(stale).length === 0) return { ok: true, changed: false };
      await store.writeConfig(stale);
      return { ok: true, changed: true };
    } catch (error) {
      this.drop(endpoint);
      return { ok: false, error: (error as Error).message };
    }
  }

  /** The célula was deleted: close its endpoint's connection if no other célula uses it. */
  forget(celulaKey: string): void {
    const endpoint = this.endpointOf.get(celulaKey);
    this.endpointOf.delete(celulaKey);
    if (endpoint !== undefined) this.release(endpoint);
  }

  closeAll(): void {
    for (const endpoint of [...this.clients.keys()]) this.drop(endpoint);
    this.endpointOf.clear();
  }

  private release(endpoint: string): void {
    if (![...this.endpointOf.values()].includes(endpoint)) this.drop(endpoint);
  }

  private async client(endpoint: string, target: RedisTarget): Promise<Redis> {
    const existing = this.clients.get(endpoint);
    if (existing && existing.status === 'ready') return existing;
    this.drop(endpoint);
    const redis = new Redis({
      host: target.host,
      port: target.port,
      db: target.db,
      ...(target.password ? { password: target.password } : {}),
      lazyConnect: true,
      connectTimeout: CONNECT_TIMEOUT_MS,
      commandTimeout: CONNECT_TIMEOUT_MS,
      maxRetriesPerRequest: 0,
      enableOfflineQueue: false,
      // One attempt per reconcile; the reconciler decides when to try again.
      retryStrategy: () => null,
    });
    redis.on('error', () => undefined);
    this.clients.set(endpoint, redis);
    await redis.connect();
    return redis;
  }

  private drop(endpoint: string): void {
    const redis = this.clients.get(endpoint);
    if (!redis) return;
    this.clients.delete(endpoint);
    redis.disconnect();
  }
}
