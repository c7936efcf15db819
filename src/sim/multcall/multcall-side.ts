/**
 * The Multcall side of protocol v1, as the .NET team will implement it: push dial
 * requests, answer each ACK with a CodLigacao, take the results. Used as the load
 * generator, by the demo, and by the tests as the reference client of the protocol.
 */
import { Redis } from 'ioredis';
import { celulaKeys, type CelulaKeys } from '../../protocol/keys.js';
import { ack as ackSchema, callResult, type CallResult, type CallStatus, type DialRequest, CALL_STATUSES } from '../../protocol/messages.js';

export interface MultcallSideOptions {
  redis: { host: string; port: number; password?: string };
  celula: string;
  prefix?: string;
  /** Delay before answering an ACK (simulates a busy database). */
  ackDelayMs?: number;
  /** Fraction of ACKs never answered, to exercise Timeout_Command_ACK. */
  ackDropRate?: number;
  /**
   * This consumer's name in its processing list's key, never used by two running instances
   * at once. A restart under the same name stores what its predecessor took but had not
   * stored; default: a name of its own.
   */
  consumer?: string;
  random?: () => number;
}

export interface Tally {
  enqueued: number;
  acked: number;
  results: number;
  byStatus: Record<CallStatus, number>;
  /** Request ids with more than one result: must stay empty. */
  duplicateResults: string[];
  dead: number;
}

export class MultcallSide {
  readonly keys: CelulaKeys;
  private readonly commands: Redis;
  private readonly ackConnection: Redis;
  private readonly resultConnection: Redis;
  private running = false;
  private loops: Promise<void>[] = [];
  private codLigacao = 1000;
  private readonly consumerId: string;
  readonly results = new Map<string, CallResult>();
  readonly tally: Tally;
  private readonly listeners = new Set<(result: CallResult) => void>();

