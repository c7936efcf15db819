/**
 * A worker's view of one célula in Redis: every transition of protocol v1 as one call.
 * Multi-key transitions are Lua scripts (see ./lua); single-key ones are plain commands.
 */
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { celulaKeys, DEFAULT_PREFIX, type CelulaKeys, celulaRegistryKey } from './keys.js';
import { defineScripts, type ScriptRunner, type ScriptReply } from './scripts.js';
import { StepBatcher } from './step-batcher.js';
import type { Ack, CallResult, DeadLetter, LiveConfig } from './messages.js';

/** States a call record goes through in Redis. Only `claimed` may ever go back to the queue. */
export type RecordState = 'claimed' | 'originating' | 'originated';

/** The call record as stored (short keys: it is written on every transition). */
export const callRecord = z.looseObject({
  s: z.enum(['claimed', 'originating', 'originated']),
  w: z.string(),
  c: z.string().optional(),
  t: z.number(),
  /** Time of the last transition (ms). */
  u: z.number().optional(),
  a: z.number(),
  r: z.string(),
  o: z.number().optional(),
  ch: z.string().optional(),
  k: z.string().optional(),
  /** Answer time (ms), written when a draining worker hands the call to a peer. */
  ans: z.number().optional(),
  /** The worker the call was last taken over from. */
  from: z.string().optional(),
  /** The worker that sent the ACK, on whose inbox Multcall's reply lands: written at a take-over. */
  rt: z.string().optional(),
});
export type CallRecord = z.infer<typeof callRecord>;

export interface ClaimedRequest {
  id: string;
  raw: string;
}

export interface WorkerInfo {
  central: string;
  host: string;
  threads: number;
  startedAt: number;
}

export interface StoreOptions {
  celula: string;
  prefix?: string;
  /** How long a request id is remembered to refuse duplicates. */
  dedupeWindowMs?: number;
  maxMessageBytes?: number;
}

/**
 * How long a blocking command (which Redis itself ends after a second) may go unanswered
 * before its connection is taken for dead: a Redis host lost with no FIN or RST leaves the
 * socket open and silent, and TCP keepalive cannot tell while the command is unacknowledged.
 */
export const BLOCKING_REPLY_DEADLINE_MS = 5000;

/**
 * `reply`, from a blocking command on `connection`; each time the connection stays ready but
 * silent past the deadline it is reconnected, and ioredis sends the command again there.
 * The deadline starts again whenever the connection becomes ready (a reconnect, ours or
 * not), so the command sent again gets the whole of it: a reconnect that took most of a
 * deadline is not cut off while the command it re-sent is still blocking.
 * Not ioredis's `blockingTimeout`: it answers null and keeps the dead socket, and the command
 * it gave up on stays queued, to be sent again on a reconnect with its reply (a request or
 * ACK replies it moved) dropped.
 */
function beforeDeadline<T>(connection: Redis, reply: Promise<T>): Promise<T> {
  return replyWithin(connection, reply, BLOCKING_REPLY_DEADLINE_MS);
}

/**
 * `reply`, from a command on `connection`; each time the connection stays ready but silent
 * for `deadlineMs` (counted from the start, or from the connection's last 'ready') it is
 * reconnected (`onStall` is told first), and ioredis sends unanswered commands again there:
 * only for connections where every command is safe to run twice.
 */
export async function replyWithin<T>(connection: Redis, reply: Promise<T>, deadlineMs: number, onStall?: () => void): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const arm = () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      if (connection.status === 'ready') {
        onStall?.();
        connection.disconnect(true);
      }
      arm();
    }, deadlineMs);
  };
  arm();
  connection.on('ready', arm);
  try {
    return await reply;
  } finally {
    clearTimeout(timer);
    connection.off('ready', arm);
  }
}

