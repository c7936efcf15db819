/**
 * The dial worker: one célula's queue, one central.
 *
 *   claim → originate → ack → track → report        (the life of a call, in that order)
 *   heartbeat · recover peers · follow live config · drain on stop
 *   central guards: channel slots and Originate tokens shared in Redis; stand down while
 *   the central does not answer
 *
 * The rule that keeps customers from being dialled twice: a request is moved to
 * `originating` in Redis *before* its Originate is written to the socket, and only a
 * request still in `claimed` ever goes back to the queue. Everything after that is
 * followed to its end, or resolved by asking the central, or reported `unknown`.
 */
import { Redis } from 'ioredis';
import type { AmiClient, CallEvent, LiveChannel } from '../ami/types.js';
import { AmiDisconnectedError, AmiTimeoutError, AmiValidationError } from '../ami/errors.js';
import { CelulaStore, ReplyInbox, replyWithin, type CallRecord } from '../protocol/store.js';
import { ackReply, describeIssues, dialRequest, liveConfig, type CallResult, type CallStatus, type DialRequest, type DeadLetter } from '../protocol/messages.js';
import type { Logger } from '../lib/log.js';
import type { WorkerSettings } from './config.js';
import { LiveCall } from './call.js';
import { CallTracker } from './tracker.js';
import { buildOriginate } from './originate.js';
import { channelIdsFor, Overheard } from './overheard.js';
import { ChannelSlots, OriginateTokens } from './guards.js';
import { CentralHealth } from './health.js';
import { CentralStore, defaultBurst } from '../protocol/central-store.js';
import { slotHolder } from '../protocol/keys.js';
import type { WorkerMetrics } from './metrics.js';

export interface WorkerOptions {
  settings: WorkerSettings;
  ami: AmiClient;
  logger: Logger;
  metrics: WorkerMetrics;
  now?: () => number;
}

type Live = Pick<WorkerSettings, 'threads' | 'retries' | 'commandTimeoutMs' | 'ackTimeoutMs'>;

/** How long an idle worker keeps a few channel slots before giving them back (seconds). */
const IDLE_HOLD_S = 0.1;
/** Slots kept through that moment: enough for a trickle, few enough not to keep other células out. */
const TRICKLE_SLOTS = 4;
/**
 * How long a call may go unchecked because its central does not list its channels before
 * it is reported `unknown`. Until then it is kept, and its slot with it: reporting it ended
 * while the customer may still be talking would free the slot under the central's cap.
 */
export const UNCHECKED_GIVE_UP_MS = 600_000;
/**
 * How far apart the clocks of two workers taking calls may be. Leases, heartbeat deadlines
 * and the record times a peer's `not-dialled` proof relies on are written with each worker's
 * own clock, and that proof allows a second of disagreement (a worker whose clock is off by
 * more can be taken over while alive, or take over a live peer). A worker whose clock is too
 * far from the median of the registered workers' takes no new request (checkClock).
 */
export const CLOCK_SKEW_LIMIT_MS = 1000;

/** A clock measured over a longer round trip than this is not published (its error is up to half of it). */
export const CLOCK_MEASURE_MAX_ROUND_TRIP_MS = 200;
/** How far inside the clock limit a worker that stood down must come back to take calls again. */
const CLOCK_HYSTERESIS_MS = 100;
/** Clock checks: every heartbeat for the first ones, then every this many heartbeats. */
const CLOCK_CHECKS_AT_START = 5;
const CLOCK_CHECK_EVERY = 5;
/** The least time a heartbeat may go unanswered before the command connection is taken for dead. */
export const HEARTBEAT_REPLY_DEADLINE_MS = 5000;
/** The shortest window in which an Originate may follow its transition to `originating` (Worker.mayStillSend). */
export const SEND_WINDOW_FLOOR_MS = 500;
/** How often replies that reach a departed worker's inbox are moved to its adopter's (forward-4). */
const REPLY_FORWARD_INTERVAL_MS = 250;
/**
 * How long an adopted call whose ACK reply is already overdue still waits for one, once the
 * central has been asked about it: a reply Multcall sent in time may be waiting unread in the
 * departed worker's inbox, or in ours when a process restarts with our id (read only after
 * its orphans are adopted).
 */
const ADOPTED_REPLY_GRACE_MS = 1000;
/** Backoff between passes whose transition Redis answered too late to send: doubling from this… */
const LATE_BACKOFF_MS = 100;
/** …up to this. */
const LATE_BACKOFF_MAX_MS = 5000;

/**
 * The median of clock offsets (ms, to Redis's, whose own is 0): an offset someone actually
 * has, never the midpoint of two, which with two camps (workers on a node whose clock is off,
 * and the rest) would be far from both and stop everyone. Of two middle ones, the one nearer
 * Redis's clock.
 */
export function medianOffset(offsets: readonly number[]): number {
  const sorted = [...offsets].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  if (sorted.length % 2 === 1) return sorted[mid] as number;
  const [low, high] = [sorted[mid - 1] as number, sorted[mid] as number];
  return Math.abs(low) <= Math.abs(high) ? low : high;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref());

export class Worker {
  readonly id: string;
  private readonly settings: WorkerSettings;
  private readonly ami: AmiClient;
  private readonly log: Logger;
  private readonly metrics: WorkerMetrics;
  private readonly now: () => number;
  private readonly redis: Redis;
  private readonly blocking: Redis;
  private readonly inboxConnection: Redis;
  private readonly replies: ReplyInbox;
  private readonly subscriber: Redis;
  private readonly store: CelulaStore;
  private readonly tracker: CallTracker;
  private readonly central: CentralStore;
  private readonly slots: ChannelSlots;
  private readonly tokens: OriginateTokens;
  private readonly health: CentralHealth;
  /** Claim rounds in a row that found the central full, for the backoff. */
  private fullRounds = 0;
  /** Slots the claim loop is about to fill: a concurrent sync must not give them back. */
  private reserved = 0;
  /** The claim loop is blocked waiting for a request: a call that ends gives its slot back at once. */
  private parked = false;
  /** A blocking move may have parked a request in our landing list. */
  private landed = false;
  /** The last claim filled every slot it had: more is likely queued, worth room for a batch. */
  private backlog = false;
  /** Every request this worker holds, from claim to published result. */
  private readonly held = new Map<string, LiveCall>();
  private readonly overheard = new Overheard();
  /**
   * Departed workers whose inboxes may still get ACK replies for calls we adopted, and until
   * when (our clock): Multcall replies to the inbox the ACK named.
   */
  private readonly forwarded = new Map<string, number>();
  private listingForCancel: Promise<LiveChannel[]> | undefined;
  private live: Live;
  private stopping = false;
  private stopped: Promise<void> | undefined;
  private claiming: Promise<void> | undefined;
  private inbox: Promise<void> | undefined;
  /** Set once the drain is over: the inbox loop may end even with calls handed off. */
  private closing = false;
  private timers: NodeJS.Timeout[] = [];
  private wake: (() => void) | undefined;
  private amiUp = false;
  /** Since when the AMI session has been up without a break: what we may claim to have heard. */
  private amiUpSince = Number.POSITIVE_INFINITY;
  private amiClosing = false;
  private redisUp = false;
  /** A check of our clock has been judged: until then we take over no peer. */
  private clockChecked = false;
  /** Our clock agreed with the other workers' (checkClock) at the last check. */
  private clockAgrees = true;
  /** After our own Redis reconnect, peers get one lease to heartbeat before we call them dead. */
  private recoveryPausedUntil = 0;
  /**
   * When (performance.now()) we sent the last heartbeat that Redis confirmed extended our
   * registration: no peer can take our calls over before leaseMs from then.
   */
  private leaseRenewedAt = Number.NEGATIVE_INFINITY;