  constructor(private readonly options: MultcallSideOptions) {
    this.keys = celulaKeys(options.celula, options.prefix);
    this.consumerId = options.consumer ?? `${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
    const connection = { host: options.redis.host, port: options.redis.port, ...(options.redis.password ? { password: options.redis.password } : {}), maxRetriesPerRequest: null };
    this.commands = new Redis(connection);
    this.ackConnection = new Redis(connection);
    this.resultConnection = new Redis(connection);
    for (const c of [this.commands, this.ackConnection, this.resultConnection]) c.on('error', () => undefined);
    this.tally = { enqueued: 0, acked: 0, results: 0, byStatus: Object.fromEntries(CALL_STATUSES.map((s) => [s, 0])) as Record<CallStatus, number>, duplicateResults: [], dead: 0 };
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loops.push(this.answerAcks(), this.takeResults());
  }

  async stop(): Promise<void> {
    this.running = false;
    this.ackConnection.disconnect();
    this.resultConnection.disconnect();
    await Promise.allSettled(this.loops);
    this.commands.disconnect();
  }

  /** Pushes requests in one round trip. */
  async enqueue(requests: readonly DialRequest[] | readonly string[]): Promise<void> {
    if (requests.length === 0) return;
    const raw = requests.map((r) => (typeof r === 'string' ? r : JSON.stringify(r)));
    await this.commands.lpush(this.keys.dial, ...raw);
    this.tally.enqueued += raw.length;
  }

  /** Pushes `total` requests at `ratePerSecond`, in small batches paced by the clock. */
  async enqueueAtRate(make: (i: number) => DialRequest, total: number, ratePerSecond: number, signal?: AbortSignal): Promise<void> {
    const started = performance.now();
    let sent = 0;
    while (sent < total && !signal?.aborted) {
      const due = Math.min(total, Math.floor(((performance.now() - started) / 1000) * ratePerSecond) + 1);
      if (due > sent) {
        const batch: DialRequest[] = [];
        for (let i = sent; i < due; i++) batch.push(make(i));
        await this.enqueue(batch);
        sent = due;
      }
      await new Promise((r) => setTimeout(r, Math.max(1, Math.min(50, 1000 / ratePerSecond))));
    }
  }

  onResult(listener: (result: CallResult) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Resolves when `count` results have arrived in total, or rejects after `timeoutMs`. */
  async waitForResults(count: number, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.results.size < count) {
      if (Date.now() > deadline) throw new Error(`waited ${timeoutMs} ms for ${count} results, have ${this.results.size}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  async depth(): Promise<{ queued: number; inFlight: number; dead: number }> {
    const [queued, inFlight, dead] = await Promise.all([this.commands.llen(this.keys.dial), this.commands.hlen(this.keys.calls), this.commands.llen(this.keys.dead)]);
    this.tally.dead = dead;
    return { queued, inFlight, dead };
  }

  async deadLetters(): Promise<string[]> {
    return this.commands.lrange(this.keys.dead, 0, -1);
  }

  /** Answers ACKs in batches: one blocking pop takes whatever is queued (up to 256), replies pipelined. */
  private async answerAcks(): Promise<void> {
    const random = this.options.random ?? Math.random;
    while (this.running) {
      let raws: string[];
      try {
        const popped = await this.ackConnection.blmpop(1, 1, this.keys.acks, 'RIGHT', 'COUNT', 256);
        if (!popped) continue;
        raws = popped[1];
      } catch {
        if (!this.running) return;
        await new Promise((r) => setTimeout(r, 100));
        continue;
      }
      const replies: Array<[string, string]> = [];
      for (const raw of raws) {
        // An ACK lost here only means the worker reports `ack: timeout`; the call itself is safe.
        const parsed = ackSchema.safeParse(JSON.parse(raw));
        if (!parsed.success) continue;
        this.tally.acked += 1;
        if ((this.options.ackDropRate ?? 0) > 0 && random() < (this.options.ackDropRate ?? 0)) continue;
        replies.push([parsed.data.replyTo, JSON.stringify({ v: 1, id: parsed.data.id, codLigacao: String(++this.codLigacao) })]);
      }
      const send = () => {
        const pipeline = this.commands.pipeline();
        for (const [list, reply] of replies) pipeline.lpush(list, reply);
        return pipeline.exec().catch(() => undefined);
      };
      if (this.options.ackDelayMs) setTimeout(() => void send(), this.options.ackDelayMs);
      else await send();
    }
  }

  /**
   * Reliable consumption: each result is moved to our own processing list, handled, then
   * removed; whatever a crash (or a reply lost in a Redis restart) leaves there is handled
   * again on the next pass. Handling is idempotent by request id.
   */
  private async takeResults(): Promise<void> {
    const processing = `${this.keys.results}:processing:${this.consumerId}`;
    let recheck = true;
    let batch = 1;
    this.resultConnection.on('ready', () => {
      recheck = true;
    });
    while (this.running) {
      try {
        if (recheck) {
          recheck = false;
          // Oldest first: the order they were taken in, and the order they sit in from the tail.
          await this.handleResults((await this.commands.lrange(processing, 0, -1)).reverse(), processing);
        }
        const raw = await this.resultConnection.blmove(this.keys.results, processing, 'RIGHT', 'LEFT', 1);
        if (!raw) continue;
        // Whatever else is waiting moves in the same round trip: as many moves as the last
        // batch filled, doubled, so a trickle costs one spare move and a flood ramps up fast.
        const more = this.resultConnection.pipeline();
        for (let i = 0; i < batch; i++) more.lmove(this.keys.results, processing, 'RIGHT', 'LEFT');
        const moved = ((await more.exec()) ?? []).map(([, v]) => v).filter((v): v is string => typeof v === 'string');
        batch = moved.length === batch ? Math.min(2 * batch, 256) : moved.length + 1;
        await this.handleResults([raw, ...moved], processing);
      } catch {
        if (!this.running) return;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  private async handleResults(raws: readonly string[], processing: string): Promise<void> {
    if (raws.length === 0) return;
    for (const raw of raws) {
      const result = callResult.parse(JSON.parse(raw));
      const seen = this.results.get(result.id);
      if (seen && JSON.stringify(seen) !== JSON.stringify(result)) this.tally.duplicateResults.push(result.id);
      if (seen) continue;
      this.results.set(result.id, result);
      this.tally.results += 1;
      this.tally.byStatus[result.status] += 1;
      for (const listener of this.listeners) listener(result);
    }
    // Stored (here: in memory) before it leaves the processing list. Removed by value, so a
    // command re-sent after a reconnect, or a move whose reply was lost, can never take an
    // unstored result with it; from the tail, oldest first, where each one is by then, so
    // no LREM scans the list (from the head, a batch of n cost n²/2 steps).
    const pipeline = this.commands.pipeline();
    for (const raw of raws) pipeline.lrem(processing, -1, raw);
    await pipeline.exec();
  }

}