/** Offsets (`offset@redis time`) of registered workers measured since `since`, and entries of workers gone. */
function liveClocks(offsets: Record<string, string>, workers: string[], self: string, since: number): { live: Map<string, number>; gone: string[] } {
  const registered = new Set(workers).add(self);
  const live = new Map<string, number>();
  const gone: string[] = [];
  for (const [id, raw] of Object.entries(offsets)) {
    const [offset, measuredAt] = raw.split('@').map(Number);
    if (!registered.has(id)) gone.push(id);
    else if (Number.isFinite(offset) && Number(measuredAt) >= since) live.set(id, offset as number);
  }
  return { live, gone };
}

function asStrings(reply: ScriptReply): string[] {
  return Array.isArray(reply) ? reply.map((r) => String(r)) : [];
}

/** Replies a take moves beyond the first, which the blocking move waits for. */
const MORE_REPLIES = 255;

/**
 * A worker's ACK-reply inbox on a dedicated connection, read with the reliable-queue
 * pattern: replies are moved to the worker's taken list, not popped, so one whose answer a
 * dropped connection lost (ioredis sends the command again after reconnecting) is still
 * there to handle; the worker removes each once handled (`CelulaStore.repliesHandled`) and
 * reads the taken list again after every reconnect (`CelulaStore.takenReplies`).
 */
export class ReplyInbox {
  private readonly inbox: string;
  private readonly taken: string;
  private readonly scripts: ScriptRunner;

  constructor(
    private readonly connection: Redis,
    keys: CelulaKeys,
    workerId: string,
  ) {
    this.inbox = keys.inbox(workerId);
    this.taken = keys.inboxTaken(workerId);
    this.scripts = defineScripts(connection);
  }

  /**
   * Blocks up to `timeoutSeconds` for a reply; takes every waiting one (up to 256), oldest
   * first. As Buffers, byte for byte: a reply that is not valid UTF-8 is removed by value
   * only with its exact bytes.
   */
  async take(timeoutSeconds: number): Promise<Buffer[]> {
    // One round trip per wake however many replies wait: both are sent at once, and Redis
    // runs the script as soon as the blocking move returns (it moves none at a trickle).
    // Two commands, not an ioredis pipeline: after a reconnect ioredis sends again only the
    // unanswered ones, which a pipeline whose first reply had arrived would never write.
    const first = this.connection.blmoveBuffer(this.inbox, this.taken, 'RIGHT', 'LEFT', timeoutSeconds);
    const rest = this.scripts.runBuffer('replies-2', [this.inbox, this.taken], [MORE_REPLIES]);
    const [one, more] = await beforeDeadline(this.connection, Promise.all([first, rest]));
    return [...(one === null ? [] : [one]), ...(Array.isArray(more) ? more.filter((r): r is Buffer => Buffer.isBuffer(r)) : [])];
  }
}

export class CelulaStore {
  readonly keys: CelulaKeys;
  readonly celula: string;
  readonly prefix: string;
  private readonly scripts: ScriptRunner;
  /** The per-call steps (transition, originated, complete) of one turn, run together. */
  private readonly steps: StepBatcher;
  private readonly dedupeWindowMs: number;
  readonly maxMessageBytes: number;

  constructor(
    private readonly redis: Redis,
    options: StoreOptions,
  ) {
    this.celula = options.celula;
    this.prefix = options.prefix ?? DEFAULT_PREFIX;
    this.keys = celulaKeys(options.celula, this.prefix);
    this.scripts = defineScripts(redis);
    this.steps = new StepBatcher(this.scripts);
    this.dedupeWindowMs = options.dedupeWindowMs ?? 24 * 3600_000;
    this.maxMessageBytes = options.maxMessageBytes ?? 64 * 1024;
  }

  async register(workerId: string, info: WorkerInfo, leaseMs: number, now: number): Promise<void> {
    await this.redis
      .multi()
      .sadd(celulaRegistryKey(this.prefix), this.celula)
      .zadd(this.keys.workers, now + leaseMs, workerId)
      .hset(this.keys.workerInfo, workerId, JSON.stringify(info))
      .exec();
  }

