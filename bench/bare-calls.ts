/**
 * The Redis side of a call with nothing else around it, shared by the baselines of
 * bench/worker.ts (ceiling-loop.ts, latency-floor.ts): the worker's steps per call with no
 * schema checks, call tracking or metrics.
 */
import { Redis } from 'ioredis';
import { CelulaStore, ReplyInbox } from '../src/protocol/store.js';
import { CentralStore, defaultBurst } from '../src/protocol/central-store.js';

/** As bench/worker.ts configures the worker's central. */
export const CENTRAL = { name: 'bench-central', maxChannels: 100_000, rate: 10_000, burst: defaultBurst(10_000) };

export class BareCalls {
  readonly redis: Redis;
  readonly store: CelulaStore;
  readonly central: CentralStore;
  private readonly inboxConnection: Redis;
  private readonly inbox: ReplyInbox;
  private readonly waiting = new Map<string, () => void>();
  private reading = true;
  private readonly reader: Promise<void>;

  constructor(port: number, celula: string, readonly worker: string) {
    this.redis = new Redis({ port, host: '127.0.0.1', enableAutoPipelining: true });
    this.inboxConnection = new Redis({ port, host: '127.0.0.1' });
    this.store = new CelulaStore(this.redis, { celula });
    this.central = new CentralStore(this.redis, { central: CENTRAL.name });
    this.inbox = new ReplyInbox(this.inboxConnection, this.store.keys, worker);
    this.reader = this.readReplies();
  }

  /** ACK replies, as the worker takes them: every waiting one per wake, removed once handled. */
  private async readReplies(): Promise<void> {
    while (this.reading) {
      const taken = await this.inbox.take(1).catch(() => []);
      for (const raw of taken) this.waiting.get((JSON.parse(raw.toString()) as { id: string }).id)?.();
      if (taken.length > 0) void this.store.repliesHandled(this.worker, taken).catch(() => undefined);
    }
  }

  /** claimed → originating: what must succeed before an Originate may be written. */
  originating(id: string, now: number): Promise<boolean> {
    return this.store.transition(id, this.worker, ['claimed'], 'originating', now, { a: 1, ch: `mc1-${id}` }, `${this.worker}/${id}/1`);
  }

  /**
   * The rest of a zero-length answered call: record originated and push the ACK, take its
   * reply, publish the result with the CodLigacao (the call has ended by then, so the worker
   * does not store it on the record first).
   */
  async rest(id: string, now: number): Promise<void> {
    const { store, worker } = this;
    const replied = new Promise<void>((resolve) => this.waiting.set(id, resolve));
    await store.originated(id, worker, { v: 1, id, celula: store.celula, worker, central: 'c', attempt: 1, replyTo: store.keys.inbox(worker), channelId: `mc1-${id}`, at: now }, now);
    await replied;
    this.waiting.delete(id);
    await store.complete({ v: 1, id, celula: store.celula, status: 'answered', reason: 4, cause: 16, causeTxt: 'Normal Clearing', central: 'c', worker, attempts: 1, codLigacao: '1', ack: 'replied', claimedAt: now, originatedAt: now, answeredAt: now, endedAt: now, billsec: 0 });
  }

  async close(): Promise<void> {
    this.reading = false;
    this.inboxConnection.disconnect();
    await this.reader;
    this.redis.disconnect();
  }
}
