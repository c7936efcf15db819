/**
 * Pushes a célula's live parameters (threads, retries, timeouts) to its Redis config hash,
 * where running workers pick them up within a second (docs/protocol.md §7). One connection
 * per célula, opened on demand; a Redis that does not answer is reported, never thrown
 * past the reconciler.
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

interface Entry {
  id: string;
  redis: Redis;
}

const CONNECT_TIMEOUT_MS = 2000;

export class LiveConfigPusher {
  private readonly clients = new Map<string, Entry>();

  /** Makes the hash hold `config`; writes (and announces) only the fields that differ. */
  async push(celulaKey: string, queue: string, target: RedisTarget, config: LiveConfig): Promise<PushResult> {
    try {
      const redis = await this.client(celulaKey, target);
      const store = new CelulaStore(redis, { celula: queue, prefix: target.prefix });
      const current = await store.readConfig();
      const stale: Partial<LiveConfig> = {};
      for (const [field, value] of Object.entries(config) as Array<[keyof LiveConfig, number]>) if (current[field] !== String(value)) stale[field] = value;
      if (Object.keys(stale).length === 0) return { ok: true, changed: false };
      await store.writeConfig(stale);
      return { ok: true, changed: true };
    } catch (error) {
      this.drop(celulaKey);
      return { ok: false, error: (error as Error).message };
    }
  }

  /** Closes the célula's connection (it was deleted). */
  forget(celulaKey: string): void {
    this.drop(celulaKey);
  }

  closeAll(): void {
    for (const key of [...this.clients.keys()]) this.drop(key);
  }

  private async client(key: string, target: RedisTarget): Promise<Redis> {
    const id = JSON.stringify([target.host, target.port, target.db, target.password ?? '']);
    const existing = this.clients.get(key);
    if (existing && existing.id === id && existing.redis.status === 'ready') return existing.redis;
    this.drop(key);
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
    this.clients.set(key, { id, redis });
    await redis.connect();
    return redis;
  }

  private drop(key: string): void {
    const entry = this.clients.get(key);
    if (!entry) return;
    this.clients.delete(key);
    entry.redis.disconnect();
  }
}