  /**
   * Extends the lease; returns false, adding nothing, if the worker had been dropped (a peer
   * may have taken its calls): it is then to register again.
   */
  async heartbeat(workerId: string, leaseMs: number, now: number): Promise<boolean> {
    return (await this.scripts.run('heartbeat-1', [this.keys.workers], [workerId, now + leaseMs])) === 1;
  }

  /**
   * Leaves the célula. Called holding no call: ACK replies still in the inbox or taken list
   * are for calls already reported, so they go with it.
   */
  async deregister(workerId: string): Promise<void> {
    const k = this.keys;
    await this.redis.multi().zrem(k.workers, workerId).hdel(k.workerInfo, workerId).hdel(k.clocks, workerId).del(k.landing(workerId), k.inbox(workerId), k.inboxTaken(workerId)).exec();
  }

  /**
   * Marks the worker's lease as ended now, so a peer adopts its live calls at its next
   * check. Ended now, not long ago: peers of the same central (who can ask it about the
   * calls) keep their head start over the others (`recover-10`).
   */
  async handOff(workerId: string, now: number): Promise<void> {
    await this.redis.zadd(this.keys.workers, now - 1, workerId);
  }

  /** Blocks up to `timeoutSeconds` for a request to land in the worker's landing list (needs a dedicated connection). */
  static async waitForRequest(blocking: Redis, keys: CelulaKeys, workerId: string, timeoutSeconds: number): Promise<boolean> {
    const moved = await beforeDeadline(blocking, blocking.blmove(keys.dial, keys.landing(workerId), 'RIGHT', 'LEFT', timeoutSeconds));
    return moved !== null;
  }

  async claim(workerId: string, central: string, max: number, now: number): Promise<ClaimedRequest[]> {
    const k = this.keys;
    const reply = await this.scripts.run(
      'claim-7',
      [k.landing(workerId), k.dial, k.calls, k.seen, k.workerCalls(workerId), k.dead, k.stats],
      [max, workerId, now, this.dedupeWindowMs, this.maxMessageBytes, this.celula, central],
    );
    const flat = asStrings(reply);
    const out: ClaimedRequest[] = [];
    for (let i = 0; i + 1 < flat.length; i += 2) out.push({ id: flat[i] as string, raw: flat[i + 1] as string });
    return out;
  }

  async transition(id: string, workerId: string, from: RecordState[], to: RecordState, now: number, extra?: Record<string, unknown>, token = ''): Promise<boolean> {
    const reply = await this.steps.run('transition-1', [this.keys.calls], [id, workerId, from.join(','), to, now, extra ? JSON.stringify(extra) : '', token]);
    return reply === 1;
  }

  async originated(id: string, workerId: string, ack: Ack, now: number): Promise<boolean> {
    const reply = await this.steps.run('originated-2', [this.keys.calls, this.keys.acks], [id, workerId, now, JSON.stringify(ack), ack.channelId ?? '']);
    return reply === 1;
  }

  async complete(result: CallResult): Promise<boolean> {
    const k = this.keys;
    const reply = await this.steps.run('complete-4', [k.calls, k.workerCalls(result.worker), k.results, k.stats], [result.id, result.worker, JSON.stringify(result), result.status]);
    return reply === 1;
  }

  async reject(id: string, workerId: string, letter: DeadLetter): Promise<boolean> {
    const k = this.keys;
    const reply = await this.scripts.run('reject-5', [k.calls, k.workerCalls(workerId), k.seen, k.dead, k.stats], [id, workerId, JSON.stringify(letter)]);
    return reply === 1;
  }

  /**
   * ACK replies taken from the inbox but not yet removed as handled, oldest first: what a
   * take whose answer a dropped connection lost moved there. Byte for byte, as `take`.
   */
  async takenReplies(workerId: string): Promise<Buffer[]> {
    return (await this.redis.lrangeBuffer(this.keys.inboxTaken(workerId), 0, -1)).reverse();
  }