  constructor(options: WorkerOptions) {
    this.settings = options.settings;
    this.id = options.settings.workerId;
    this.ami = options.ami;
    this.log = options.logger.child({ celula: options.settings.celula, central: options.settings.central.name, worker: this.id });
    this.metrics = options.metrics;
    this.now = options.now ?? Date.now;
    this.live = { threads: this.settings.threads, retries: this.settings.retries, commandTimeoutMs: this.settings.commandTimeoutMs, ackTimeoutMs: this.settings.ackTimeoutMs };
    const r = this.settings.redis;
    const redisOptions = {
      host: r.host,
      port: r.port,
      db: r.db,
      ...(r.password !== undefined ? { password: r.password } : {}),
      ...(r.username !== undefined ? { username: r.username } : {}),
      // Wait through a Redis restart instead of failing commands; every script is safe to re-run.
      maxRetriesPerRequest: null,
      retryStrategy: (times: number) => Math.min(50 * 2 ** Math.min(times, 6), 2000) * (0.5 + Math.random() / 2),
      // A Redis host lost with no FIN or RST: an idle connection (the config subscriber) learns
      // it in seconds rather than after the OS's two hours; blocking waits also have a deadline.
      keepAlive: 10_000,
      lazyConnect: true,
    };
    // Auto-pipelining batches the commands of one event-loop tick into one write: at
    // thousands of calls per second the syscalls, not Redis, are the cost.
    this.redis = new Redis({ ...redisOptions, connectionName: `${this.id}:cmd`, enableAutoPipelining: true });
    this.blocking = new Redis({ ...redisOptions, connectionName: `${this.id}:claim` });
    this.inboxConnection = new Redis({ ...redisOptions, connectionName: `${this.id}:inbox` });
    this.subscriber = new Redis({ ...redisOptions, connectionName: `${this.id}:config` });
    const readPassword = r.readPassword;
    if (readPassword) {
      // A rotated password (the Secret's file rewritten) is sent at the next reconnect.
      for (const connection of [this.redis, this.blocking, this.inboxConnection, this.subscriber]) connection.on('reconnecting', () => (connection.options.password = readPassword()));
    }
    this.store = new CelulaStore(this.redis, { celula: this.settings.celula, prefix: r.prefix });
    this.replies = new ReplyInbox(this.inboxConnection, this.store.keys, this.id);
    this.tracker = new CallTracker((call) => void this.finish(call), this.overheard);
    const c = this.settings.central;
    this.central = new CentralStore(this.redis, { central: c.name, prefix: r.prefix });
    const holder = slotHolder(this.settings.celula, this.id);
    this.slots = new ChannelSlots(
      // Two leases: a peer adopts a dead worker's calls (and counts them) one lease after its
      // last heartbeat, so its slots outlive that and nothing live goes uncounted meanwhile.
      async (inUse, target) => (await this.persist(() => this.central.holdSlots(holder, inUse, target, c.maxChannels, 2 * this.settings.leaseMs))).held,
      () => ({ inUse: this.held.size, target: this.held.size + this.reserved }),
    );
    const burst = defaultBurst(c.maxOriginatesPerSecond);
    this.tokens = new OriginateTokens((wanted) => this.central.takeTokens(wanted, c.maxOriginatesPerSecond, burst));
    this.health = new CentralHealth({
      ping: (timeoutMs) => this.ami.ping(timeoutMs),
      intervalMs: this.settings.amiPingMs,
      downAfterMs: this.settings.amiDownAfterMs,
      now: this.now,
      onChange: (healthy) => this.onCentralHealth(healthy),
    });
  }

  get ready(): Record<string, boolean> {
    return { redis: this.redisUp, ami: this.amiUp, central: this.health.healthy, clock: this.clockAgrees, accepting: !this.stopping };
  }

  get inFlight(): number {
    return this.held.size;
  }

  get threads(): number {
    return this.live.threads;
  }

  async start(): Promise<void> {
    this.redis.on('close', () => {
      this.redisUp = false;
    });
    this.redis.on('error', (error: Error) => this.log.debug({ err: error.message }, 'redis connection error'));
    for (const c of [this.blocking, this.inboxConnection, this.subscriber]) c.on('error', () => undefined);
    await Promise.all([this.redis.connect(), this.blocking.connect(), this.inboxConnection.connect(), this.subscriber.connect()]);
    await this.requireRedis7();
    this.redisUp = true;
    // Only a reconnect is a return: the first connection is start()'s own, which registers below.
    this.redis.on('ready', () => this.onRedisReady());

    this.ami.on('event', (event: CallEvent) => this.tracker.route(event));
    this.ami.on('down', (error: Error) => {
      this.amiUp = false;
      this.amiUpSince = Number.POSITIVE_INFINITY;
      // What the central sent meanwhile is gone, OriginateResponses included.
      for (const call of this.held.values()) if (call.state !== 'claimed' && !call.responded) call.responseMayBeLost = true;
      this.health.down();
      if (this.amiClosing) return;
      this.log.warn({ err: error.message }, 'AMI connection lost');
    });
    this.ami.on('up', () => {
      const wasDown = !this.amiUp;
      this.amiUp = true;
      if (wasDown) this.amiUpSince = this.now();
      this.health.up();
      this.kick();
      // Events of calls that ended while we were away are gone: check with the central once
      // it has settled (channels of Originates it accepted just before the drop exist by then).
      if (wasDown) {
        const upAt = this.now();
        setTimeout(() => void this.sweep(upAt).catch(() => undefined), 1500).unref();
      }
    });
    await this.ami.connect();
    this.amiUp = true;
    this.amiUpSince = this.now();
    this.health.up();
    if (this.ami.info) this.log.info({ banner: this.ami.info.banner, dialect: this.ami.info.dialect }, 'AMI connected');

    await this.checkClock();
    const now = this.now();
    const registeringAt = performance.now();
    await this.store.register(this.id, { central: this.settings.central.name, host: this.id, threads: this.live.threads, startedAt: now }, this.settings.leaseMs, now);
    this.leaseRenewedAt = registeringAt;
    await this.store.writeConfig(this.live, true);
    await this.reloadConfig();
    await this.subscriber.subscribe(this.store.keys.config);
    this.subscriber.on('message', () => void this.reloadConfig());
    // A restarted process may reuse its id (same pod name): take back what it held before.
    await this.sweepOrphans();

    this.every(1000, () => this.reloadConfig());
    this.every(this.settings.heartbeatMs, () => this.heartbeat());
    // Every heartbeat for the first few (a fleet started together has published nothing at
    // the first), then every fifth.
    let clockTicks = 0;
    this.every(this.settings.heartbeatMs, async () => {
      clockTicks++;
      if (clockTicks <= CLOCK_CHECKS_AT_START || clockTicks % CLOCK_CHECK_EVERY === 0) await this.checkClock();
    });
    this.every(Math.min(250, this.settings.amiPingMs), async () => this.health.tick());
    this.every(this.settings.heartbeatMs, () => this.recoverPeers());
    this.every(REPLY_FORWARD_INTERVAL_MS, () => this.forwardReplies());
    this.every(Math.max(5000, this.settings.leaseMs), () => this.sweepOrphans());
    // Safety net for a Hangup lost any other way: calls up for a while are checked against the central.
    this.every(15_000, () => this.sweep(this.now() - 10_000));
    this.claiming = this.claimLoop();
    // Replies a take moved whose answer never reached us (a previous process with our id,
    // or a connection dropped mid-answer): handled first, at start and after each reconnect.
    this.inboxConnection.on('ready', () => void this.handleTakenReplies());
    await this.handleTakenReplies();
    this.inbox = this.inboxLoop();
    this.log.info({ threads: this.live.threads, retries: this.live.retries }, 'worker started');
  }

