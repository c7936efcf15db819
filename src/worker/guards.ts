/**
 * Per-central guards, worker side. Carriers cap calls per second and Asterisk holds one
 * thread per async Originate, so the central's limits hold for all its workers together:
 * the state lives in Redis (src/protocol/central-store.ts). These classes keep that to one
 * round trip per batch of calls, never one per call.
 */
import type { TokenGrant } from '../protocol/central-store.js';

const pause = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref());

/**
 * The worker's channel slots on its central. `sync()` brings the holding in Redis to what
 * `demand()` says at the moment the round trip starts; concurrent calls share one round
 * trip, and only one is in flight at a time, so the holding never goes backwards.
 */
export class ChannelSlots {
  private holding = 0;
  /** What the round trip in flight asks for: a shrink may already have happened in Redis. */
  private asking: number | undefined;
  private waiting: Array<() => void> = [];
  private running = false;

  constructor(
    /** Sets the holding to `target` (keeping at least `inUse`) and answers what is held now. */
    private readonly push: (inUse: number, target: number) => Promise<number>,
    private readonly demand: () => { inUse: number; target: number },
  ) {}

  /**
   * Slots surely held: what Redis last answered, or less while a round trip that gives
   * slots back is in flight. Claiming into slots a concurrent sync is returning would put
   * calls on the central that no slot covers, and other workers would take those slots.
   */
  get held(): number {
    return this.asking === undefined ? this.holding : Math.min(this.holding, this.asking);
  }

  sync(): Promise<void> {
    return new Promise<void>((resolve) => {
      this.waiting.push(resolve);
      if (!this.running) void this.loop();
    });
  }

  private async loop(): Promise<void> {
    this.running = true;
    while (this.waiting.length > 0) {
      const batch = this.waiting.splice(0);
      const { inUse, target } = this.demand();
      this.asking = Math.max(inUse, target);
      try {
        this.holding = await this.push(inUse, target);
      } catch {
        // Unknown whether it ran: assume a shrink did and a growth did not.
        this.holding = Math.min(this.holding, this.asking);
      }
      this.asking = undefined;
      for (const resolve of batch) resolve();
    }
    this.running = false;
  }
}

interface TokenWaiter {
  resolve: (granted: boolean) => void;
  cancelled: () => boolean;
  /** Arrival order: tokens go to the oldest caller first, whichever batch asked for them. */
  seq: number;
}

/**
 * Originate tokens from the central's shared bucket. The callers of one run of code ask
 * together, in one round trip; while the bucket has tokens, a new batch does not wait for
 * the round trip of the one before (a call's token would otherwise wait behind another
 * call's). Once the bucket runs dry, callers queue in order and one retry asks again when
 * the next token is due.
 */
export class OriginateTokens {
  /** Callers not yet asked for, oldest first. */
  private waiters: TokenWaiter[] = [];
  private scheduled = false;
  /** The bucket ran dry: nobody asks until the retry. */
  private dry = false;
  private arrivals = 0;

  constructor(
    private readonly fetch: (wanted: number) => Promise<TokenGrant>,
    private readonly sleep: (ms: number) => Promise<void> = pause,
  ) {}

  /** Resolves true with a token, or false once `cancelled()` says the caller no longer wants one. */
  take(cancelled: () => boolean): Promise<boolean> {
    return new Promise<boolean>((resolve) => {
      this.waiters.push({ resolve, cancelled, seq: this.arrivals++ });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled || this.dry) return;
    this.scheduled = true;
    // Start after the current run of code: the calls of one claim batch ask together.
    queueMicrotask(() => {
      this.scheduled = false;
      void this.ask();
    });
  }

  private dropCancelled(): void {
    this.waiters = this.waiters.filter((w) => {
      if (!w.cancelled()) return true;
      w.resolve(false);
      return false;
    });
  }

  private async ask(): Promise<void> {
    this.dropCancelled();
    const batch = this.waiters.splice(0);
    if (batch.length === 0) return;
    let grant: TokenGrant;
    try {
      grant = await this.fetch(batch.length);
    } catch {
      grant = { granted: 0, waitMs: 200 };
    }
    // Tokens go to the oldest callers, in this batch or still waiting from an earlier one
    // (a caller left short by a dry bucket is never overtaken by one who came later); a
    // caller cancelled during the round trip passes its token to the next in line.
    let left = grant.granted;
    const unserved: TokenWaiter[] = [];
    for (const waiter of [...batch, ...this.waiters.splice(0)].sort((a, b) => a.seq - b.seq)) {
      if (waiter.cancelled()) waiter.resolve(false);
      else if (left > 0) {
        waiter.resolve(true);
        left -= 1;
      } else unserved.push(waiter);
    }
    this.waiters = unserved;
    if (grant.granted < batch.length) {
      if (this.dry) return; // a retry is already due
      this.dry = true;
      await this.sleep(Math.max(1, grant.waitMs));
      this.dry = false;
    }
    if (this.waiters.length > 0) this.schedule();
  }
}