  /**
   * Removes handled replies (oldest first, as taken) from the taken list, by value: each is
   * then its last element, so no removal scans the list. By value, never by position: a
   * take re-sent after a reconnect may have moved more than the worker knows of. By their
   * exact bytes, as taken.
   */
  async repliesHandled(workerId: string, raws: readonly Buffer[]): Promise<void> {
    const taken = this.keys.inboxTaken(workerId);
    await Promise.all(raws.map((raw) => this.redis.lrem(taken, -1, raw)));
  }

  /**
   * Dead-letters a malformed ACK reply (`raw`, its exact bytes as taken) and removes it from
   * the taken list in one script, which writes the letter only if the reply was still there:
   * handling it again, or running the step again, adds no second letter.
   */
  async rejectReply(workerId: string, raw: Buffer, letter: DeadLetter): Promise<boolean> {
    const k = this.keys;
    return (await this.scripts.run('reject-reply-3', [k.inboxTaken(workerId), k.dead, k.stats], [raw, JSON.stringify(letter)])) === 1;
  }

  /**
   * Takes a reply (`raw`, its exact bytes as taken) for a call this worker does not hold off
   * its taken list, and passes it to the worker the record names, if another
   * (`reroute-reply-3`). True if passed on.
   */
  async rerouteReply(workerId: string, id: string, raw: Buffer): Promise<boolean> {
    const k = this.keys;
    const record = await this.redis.hget(k.calls, id);
    let holder: string | undefined;
    try {
      holder = record ? callRecord.parse(JSON.parse(record)).w : undefined;
    } catch {
      holder = undefined;
    }
    if (holder === undefined || holder === workerId) {
      await this.redis.lrem(k.inboxTaken(workerId), -1, raw);
      return false;
    }
    return (await this.scripts.run('reroute-reply-3', [k.calls, k.inboxTaken(workerId), k.inbox(holder)], [id, holder, raw])) === 1;
  }

  /**
   * Moves what waits in a departed worker's inbox and taken list into ours (`forward-4`).
   * Returns how many replies moved, or null when nothing may move any more: that worker is
   * registered again (its inbox is its own once more), or we are not (taken over in turn).
   */
  async forwardReplies(from: string, to: string): Promise<number | null> {
    const k = this.keys;
    const moved = Number(await this.scripts.run('forward-4', [k.workers, k.inbox(from), k.inboxTaken(from), k.inbox(to)], [from, to]));
    return moved < 0 ? null : moved;
  }

  /**
   * Gives back undialled requests (and the landing list): returns what was released, and
   * which of `ids` were no longer this worker's anyway (already given back, or a peer's).
   */
  async release(workerId: string, ids: readonly string[]): Promise<{ landed: number; released: string[]; gone: string[] }> {
    const k = this.keys;
    const flat = asStrings(await this.scripts.run('release-5', [k.calls, k.workerCalls(workerId), k.dial, k.seen, k.landing(workerId)], [workerId, ...ids]));
    const count = Number(flat[1] ?? 0);
    return { landed: Number(flat[0] ?? 0), released: flat.slice(2, 2 + count), gone: flat.slice(2 + count) };
  }

  /** Worker ids whose heartbeat deadline has passed. */
  async expiredWorkers(now: number): Promise<string[]> {
    return this.redis.zrangebyscore(this.keys.workers, '-inf', now - 1);
  }

  async recover(deadWorker: string, myWorker: string, myCentral: string, now: number, peerGraceMs: number): Promise<{ requeued: number; adopted: Array<{ id: string; record: CallRecord }> } | null> {
    const k = this.keys;
    const reply = await this.scripts.run(
      'recover-10',
      [k.workers, k.workerInfo, k.landing(deadWorker), k.workerCalls(deadWorker), k.calls, k.dial, k.seen, k.workerCalls(myWorker), k.stats, k.departed],
      [deadWorker, myWorker, now, myCentral, peerGraceMs],
    );
    if (!Array.isArray(reply)) return null;
    const flat = asStrings(reply);
    const adopted: Array<{ id: string; record: CallRecord }> = [];
    for (let i = 1; i + 1 < flat.length; i += 2) adopted.push({ id: flat[i] as string, record: callRecord.parse(JSON.parse(flat[i + 1] as string)) });
    return { requeued: Number(flat[0]), adopted };
  }