  /** Scripts read TIME under effects replication: Redis 7.0 or later. */
  private async requireRedis7(): Promise<void> {
    const version = /^redis_version:(\S+)/m.exec(await this.redis.info('server'))?.[1] ?? '';
    if (Number.parseInt(version, 10) < 7) throw new Error(`Redis 7.0 or later is required; ${this.settings.redis.host}:${this.settings.redis.port} runs ${version}`);
  }

  /**
   * Stops claiming, gives back what was claimed but not dialled, waits for live calls to end
   * (up to the drain timeout), then hands what is left to a peer and exits.
   */
  stop(): Promise<void> {
    this.stopped ??= this.drain();
    return this.stopped;
  }

  private async drain(): Promise<void> {
    this.stopping = true;
    this.kick();
    this.log.info({ live: this.held.size }, 'draining');
    this.blocking.disconnect();
    await this.claiming?.catch(() => undefined);
    await this.releaseUndialled();
    const deadline = this.now() + this.settings.drainTimeoutMs;
    while (this.held.size > 0 && this.now() < deadline) {
      // A call whose Originate the central refused, or that AMI dropped before it was sent,
      // is `claimed` again: it goes back to the queue now, not after the drain timeout.
      if (this.hasUndialled()) await this.releaseUndialled().catch(() => undefined);
      await sleep(50);
    }
    for (const t of this.timers) clearInterval(t);
    if (this.held.size > 0) {
      this.log.warn({ live: this.held.size }, 'drain timeout: handing live calls to a peer of this central');
      // What the peer cannot ask the central: when each call was answered.
      await Promise.all(
        [...this.held.values()]
          .filter((c) => c.answeredAt !== null && c.state === 'originated')
          .map((c) => this.store.transition(c.id, this.id, ['originated'], 'originated', this.now(), { ans: c.answeredAt }).catch(() => false)),
      );
      // Our slots stay until their lease ends: the peer counts the calls once it adopts them.
      await this.store.handOff(this.id, this.now());
    } else {
      // The inbox first: a take served as we deregistered would leave a list behind.
      await this.closeInbox();
      // Again, last: a blocking move that Redis served as we disconnected parked a request
      // in our landing list, which deregistering deletes (with the replies left: no call needs them).
      await this.releaseUndialled();
      await this.store.deregister(this.id);
      await this.slots.sync(); // nothing held: every slot goes back
    }
    await this.closeInbox();
    await this.subscriber.quit().catch(() => undefined);
    await this.redis.quit().catch(() => undefined);
    this.amiClosing = true;
    await this.ami.close();
    this.log.info('worker stopped');
  }

  // ── claim ────────────────────────────────────────────────────────────────────────────

  /** Room under our own threads; the central's cap is enforced by the slots in Redis. */
  private capacity(): number {
    return Math.min(this.live.threads, this.settings.central.maxChannels) - this.held.size;
  }

  /** Whether we may take and send calls: AMI logged in and the central answering. */
  private centralUp(): boolean {
    return this.amiUp && this.health.healthy;
  }

  private onCentralHealth(healthy: boolean): void {
    if (healthy) {
      // What a silent central held back is still to come: listening starts afresh.
      if (this.amiUp && this.amiUpSince === Number.POSITIVE_INFINITY) this.amiUpSince = this.now();
      this.log.info('central answers; taking calls');
    } else {
      this.amiUpSince = Number.POSITIVE_INFINITY;
      if (this.amiUp) this.log.warn({ downAfterMs: this.settings.amiDownAfterMs }, 'central stopped answering; taking no calls until it does');
    }
    this.kick();
  }

  /** A call left `held`: its slot is reused by the next claim, or given back now if none is coming. */
  private callGone(): void {
    this.kick();
    if (this.parked || this.stopping || !this.centralUp()) void this.slots.sync();
  }

  /**
   * Slots to claim into: ours already, or acquired now (one round trip for the whole
   * batch). `reserved` stays set until the claimed calls are in `held`.
   */
  private async reserveSlots(room: number): Promise<number> {
    this.reserved = room;
    const spare = this.slots.held - this.held.size;
    // At a trickle the few slots kept for it are enough; once a claim fills them all, room
    // for a whole batch is worth the round trip.
    if (spare < room && (spare <= 0 || this.backlog)) await this.slots.sync();
    return Math.min(room, this.slots.held - this.held.size);
  }

  /**
   * Gives back to the queue what a blocking move parked in our landing list and, when the
   * central is down (`claimedToo`), what we claimed but did not dial; then spare slots.
   */
  private async standDown(claimedToo: boolean): Promise<void> {
    const undialled = this.landed || (claimedToo && this.hasUndialled());
    if (undialled) {
      this.landed = false;
      await this.releaseUndialled();
    }
    if (this.slots.held > this.held.size) await this.slots.sync();
  }

