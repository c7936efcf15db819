/**
 * Pushes a célula's live parameters (threads, retries, timeouts) to its Redis config hash,
 * where running workers pick them up within a second (docs/protocol.md §7). A Redis that
 * does not answer is reported, never thrown past the reconciler; losing the lead is.
 */
import type { Redis } from 'ioredis';
import { CelulaStore } from '../../protocol/store.js';
import type { LiveConfig } from '../../protocol/messages.js';
import type { RedisPool, RedisTarget } from '../redis/pool.js';
import { NotLeaderError } from '../runtime/kube.js';

export type PushResult = { ok: true; changed: boolean } | { ok: false; error: string };

export class LiveConfigPusher {
  constructor(
    private readonly pool: RedisPool,
    /** The same fence as the operator's Kubernetes writes: a deposed leader writes nothing. */
    private readonly mayWrite: () => boolean = () => true,
  ) {}

  /** Makes the hash hold `config`; writes (and announces) only the fields that differ. */
  async push(celulaKey: string, queue: string, target: RedisTarget, config: LiveConfig): Promise<PushResult> {
    let redis: Redis | undefined;
    try {
      redis = await this.pool.client(celulaKey, target);
      const store = new CelulaStore(redis, { celula: queue, prefix: target.prefix });
      const current = await store.readConfig();
      const stale: Partial<LiveConfig> = {};
      for (const [field, value] of Object.entries(config) as Array<[keyof LiveConfig, number]>) if (current[field] !== String(value)) stale[field] = value;
      if (Object.keys(stale).length === 0) return { ok: true, changed: false };
      if (!this.mayWrite()) throw new NotLeaderError(`the config hash of ${queue}`);
      await store.writeConfig(stale);
      return { ok: true, changed: true };
    } catch (error) {
      if (error instanceof NotLeaderError) throw error;
      if (redis) this.pool.drop(target, redis);
      return { ok: false, error: (error as Error).message };
    }
  }
}