  /** Workers taken over at least `leaseMs` ago, whose landing lists are to be looked at once more. */
  async departedWorkers(now: number, leaseMs: number): Promise<string[]> {
    return this.redis.zrangebyscore(this.keys.departed, '-inf', now - leaseMs);
  }

  /**
   * Puts back in the queue what a taken-over worker parked in its landing list afterwards,
   * unless it has registered again (then the list is its own to claim). Returns how many.
   */
  async reclaimLanding(workerId: string, now: number, leaseMs: number): Promise<number> {
    const k = this.keys;
    return Number(await this.scripts.run('landing-4', [k.workers, k.departed, k.landing(workerId), k.dial], [workerId, now, leaseMs]));
  }

  /** Ids this worker holds in Redis, with their records (to find orphans after a lost reply). */
  async heldBy(workerId: string): Promise<Map<string, CallRecord>> {
    const ids = await this.redis.smembers(this.keys.workerCalls(workerId));
    const out = new Map<string, CallRecord>();
    if (ids.length === 0) return out;
    const raws = await this.redis.hmget(this.keys.calls, ...ids);
    ids.forEach((id, i) => {
      const raw = raws[i];
      if (raw) out.set(id, callRecord.parse(JSON.parse(raw)));
    });
    return out;
  }

  /** Redis's clock (ms): the reference the workers' own clocks are checked against. */
  async redisTime(): Promise<number> {
    const [seconds, micros] = await this.redis.time();
    return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
  }

  /**
   * Publishes this worker's clock offset (its clock minus Redis's, ms, measured at Redis time
   * `at`) and returns the offsets of the workers registered now (in `workers`) measured since
   * `since` (Redis time), this one's included even before it registers, and the ids of
   * entries left by workers no longer registered. Safe to re-send.
   */
  async publishClock(workerId: string, offsetMs: number, at: number, since: number): Promise<{ live: Map<string, number>; gone: string[] }> {
    const k = this.keys;
    const replies = await this.redis.multi().hset(k.clocks, workerId, `${Math.round(offsetMs)}@${at}`).hgetall(k.clocks).zrange(k.workers, 0, -1).exec();
    return liveClocks((replies?.[1]?.[1] ?? {}) as Record<string, string>, (replies?.[2]?.[1] ?? []) as string[], workerId, since);
  }

  /** The offsets `publishClock` returns, without publishing ours. */
  async readClocks(workerId: string, since: number): Promise<{ live: Map<string, number>; gone: string[] }> {
    const k = this.keys;
    const replies = await this.redis.multi().hgetall(k.clocks).zrange(k.workers, 0, -1).exec();
    return liveClocks((replies?.[0]?.[1] ?? {}) as Record<string, string>, (replies?.[1]?.[1] ?? []) as string[], workerId, since);
  }

  /** Drops the clock offsets of workers no longer registered. */
  async forgetClocks(workerIds: readonly string[]): Promise<void> {
    if (workerIds.length > 0) await this.redis.hdel(this.keys.clocks, ...workerIds);
  }

  async readConfig(): Promise<Record<string, string>> {
    return this.redis.hgetall(this.keys.config);
  }

  /** Writes live parameters and announces the change; workers apply it within a second. */
  async writeConfig(config: Partial<LiveConfig>, onlyIfMissing = false): Promise<void> {
    const entries = Object.entries(config).filter(([, v]) => v !== undefined) as Array<[string, number]>;
    if (entries.length === 0) return;
    const multi = this.redis.multi();
    for (const [field, value] of entries) {
      if (onlyIfMissing) multi.hsetnx(this.keys.config, field, String(value));
      else multi.hset(this.keys.config, field, String(value));
    }
    multi.publish(this.keys.config, 'changed');
    await multi.exec();
  }
}