  private kick(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  private waitForKick(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      timer.unref();
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  private async claimLoop(): Promise<void> {
    while (!this.stopping) {
      try {
        if (!this.redisUp) {
          await this.waitForKick(200);
          continue;
        }
        if (!this.centralUp()) {
          await this.standDown(true);
          await this.waitForKick(200);
          continue;
        }
        if (!this.clockAgrees) {
          // Calls placed go on; undialled ones (and what a blocking move parked) go back for a
          // peer to take: the fresh-step rule assumes our clock is near our peers'.
          await this.standDown(true);
          await this.waitForKick(200);
          continue;
        }
        const room = this.capacity();
        if (room <= 0) {
          await this.waitForKick(200);
          continue;
        }
        const spare = await this.reserveSlots(room);
        if (spare <= 0) {
          // The central is full for all células together: leave queued requests to workers of
          // other centrals. Ask again less often the longer it stays full (up to ~1 s): every
          // idle worker of every célula there asks, and each ask reads every holder. A call of
          // ours that ends wakes us at once.
          this.reserved = 0;
          await this.standDown(false);
          await this.waitForKick(Math.min(1000, 50 * 2 ** this.fullRounds) * (0.5 + Math.random()));
          this.fullRounds = Math.min(this.fullRounds + 1, 5);
          continue;
        }
        this.fullRounds = 0;
        // A request that landed is surely there: its Originate token is asked for alongside
        // the claim, so the two round trips overlap instead of following each other. If it is
        // not dialled after all (dead-lettered, past its deadline), the token goes unused.
        const early = this.landed ? this.tokens.take(() => this.stopping || !this.centralUp()) : undefined;
        const claimed = await this.store.claim(this.id, this.settings.central.name, spare, this.now());
        this.landed = false;
        // A full claim of the few slots kept for a trickle says little: the next blocking
        // move returns at once if more is queued, and the empty hold then grows the slots.
        this.backlog = claimed.length === spare && spare > TRICKLE_SLOTS;
        claimed.forEach(({ id, raw }, i) => this.accept(id, raw, i === 0 ? early : undefined));
        this.reserved = 0;
        this.metrics.inFlight.set(this.held.size);
        // The central stopped answering meanwhile: the top of the loop stands down at once.
        if (!this.centralUp()) continue;
        // With no room left the top of the loop waits for a call to end: a blocking move now
        // would take a request that other workers could dial.
        if (!this.backlog && this.capacity() > 0) {
          // No backlog: claiming again would cost a round trip per request at a trickle, so
          // wait for the next request (the blocking move returns at once if one is queued).
          // It is close behind at a steady trickle: keep a few slots for a moment, since
          // giving them back and taking them again would put two round trips between that
          // request and the wire; no more than a trickle needs.
          this.reserved = Math.min(this.capacity(), TRICKLE_SLOTS);
          try {
            if (this.slots.held - this.held.size > this.reserved) await this.slots.sync();
            this.landed = await CelulaStore.waitForRequest(this.blocking, this.store.keys, this.id, IDLE_HOLD_S);
          } finally {
            this.reserved = 0;
          }
          if (this.landed || this.stopping) continue;
          // Quiet for a while: hold no idle slots while we wait.
          await this.slots.sync();
          // Park until a request arrives; it lands in our own list, safe if we die now.
          this.parked = true;
          try {
            this.landed = await CelulaStore.waitForRequest(this.blocking, this.store.keys, this.id, 1);
          } finally {
            this.parked = false;
          }
        }
      } catch (error) {
        this.reserved = 0;
        if (this.stopping) return;
        this.log.warn({ err: (error as Error).message }, 'claim failed; retrying');
        await sleep(200);
      }
    }
  }

  /** `token` is an Originate token already asked for this call, if any. */
  private accept(id: string, raw: string, token?: Promise<boolean>): void {
    const claimedAt = this.now();
    let request: DialRequest;
    try {
      const parsed = dialRequest.safeParse(JSON.parse(raw));
      if (!parsed.success) {
        void this.deadLetter(id, 'invalid-request', describeIssues(parsed.error), raw);
        return;
      }
      request = parsed.data;
    } catch {
      void this.deadLetter(id, 'invalid-json', 'not valid JSON', raw);
      return;
    }
    const call = new LiveCall(id, request, claimedAt);
    this.held.set(id, call);
    this.place(call, request, raw, token).catch((error: unknown) => this.log.error({ id, err: (error as Error).message }, 'placing a call failed unexpectedly'));
  }

  private async deadLetter(id: string, code: DeadLetter['code'], reason: string, raw: string): Promise<void> {
    const letter: DeadLetter = { v: 1, code, reason, id, celula: this.settings.celula, worker: this.id, at: this.now(), raw };
    await this.persist(() => this.store.reject(id, this.id, letter));
    this.metrics.deadLetters.inc({ code });
    this.log.info({ id, code, reason }, 'request dead-lettered');
  }

  // ── originate ────────────────────────────────────────────────────────────────────────

  /** `raw` is the request as Multcall sent it, for a dead letter that loses nothing. */
  private async place(call: LiveCall, request: DialRequest, raw: string, token?: Promise<boolean>): Promise<void> {
    if (request.deadline !== undefined && request.deadline < this.now()) {
      await this.publish(call, { status: 'cancelled', detail: 'deadline-expired' });
      return;
    }
    let refused = 0;
    /** Passes in a row whose transition Redis answered too late to send: for the backoff. */
    let late = 0;
    for (;;) {
      // A token asked for alongside the claim serves the first round only; if that round
      // does not send, it goes unused (never saved for later: the rate would not hold).
      const early = token;
      token = undefined;
      // Still `claimed`: the drain, or the claim loop when the central stops answering, gives it back.
      if (this.stopping || !this.owns(call)) return;
      // With the margin a late reply would need (mayStillSend): on a short lease, the moments
      // between a heartbeat's sending and its answer are waited out here, not after a step.
      if (!this.centralUp() || !this.leaseHeld(CLOCK_SKEW_LIMIT_MS) || !this.clockAgrees) {
        await sleep(100);
        continue;
      }
      if (!(await (early ?? this.tokens.take(() => this.stopping || !this.owns(call) || !this.centralUp())))) continue;
      // The central may have stopped answering, or the call been given back, while we waited.
      if (this.stopping || !this.owns(call) || !this.centralUp()) continue;
      const attempt = call.attempt + 1;
      const dialect = this.ami.info?.dialect ?? 'stasis';
      let originate;
      try {
        originate = buildOriginate(this.settings.originate, request, this.settings.celula, this.id, attempt, dialect);
      } catch (error) {
        await this.deadLetter(call.id, 'invalid-request', (error as Error).message, raw);
        this.drop(call.id, call);
        return;
      }
      const { channelId, otherChannelId } = originate;
      const at = this.now();
      const markedAt = performance.now();
      if (!(await this.persist(() => this.store.transition(call.id, this.id, ['claimed'], 'originating', at, { a: attempt, ...(channelId ? { ch: channelId } : {}) }, originate.actionId)))) {
        // Not ours any more (a peer presumed us dead and re-queued it): never dial it.
        this.drop(call.id, call);
        return;
      }
      // Given back while we waited (a release whose reply a Redis restart lost) and claimed
      // again by us: the new claim has its own loop, and the transition's token (same worker,
      // request and attempt) matches both. Only the loop of the current claim dials.
      if (!this.owns(call)) return;
      if (!this.mayStillSend(markedAt)) {
        // Redis answered too late to rule out a peer's `not-dialled` verdict: not sent. Back to
        // `claimed` while still ours (nothing was dialled) and tried again; gone if a peer has it.
        this.log.warn({ id: call.id, replyMs: Math.round(performance.now() - markedAt) }, 'marked originating too long ago to send the Originate safely; trying again');
        // Its own token: re-sent after a lost reply, the step answers 1 again rather than 0.
        if (!(await this.persist(() => this.store.transition(call.id, this.id, ['originating'], 'claimed', this.now(), undefined, `${originate.actionId}/unsent`)))) {
          this.drop(call.id, call);
          return;
        }
        // A slow Redis answers the next pass late too: wait longer each time (each pass costs
        // the central an Originate token and Redis two steps), up to LATE_BACKOFF_MAX_MS.
        await sleep(Math.min(LATE_BACKOFF_MS * 2 ** late, LATE_BACKOFF_MAX_MS));
        late = Math.min(late + 1, 16);
        continue;
      }
      call.state = 'originating';
      call.responseMayBeLost = false; // this Originate's response is still to come
      call.attempt = attempt;
      call.actionId = originate.actionId;
      call.channelIds = channelId && otherChannelId ? [channelId, otherChannelId] : [];
      call.primary = channelId;
      this.tracker.watchAction(call, originate.actionId);
      for (const uid of call.channelIds) this.tracker.watchUniqueid(call, uid);

      let reply;
      try {
        reply = await this.ami.originate(originate, this.live.commandTimeoutMs);
        this.metrics.originates.inc();
        this.health.answered();
      } catch (error) {
        if (error instanceof AmiValidationError) {
          this.tracker.forget(call);
          await this.persist(() => this.store.transition(call.id, this.id, ['originating'], 'claimed', this.now()));
          await this.deadLetter(call.id, 'invalid-request', error.message, raw);
          this.drop(call.id, call);
          return;
        }
        if (error instanceof AmiDisconnectedError && !error.sent) {
          // Never written to the socket: provably not dialled, so try again once AMI is back.
          this.tracker.forget(call);
          call.attempt -= 1;
          await this.persist(() => this.store.transition(call.id, this.id, ['originating'], 'claimed', this.now()));
          call.state = 'claimed';
          continue;
        }
        // Written, but no reply: the central may or may not be dialling. Never re-send;
        // follow whatever arrives, and ask the central if nothing does.
        call.detail = error instanceof AmiTimeoutError ? 'command-timeout' : 'command-reply-lost';
        call.originatedAt = this.now();
        call.replied();
        this.log.warn({ id: call.id, err: (error as Error).message }, 'Originate got no reply; following the call without re-sending');
        this.watchdog(call, (request.ringTimeoutMs ?? this.settings.originate.ringTimeoutMs) + this.live.commandTimeoutMs + 5000);
        return;
      }

      if (reply.ok) {
        call.state = 'originated';
        call.originatedAt = this.now();
        this.metrics.claimToOriginate.observe((call.originatedAt - call.claimedAt) / 1000);
        call.ack = 'pending';
        const ack = {
          v: 1,
          id: call.id,
          celula: this.settings.celula,
          worker: this.id,
          central: this.settings.central.name,
          attempt,
          replyTo: this.store.keys.inbox(this.id),
          ...(channelId ? { channelId } : {}),
          at: call.originatedAt,
        } as const;
        const acked = await this.persist(() => this.store.originated(call.id, this.id, ack, ack.at));
        if (!acked) call.ack = 'none';
        else this.ackTimer(call);
        this.watchdog(call, (request.ringTimeoutMs ?? this.settings.originate.ringTimeoutMs) + 60_000, true);
        call.replied();
        return;
      }

      // The central refused the action: nothing was dialled, so a retry is safe.
      this.tracker.forget(call);
      call.message = reply.message;
      await this.persist(() => this.store.transition(call.id, this.id, ['originating'], 'claimed', this.now()));
      call.state = 'claimed';
      refused += 1;
      if (refused > this.live.retries) {
        call.replied();
        await this.publish(call, { status: 'failed', detail: 'originate-refused' });
        return;
      }
      this.metrics.originateRetries.inc();
      await sleep(Math.min(100 * 2 ** (refused - 1), 2000));
    }
  }

  /** Our lease has more than a heartbeat (and `marginMs`) left, by the last heartbeat Redis confirmed. */
  private leaseHeld(marginMs = 0): boolean {
    return performance.now() - this.leaseRenewedAt < this.settings.leaseMs - this.settings.heartbeatMs - marginMs;
  }

  /**
   * Whether the Originate of a call marked `originating` by a transition sent at `markedAt`
   * (performance.now()) may still be written. A peer reports such a call `cancelled`/
   * `not-dialled` only after adopting it, which needs BOTH our lease to have lapsed (leaseMs
   * after our last confirmed heartbeat, by the deadline that heartbeat wrote) AND the central,
   * listing its channels more than commandTimeoutMs after the record's `u` (our clock as we
   * sent the transition), to have shown none of the call. A reply delayed by a partition or a
   * frozen process can arrive after both.
   *
   * So, at the moment of writing (leaseHeld counts from the last heartbeat Redis confirmed):
   * - within half of min(commandTimeoutMs, lease − heartbeat) from the mark, less
   *   CLOCK_SKEW_LIMIT_MS (a peer's clock may be that much ahead), with more than a heartbeat
   *   left on our lease: the `u` condition alone rules the proof out, and the Originate keeps
   *   the other half to reach the central before such a listing;
   * - else within that half or SEND_WINDOW_FLOOR_MS, whichever is longer (half of a short
   *   commandTimeoutMs is shorter than a busy Redis's round trip), with more than a heartbeat
   *   plus CLOCK_SKEW_LIMIT_MS left: a peer, its clock at most that much ahead (§8, Clocks),
   *   cannot see our lease lapse until a heartbeat after we wrote (lease ≥ 2 × heartbeat +
   *   1 s, config.ts). The window never exceeds half of lease − heartbeat.
   * A pass that finds neither goes back to `claimed`, backed off.
   */
  private mayStillSend(markedAt: number): boolean {
    if (!this.clockAgrees) return false;
    const elapsed = performance.now() - markedAt;
    const leaseSpan = this.settings.leaseMs - this.settings.heartbeatMs;
    const half = Math.min(this.live.commandTimeoutMs, leaseSpan) / 2;
    // The peer's clock may be CLOCK_SKEW_LIMIT_MS ahead: the `u` condition holds for it that
    // much sooner, so it protects alone only that much inside the first half.
    if (elapsed <= half - CLOCK_SKEW_LIMIT_MS) return this.leaseHeld();
    return elapsed <= Math.max(half, Math.min(SEND_WINDOW_FLOOR_MS, leaseSpan / 2)) && this.leaseHeld(CLOCK_SKEW_LIMIT_MS);
  }

  // ── ack ──────────────────────────────────────────────────────────────────────────────

  private ackTimer(call: LiveCall, ms = this.live.ackTimeoutMs): void {
    const timer = setTimeout(() => {
      if (call.ack !== 'pending') return;
      call.ack = 'timeout';
      this.log.warn({ id: call.id }, 'no CodLigacao from Multcall within Timeout_Command_ACK');
      // An adopted call is never cut for want of a reply: its reply may have gone to a worker
      // that came back and kept it, and the call has rung long enough to be Multcall's.
      if (this.settings.ackTimeoutPolicy === 'hangup' && !call.adopted && !call.ended) void this.cancelRinging(call);
      call.ackSettled();
    }, ms);
    timer.unref();
    call.timers.push(timer);
  }

  private async inboxLoop(): Promise<void> {
    while (!this.closing) {
      try {
        this.handleReplies(await this.replies.take(1));
      } catch (error) {
        if (this.closing) return;
        // The blocking move may have taken a reply before the rest of the take failed.
        await this.handleTakenReplies().catch(() => undefined);
        this.log.debug({ err: (error as Error).message }, 'inbox read failed; retrying');
        await sleep(200);
      }
    }
  }

  private async closeInbox(): Promise<void> {
    this.closing = true;
    this.inboxConnection.disconnect();
    await this.inbox?.catch(() => undefined);
  }

  private async handleTakenReplies(): Promise<void> {
    if (this.closing) return;
    this.handleReplies(await this.persist(() => this.store.takenReplies(this.id)));
  }

  /**
   * Handles replies, oldest first, then removes them from the taken list; the removals go
   * out with the steps they caused (auto-pipelining). Handling one again is harmless.
   */
  private handleReplies(raws: readonly Buffer[]): void {
    if (raws.length === 0) return;
    const handled = raws.filter((raw) => this.onAckReply(raw));
    if (handled.length > 0) void this.persist(() => this.store.repliesHandled(this.id, handled));
  }

  /**
   * Applies one ACK reply. False when the reply leaves the taken list in a step of its own:
   * a malformed one, dead-lettered; one for a call we do not hold, passed to its holder. A
   * reply seen again (a take re-sent after a reconnect) finds its call replied or gone, and
   * changes nothing.
   */
  private onAckReply(bytes: Buffer): boolean {
    // Not valid UTF-8 decodes lossily: judged (and quoted in a dead letter) as decoded, but
    // removed from the taken list by its exact bytes.
    const raw = bytes.toString('utf8');
    let parsed;
    try {
      parsed = ackReply.safeParse(JSON.parse(raw));
    } catch {
      parsed = undefined;
    }
    if (!parsed?.success) {
      const letter: DeadLetter = { v: 1, code: 'invalid-ack-reply', reason: parsed ? describeIssues(parsed.error) : 'not valid JSON', id: null, celula: this.settings.celula, worker: this.id, at: this.now(), raw };
      void this.persist(() => this.store.rejectReply(this.id, bytes, letter));
      return false;
    }
    const call = this.held.get(parsed.data.id);
    if (!call) {
      // Not ours (any more): the call may have changed hands since the ACK named our inbox.
      // Passed to its holder, or dropped, in a step of its own.
      const id = parsed.data.id;
      void this.persist(() => this.store.rerouteReply(this.id, id, bytes));
      return false;
    }
    if (call.ack !== 'pending') return true; // late reply after the timeout: the result says so
    call.codLigacao = parsed.data.codLigacao;
    call.ack = 'replied';
    const codLigacao = call.codLigacao;
    // Kept on the record so that a peer adopting a live call reports it. A call that has
    // already ended is published next, CodLigacao in its result: nothing to keep it for.
    if (!call.ended) void this.persist(() => this.store.transition(call.id, this.id, ['originated'], 'originated', this.now(), { k: codLigacao }));
    call.ackSettled();
    return true;
  }

  /**
   * ack_timeout_policy `hangup`: Multcall does not know this call, so stop it while it is
   * still ringing. An answered call is never cut: a customer is on the line.
   */
  private async cancelRinging(call: LiveCall): Promise<void> {
    if (call.answeredAt !== null || call.published) return;
    let channel = call.primary;
    if (channel === undefined) {
      // Asterisk 1.8 and 11 take no ChannelId, and tell the channel's Uniqueid only with the
      // answer: until then the ringing channel is known by the Account it carries.
      const listed = (await this.ringingListing()).filter((c) => c.accountCode === call.id);
      // Up already (its OriginateResponse, the only answer 1.8 tells, may be on its way): a
      // customer is on the line.
      if (listed.some((c) => c.channelState === 6)) return;
      channel = listed[0]?.channel;
      if (channel === undefined || call.answeredAt !== null || call.published) return;
    }
    call.cancelledByUs = true;
    try {
      const reply = await this.ami.hangup(channel, 16, this.live.commandTimeoutMs);
      if (!reply.ok) {
        // No such channel: it ended by itself, and its own end is the result.
        call.cancelledByUs = false;
        this.log.info({ id: call.id, message: reply.message }, 'call ended before it could be cancelled');
      }
    } catch (error) {
      call.cancelledByUs = false;
      this.log.warn({ id: call.id, err: (error as Error).message }, 'could not cancel the call');
    }
  }

  /** One channel listing at a time for cancelRinging: a Multcall that stops replying times out every ringing call at once. */
  private ringingListing(): Promise<LiveChannel[]> {
    this.listingForCancel ??= this.ami
      .liveChannels(this.live.commandTimeoutMs)
      .catch(() => [])
      .finally(() => (this.listingForCancel = undefined));
    return this.listingForCancel;
  }

  // ── track & report ───────────────────────────────────────────────────────────────────

  /** Gives up waiting for events after `ms`: asks the central, then reports what is known. */
  private watchdog(call: LiveCall, ms: number, onlyIfNoResponse = false): void {
    const timer = setTimeout(() => {
      if (!this.owns(call) || call.published) return;
      if (onlyIfNoResponse && call.responded) return;
      void this.resolveWithCentral([call]);
    }, ms);
    timer.unref();
    call.timers.push(timer);
  }

  /** Called by the tracker once a call's outcome is known. */
  private async finish(call: LiveCall): Promise<void> {
    call.ended = true;
    await call.settled;
    await this.publish(call);
  }

  private async publish(call: LiveCall, override?: { status?: CallStatus; detail?: string }): Promise<void> {
    if (call.published) return;
    call.published = true;
    for (const timer of call.timers) clearTimeout(timer);
    this.tracker.forget(call);
    const result: CallResult = call.toResult({ celula: this.settings.celula, worker: this.id, central: call.central ?? this.settings.central.name }, this.now(), override);
    if (await this.persist(() => this.store.complete(result))) this.metrics.calls.inc({ status: result.status });
    this.drop(call.id, call);
  }

  /** Whether `call` is the claim we hold for its request (not one given back and claimed again since). */
  private owns(call: LiveCall): boolean {
    return this.held.get(call.id) === call;
  }

  /** The request left our hands (result, dead letter, given back or taken by a peer); with `call`, only if that claim is the current one. */
  private drop(id: string, call?: LiveCall): void {
    if (call && !this.owns(call)) return;
    if (!this.held.delete(id)) return;
    this.metrics.inFlight.set(this.held.size);
    this.callGone();
  }

  // ── recover ──────────────────────────────────────────────────────────────────────────

  private async heartbeat(): Promise<void> {
    const now = this.now();
    const sentAt = performance.now();
    // A Redis host lost with no FIN or RST leaves this connection "ready" for as long as TCP
    // retransmits (keepalive probes only idle sockets): a heartbeat unanswered past its
    // deadline reconnects it, and ioredis sends again what was unanswered (every step on this
    // connection is safe to run twice).
    const present = await replyWithin(this.redis, this.store.heartbeat(this.id, this.settings.leaseMs, now), this.heartbeatDeadlineMs(), () =>
      this.log.warn({ deadlineMs: this.heartbeatDeadlineMs() }, 'Redis did not answer a heartbeat in time; reconnecting'),
    );
    // Only an extension counts, not registering again after a take-over: a transition that
    // raced the take-over must not be sent on the strength of the new registration.
    if (present) this.leaseRenewedAt = Math.max(this.leaseRenewedAt, sentAt);
    // Renews the lease on our slots (and gives back any we do not use).
    if (this.slots.held > 0 || this.held.size > 0) await this.slots.sync();
    if (!present) {
      this.log.warn('our heartbeat had lapsed; a peer may have taken over our calls');
      // Our adopted calls went with the rest: their replies are the new holder's to read.
      this.forwarded.clear();
      await this.store.register(this.id, { central: this.settings.central.name, host: this.id, threads: this.live.threads, startedAt: now }, this.settings.leaseMs, now);
    }
  }

  /** How long a heartbeat may go unanswered on a connection that claims to be ready. */
  private heartbeatDeadlineMs(): number {
    return Math.max(HEARTBEAT_REPLY_DEADLINE_MS, 2 * this.settings.heartbeatMs);
  }

  /**
   * Measures our clock against Redis's TIME (taken as read halfway through the round trip),
   * publishes that offset, and compares it with the median offset of the registered workers
   * (ours included) and Redis's own. A Redis host whose clock is off shifts every worker's
   * offset alike and stops nobody (two or more workers outvote it); between two workers that
   * disagree, it decides which goes on. A worker stands down only when it is the one that
   * disagrees: more than (CLOCK_SKEW_LIMIT_MS − CLOCK_MEASURE_MAX_ROUND_TRIP_MS) / 2 from that
   * median, so that any two workers still taking calls are within CLOCK_SKEW_LIMIT_MS of each
   * other. Alone, it has nobody to disagree with. Offsets older than three checks are left
   * out; a measurement over a slow round trip is not published, and changes our own verdict
   * only where it would even half a round trip off.
   */
  private async checkClock(): Promise<void> {
    const sentAt = performance.now();
    const localAtSend = this.now();
    const redisNow = await this.store.redisTime();
    const roundTrip = performance.now() - sentAt;
    const offsetMs = localAtSend + roundTrip / 2 - redisNow;
    this.metrics.clockSkew.set(offsetMs / 1000);
    // Too slow a round trip (a busy Redis, or our own queue of commands ahead of it) is not
    // published, for others to judge by; ours it judges only where it is sure (below). Nor is
    // the offset of a worker that stands down: it is the one out of step, and does not vote.
    const clean = roundTrip <= CLOCK_MEASURE_MAX_ROUND_TRIP_MS;
    const { live, gone } = clean && this.clockAgrees
      ? await this.store.publishClock(this.id, offsetMs, redisNow, redisNow - 3 * this.clockCheckMs())
      : await this.store.readClocks(this.id, redisNow - 3 * this.clockCheckMs());
    if (gone.length > 0) await this.store.forgetClocks(gone);
    live.delete(this.id);
    const peers = live.size;
    // Redis's clock (offset 0) votes too: it settles two workers that disagree, where a median
    // of the two alone would stop both.
    const fromMedianMs = offsetMs - medianOffset([...live.values(), offsetMs, 0]);
    // Each offset is off by at most half its round trip: two workers within this of one median
    // are within CLOCK_SKEW_LIMIT_MS of each other.
    const limit = (CLOCK_SKEW_LIMIT_MS - CLOCK_MEASURE_MAX_ROUND_TRIP_MS) / 2;
    // A slow measurement is off by up to half its round trip: it changes the verdict only
    // when it would in the worst case too.
    const slack = clean ? 0 : roundTrip / 2;
    // Back in step only some way inside the limit: a clock sitting at it does not flip each check.
    const agrees = peers === 0 || (this.clockAgrees ? Math.abs(fromMedianMs) - slack <= limit : Math.abs(fromMedianMs) + slack <= limit - CLOCK_HYSTERESIS_MS);
    this.clockChecked = true;
    if (agrees === this.clockAgrees) return;
    this.clockAgrees = agrees;
    const detail = { offsetMs: Math.round(offsetMs), fromMedianMs: Math.round(fromMedianMs), workers: peers + 1 };
    if (agrees) {
      this.log.info(detail, 'clock agrees with the other workers\' again; taking calls');
      this.kick();
    } else {
      this.log.error({ ...detail, limitMs: limit }, 'clock disagrees with the other workers\'; taking no new calls until it agrees (calls placed go on)');
    }
  }

  /** Clocks drift slowly, and each check reads every worker's entry: not every heartbeat. */
  private clockCheckMs(): number {
    return CLOCK_CHECK_EVERY * this.settings.heartbeatMs;
  }

  private onRedisReady(): void {
    const wasDown = !this.redisUp;
    this.redisUp = true;
    if (wasDown) {
      this.recoveryPausedUntil = this.now() + this.settings.leaseMs;
      this.kick();
      void this.heartbeat().then(() => this.sweepOrphans()).catch(() => undefined);
    }
  }

  private async recoverPeers(): Promise<void> {
    // A worker that has not yet listened to the central for a lease knows least about the
    // dead peer's calls; leave them to an older peer when there is one.
    if (this.stopping || !this.clockChecked || !this.clockAgrees || this.now() < this.recoveryPausedUntil || !this.centralUp() || this.now() - this.amiUpSince < this.settings.leaseMs) return;
    const now = this.now();
    for (const dead of await this.store.expiredWorkers(now)) {
      if (dead === this.id) continue;
      const recovered = await this.store.recover(dead, this.id, this.settings.central.name, now, 3 * this.settings.leaseMs);
      if (!recovered) continue;
      this.log.warn({ dead, requeued: recovered.requeued, adopted: recovered.adopted.length }, 'recovered a dead worker');
      if (recovered.requeued > 0) this.metrics.recovered.inc({ how: 'requeued' }, recovered.requeued);
      await this.adopt(recovered.adopted);
    }
    // Taken over while alive, then dead before registering again: what it parked meanwhile.
    for (const gone of await this.store.departedWorkers(now, this.settings.leaseMs)) {
      const requeued = await this.store.reclaimLanding(gone, now, this.settings.leaseMs);
      if (requeued === 0) continue;
      this.log.warn({ worker: gone, requeued }, 'gave back what a worker taken over parked afterwards');
      this.metrics.recovered.inc({ how: 'requeued' }, requeued);
    }
  }

  /**
   * Requests recorded as ours that this process does not know: a reply lost in a Redis
   * restart, or a previous process with our id. Undialled ones go back to the queue; the
   * rest are resolved with the central.
   */
  private async sweepOrphans(): Promise<void> {
    if (this.stopping) return;
    const records = await this.store.heldBy(this.id);
    const orphans = [...records].filter(([id]) => !this.held.has(id));
    if (orphans.length === 0) return;
    const undialled = orphans.filter(([, r]) => r.s === 'claimed').map(([id]) => id);
    await this.store.release(this.id, undialled);
    await this.adopt(orphans.filter(([, r]) => r.s !== 'claimed').map(([id, record]) => ({ id, record })));
  }

  private async adopt(adopted: ReadonlyArray<{ id: string; record: CallRecord }>): Promise<void> {
    const calls: LiveCall[] = [];
    for (const { id, record } of adopted) {
      if (this.held.has(id)) continue;
      let request: DialRequest | null = null;
      try {
        const parsed = dialRequest.safeParse(JSON.parse(record.r));
        if (parsed.success) request = parsed.data;
      } catch {
        request = null;
      }
      const call = new LiveCall(id, request, record.t);
      call.adopted = true;
      call.state = record.s;
      call.recordState = record.s;
      call.lastTransitionAt = record.u ?? record.t;
      if (record.c !== undefined) call.central = record.c;
      call.attempt = record.a;
      call.originatedAt = record.o ?? null;
      call.codLigacao = record.k ?? null;
      if (record.ans !== undefined) call.answeredAt = record.ans;
      // The ACK went out when the record became `originated`: its reply goes to the inbox of
      // the worker that sent it (`rt`), and may come until Timeout_Command_ACK from then; one
      // sent in time may be waiting there, unread, whenever the take-over comes. A reply we
      // adopted in the previous holder's own inbox is looked for there (`from`).
      if (record.s === 'originated' && !record.k && record.o !== undefined) {
        // The central is asked first (resolveWithCentral, up to its listing's timeout).
        const wait = Math.max(record.o + this.live.ackTimeoutMs - this.now(), ADOPTED_REPLY_GRACE_MS + Math.max(this.live.commandTimeoutMs, 5000));
        call.ack = 'pending';
        this.ackTimer(call, wait);
        for (const inboxOf of new Set([record.rt, record.from])) {
          if (inboxOf !== undefined && inboxOf !== this.id) this.forwarded.set(inboxOf, Math.max(this.forwarded.get(inboxOf) ?? 0, this.now() + wait));
        }
      } else {
        call.ack = record.k ? 'replied' : 'none';
      }
      if (record.a > 0) {
        call.channelIds = channelIdsFor(id, record.a);
        call.primary = record.ch ?? call.channelIds[0];
      }
      call.replied();
      this.held.set(id, call);
      this.tracker.watchAdopted(call);
      calls.push(call);
    }
    // Replies that came while nobody read those inboxes, to be applied as the calls settle.
    if (this.forwarded.size > 0) await this.forwardReplies().catch(() => undefined);
    if (calls.length > 0) await this.resolveWithCentral(calls);
  }

  /**
   * Moves what reached the inboxes of departed workers, whose adopted calls may still get
   * Multcall's reply, into ours; the inbox loop applies them. Once their replies are overdue,
   * or the worker is back (its inbox is its own again), those inboxes are left alone.
   */
  private async forwardReplies(): Promise<void> {
    for (const from of [...this.forwarded.keys()]) {
      // Dropped meanwhile (taken over ourselves): those replies are the new holder's.
      if (!this.forwarded.has(from)) continue;
      const moved = await this.store.forwardReplies(from, this.id);
      // Read after the move: an adoption meanwhile may have pushed the deadline back.
      if (moved === null || this.now() > (this.forwarded.get(from) ?? 0)) this.forwarded.delete(from);
    }
  }

  /**
   * Reports a call whose end was decided here, once Multcall's ACK reply is in or overdue (an
   * adopted call may still be waiting for it), so that its result carries the CodLigacao.
   */
  private async report(call: LiveCall, override?: { status?: CallStatus; detail?: string }): Promise<void> {
    if (call.ack !== 'pending') return this.publish(call, override);
    call.ended = true;
    void call.settled.then(() => this.publish(call, override));
  }

  /**
   * Asks the central which of these calls still have a channel up. Those are followed to
   * their Hangup; the others ended while nobody listened and are reported `unknown`
   * (or with what we saw, if we saw the central's answer) — never dialled again. A central
   * that does not list its channels tells nothing: its calls are asked about again by the
   * periodic check, and reported `unknown` only once it has been silent for
   * UNCHECKED_GIVE_UP_MS.
   */
  private async resolveWithCentral(calls: LiveCall[]): Promise<void> {
    const listedAt = this.now();
    let channels: LiveChannel[] | null = null;
    try {
      channels = await this.ami.liveChannels(Math.max(this.live.commandTimeoutMs, 5000));
    } catch (error) {
      this.log.warn({ err: (error as Error).message, calls: calls.length }, 'cannot list the central\'s channels; asking again later');
    }
    const central = this.settings.central.name;
    for (const call of calls) {
      // An ended call is published by finish() once Multcall's reply is in or overdue.
      if (call.published || call.ended) continue;
      // What we heard of this call while a peer (or an earlier us) was following it.
      // The record's time is the peer's clock: a second of margin, as for amiUpSince below.
      const heardAll = this.overheard.remembersSince(call.lastTransitionAt - 1000);
      for (const { event, at } of this.overheard.take(call.id)) call.apply(event, at);
      if (!channels) {
        if (call.outcomeKnown()) {
          await this.report(call, call.adopted ? { detail: 'recovered' } : undefined);
          continue;
        }
        await this.unanswered(call, listedAt);
        continue;
      }
      call.uncheckedSince = null;
      const mine = channels.filter((c) => c.accountCode === call.id || c.uniqueid === call.primary || call.channelIds.includes(c.uniqueid));
      if (mine.length > 0) {
        const first = mine.find((c) => c.uniqueid === call.primary) ?? (mine[0] as LiveChannel);
        call.primary = first.uniqueid;
        // When nobody heard the answer: the central says how long the channel has existed,
        // ringing included, not when it was answered. Long by the ring at most (docs/protocol.md
        // §3.4); counting from now would miss the talk before, minutes after a take-over.
        if (first.channelState === 6 && call.answeredAt === null) call.answeredAt = this.now() - (first.durationSeconds ?? 0) * 1000;
        for (const c of mine) this.tracker.watchUniqueid(call, c.uniqueid);
        if (call.adopted) this.metrics.recovered.inc({ how: 'following' });
        continue;
      }
      // What we heard: the central's answer, or the dialled leg's Hangup when it tells the
      // outcome (an answer seen, a telling cause) though the OriginateResponse was lost.
      if (call.responded || (call.primaryHungUp && call.status() !== 'unknown')) {
        await this.report(call, call.primaryHungUp || call.hangups.length > 0 ? (call.adopted ? { detail: 'recovered' } : {}) : { detail: 'hangup-not-seen' });
      } else if (
        call.adopted &&
        call.recordState === 'originating' &&
        call.central === central &&
        call.hangups.length === 0 &&
        heardAll &&
        this.amiUpSince < call.lastTransitionAt - 1000 &&
        listedAt - call.lastTransitionAt > this.live.commandTimeoutMs
      ) {
        // We were listening to the central the call was for, without a break, from before the
        // peer marked it `originating` until the central listed its channels, we still hold
        // everything we heard since, and the central said nothing about it: the Originate
        // never reached the central (it answers an async Originate with a channel at once).
        // Not dialled — and not re-queued either: Multcall decides. Past what we remember
        // (3 minutes), silence proves nothing: `unknown`.
        this.metrics.recovered.inc({ how: 'not-dialled' });
        await this.report(call, { status: 'cancelled', detail: 'not-dialled' });
      } else {
        if (call.adopted) this.metrics.recovered.inc({ how: 'unknown' });
        await this.report(call, { status: 'unknown', detail: call.adopted ? 'recovered-not-found' : (call.detail ?? 'events-lost') });
      }
    }
  }

  /**
   * Checks every call placed before `before` with the central: followed if up, reported if
   * gone. Adopted calls are checked too, in whatever state the peer left them.
   */
  private async sweep(before: number): Promise<void> {
    const calls = [...this.held.values()].filter((c) => {
      const since = c.originatedAt ?? (c.adopted ? c.lastTransitionAt : null);
      // An ended call is published by finish() once Multcall's reply is in or overdue.
      return !c.published && !c.ended && since !== null && since < before;
    });
    if (calls.length === 0) return;
    if (this.centralUp()) {
      await this.resolveWithCentral(calls);
      return;
    }
    // A central that does not answer cannot tell, and its held events may still come.
    const now = this.now();
    for (const call of calls) await this.unanswered(call, now);
  }

  /** The central could not be asked about `call` at `at`: reported `unknown` once that has lasted UNCHECKED_GIVE_UP_MS. */
  private async unanswered(call: LiveCall, at: number): Promise<void> {
    call.uncheckedSince ??= at;
    if (at - call.uncheckedSince < UNCHECKED_GIVE_UP_MS) return;
    if (call.adopted) this.metrics.recovered.inc({ how: 'unknown' });
    await this.publish(call, { status: 'unknown', detail: `central-unreachable:${this.settings.central.name}` });
  }

  private hasUndialled(): boolean {
    for (const c of this.held.values()) if (c.state === 'claimed' && !c.published) return true;
    return false;
  }

  private async releaseUndialled(): Promise<void> {
    const undialled = [...this.held.values()].filter((c) => c.state === 'claimed' && !c.published).map((c) => c.id);
    const { landed, released, gone } = await this.store.release(this.id, undialled);
    // Only what the script released: a call that won the race to `originating` stays ours.
    // One no longer ours at all (our earlier release ran but its reply was lost) goes too.
    for (const id of [...released, ...gone]) this.drop(id);
    if (landed + released.length > 0) this.log.info({ released: landed + released.length }, 'gave undialled requests back to the queue');
  }

  // ── live parameters ──────────────────────────────────────────────────────────────────

  private async reloadConfig(): Promise<void> {
    const raw = await this.store.readConfig();
    const parsed = liveConfig.partial().safeParse(raw);
    if (!parsed.success) {
      this.log.warn({ issues: describeIssues(parsed.error) }, 'ignoring invalid live config');
      return;
    }
    const next = { ...this.live, ...Object.fromEntries(Object.entries(parsed.data).filter(([, v]) => v !== undefined)) } as Live;
    if (next.threads !== this.live.threads || next.retries !== this.live.retries || next.commandTimeoutMs !== this.live.commandTimeoutMs || next.ackTimeoutMs !== this.live.ackTimeoutMs) {
      this.log.info({ from: this.live, to: next }, 'live parameters changed');
      this.live = next;
      this.metrics.threads.set(next.threads);
      this.kick();
    }
  }

  /**
   * Runs a Redis step until Redis answers. Every step is safe to run twice (scripts are
   * idempotent per request), so waiting out a restart never loses or duplicates a transition.
   */
  private async persist<T>(step: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await step();
      } catch (error) {
        if (attempt % 10 === 0) this.log.warn({ err: (error as Error).message }, 'redis step failed; retrying');
        await sleep(Math.min(50 * 2 ** Math.min(attempt, 5), 1000));
      }
    }
  }

  private every(ms: number, task: () => Promise<void>): void {
    let running = false;
    const timer = setInterval(() => {
      if (running) return;
      running = true;
      task()
        .catch((error: unknown) => this.log.debug({ err: (error as Error).message }, 'periodic task failed'))
        .finally(() => {
          running = false;
        });
    }, ms);
    timer.unref();
    this.timers.push(timer);
  }
}
