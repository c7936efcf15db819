/**
 * A central's guards in Redis, shared by every worker of every célula on the same Redis
 * (and prefix): channel slots (the central's maxChannels) and an Originate token bucket
 * (its maxOriginatesPerSecond). Both are one Lua script each, on the central's own slot.
 */
import type { Redis } from 'ioredis';
import { centralKeys, DEFAULT_PREFIX, type CentralKeys } from './keys.js';
import { defineScripts, type ScriptReply, type ScriptRunner } from './scripts.js';

export interface SlotGrant {
  /** Slots the holder holds now. */
  held: number;
  /** Slots all holders of the central hold now. */
  total: number;
}

export interface TokenGrant {
  granted: number;
  /** Ms until the next token; 0 when every token asked for was granted. */
  waitMs: number;
}

function pair(reply: ScriptReply): [number, number] {
  return Array.isArray(reply) ? [Number(reply[0]), Number(reply[1])] : [0, 0];
}

/** Default burst of the Originate bucket: a tenth of a second's worth, at least one. */
export function defaultBurst(ratePerSecond: number): number {
  return Math.max(1, Math.ceil(ratePerSecond / 10));
}

export class CentralStore {
  readonly keys: CentralKeys;
  private readonly scripts: ScriptRunner;

  constructor(
    private readonly redis: Redis,
    options: { central: string; prefix?: string },
  ) {
    this.keys = centralKeys(options.central, options.prefix ?? DEFAULT_PREFIX);
    this.scripts = defineScripts(redis);
  }

  /**
   * Sets the holder's slots to `target` (absolute, so safe to repeat), growing only into
   * what the other holders leave under `cap`; `inUse` is always kept. Renews the lease.
   */
  async holdSlots(holder: string, inUse: number, target: number, cap: number, leaseMs: number): Promise<SlotGrant> {
    const [held, total] = pair(await this.scripts.run('slots-2', [this.keys.slots, this.keys.leases], [holder, inUse, target, cap, leaseMs]));
    return { held, total };
  }

  async takeTokens(wanted: number, ratePerSecond: number, burst: number): Promise<TokenGrant> {
    const [granted, waitMs] = pair(await this.scripts.run('rate-1', [this.keys.rate], [wanted, ratePerSecond, burst]));
    return { granted, waitMs };
  }

  /** Holder → slots, as stored (expired holders included until the next grant purges them). */
  async holders(): Promise<Map<string, number>> {
    const raw = await this.redis.hgetall(this.keys.slots);
    return new Map(Object.entries(raw).map(([holder, n]) => [holder, Number(n)]));
  }
}
