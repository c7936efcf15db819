/**
 * The queue-driven autoscaler: polls every tracked célula's Redis for queued + in-flight
 * calls (one pipeline per Redis server per tick, however many células it holds), turns the
 * signal into a replica count and, when that count changes, asks for the célula to be
 * reconciled. Scaling up is immediate; scaling down waits out the célula's stabilisation
 * window; the reconciler reads the decision through `view` and applies it.
 *
 * Only the leader polls: a standby's decisions would go nowhere.
 */
import type { Redis } from 'ioredis';
import type { Logger } from '../../lib/log.js';
import { celulaKeys } from '../../protocol/keys.js';
import { endpointOf, type RedisPool, type RedisTarget } from '../redis/pool.js';
import { recommend, Stabilizer, type ScalingBounds } from './recommend.js';

/** How often the queues are read by default; the signal is never older than this plus one poll. */
export const DEFAULT_POLL_MS = 500;
/**
 * Queue figures in status are refreshed at most this often when nothing else changes (each
 * refresh is an API write), and less often with many células: at most
 * STATUS_REFRESHES_PER_S over all of them.
 */
export const STATUS_REFRESH_MS = 10_000;
export const STATUS_REFRESHES_PER_S = 20;
/** Least time between two rises of one célula (a first rise is never held back). */
export const SCALE_UP_COOLDOWN_MS = 2_000;

export interface AutoscaleTarget {
  queue: string;
  redis: RedisTarget;
  threads: number;
  bounds: ScalingBounds;
  windowMs: number;
  /** Replicas the célula runs now (its status), so a new leader does not scale down at once. */
  current: number;
}

export interface ScaleView {
  desired: number;
  queued?: number;
  inFlight?: number;
  lastScaleTime?: Date;
  /** Why `desired` is what it is, in words for status. */
  message: string;
  /** Set while the queue cannot be read; `desired` then stays where it was. */
  error?: string;
}

export interface ScaleDecision {
  from: number;
  to: number;
  message: string;
}

export interface AutoscalerMetrics {
  signal(key: string, queued: number, inFlight: number): void;
  desired(key: string, replicas: number): void;
  decision(direction: 'up' | 'down'): void;
  pollFailed(): void;
  forget(key: string): void;
}

interface Tracked extends ScaleView {
  target: AutoscaleTarget;
  stabilizer: Stabilizer;
  decisions: ScaleDecision[];
  /** When the last rise was applied, for the cooldown between rises. */
  lastRise?: number;
  /** The figures status last showed, and when: refreshing them costs an API write. */
  reported?: { queued?: number; inFlight?: number; error?: string; at: number };
}

export interface AutoscalerOptions {
  pool: RedisPool;
  logger: Logger;
  /** Asks for the célula to be reconciled. */
  onChange: (key: string) => void;
  intervalMs?: number;
  metrics?: AutoscalerMetrics;
  now?: () => number;
}

export class Autoscaler {
  private readonly tracked = new Map<string, Tracked>();
  private readonly intervalMs: number;
  private readonly now: () => number;
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private generation = 0;
  /** Endpoint → its poll in progress. */
  private readonly inFlight = new Map<string, Promise<void>>();

  constructor(private readonly opts: AutoscalerOptions) {
    this.intervalMs = opts.intervalMs ?? DEFAULT_POLL_MS;
    this.now = opts.now ?? Date.now;
  }

  /** Starts or updates the tracking of a queue-mode célula (called by every reconcile). */
  track(key: string, target: AutoscaleTarget): void {
    const existing = this.tracked.get(key);
    if (existing) {
      existing.target = target;
      existing.stabilizer.setWindow(target.windowMs);
      // New bounds or threads apply at once from the last good figures; while the queue is
      // unreadable only a successful poll decides (and clears the error).
      if (existing.error === undefined && existing.queued !== undefined && existing.inFlight !== undefined) this.decide(key, existing, existing.queued, existing.inFlight);
      else if (existing.desired > target.bounds.maxReplicas) this.apply(key, existing, target.bounds.maxReplicas, this.now());
      return;
    }
    const stabilizer = new Stabilizer(target.windowMs);
    const { bounds } = target;
    const start = Math.min(bounds.maxReplicas, Math.max(bounds.scaleToZero ? 0 : bounds.minReplicas, target.current));
    stabilizer.add(this.now(), start);
    this.tracked.set(key, { target, stabilizer, desired: start, message: `Keeping ${start} worker(s) until the queue is read.`, decisions: [] });
    this.opts.metrics?.desired(key, start);
  }

  forget(key: string): void {
    if (this.tracked.delete(key)) this.opts.metrics?.forget(key);
  }

  /**
   * Forgets every célula: after losing the lease, what this process knew is stale. Should
   * it lead again, each célula starts over from the replicas its status shows.
   */
  reset(): void {
    for (const key of [...this.tracked.keys()]) this.forget(key);
  }

  /** What the reconciler applies and shows; reading it marks the figures as reported. */
  view(key: string): ScaleView | undefined {
    const t = this.tracked.get(key);
    if (!t) return undefined;
    t.reported = { ...(t.queued !== undefined ? { queued: t.queued } : {}), ...(t.inFlight !== undefined ? { inFlight: t.inFlight } : {}), ...(t.error ? { error: t.error } : {}), at: this.now() };
    return {
      desired: t.desired,
      message: t.message,
      ...(t.queued !== undefined ? { queued: t.queued } : {}),
      ...(t.inFlight !== undefined ? { inFlight: t.inFlight } : {}),
      ...(t.lastScaleTime ? { lastScaleTime: t.lastScaleTime } : {}),
      ...(t.error ? { error: t.error } : {}),
    };
  }

  /** Decisions not yet told as events; each is returned once. */
  takeDecisions(key: string): ScaleDecision[] {
    const t = this.tracked.get(key);
    if (!t || t.decisions.length === 0) return [];
    const out = t.decisions;
    t.decisions = [];
    return out;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    const generation = ++this.generation;
    const tick = () => {
      // A loop of an earlier leadership term ends here.
      if (!this.running || generation !== this.generation) return;
      void this.pollOnce();
      this.timer = setTimeout(tick, this.intervalMs);
    };
    tick();
  }

  async stop(): Promise<void> {
    this.running = false;
    clearTimeout(this.timer);
    await Promise.all(this.inFlight.values());
  }

  /**
   * Reads every tracked queue once: one pipeline per Redis server, all servers at once. A
   * server still answering the previous poll is skipped, so one slow or unreachable Redis
   * holds back only the células that live on it.
   */
  async pollOnce(): Promise<void> {
    const groups = new Map<string, Array<[string, Tracked]>>();
    for (const entry of this.tracked) {
      const endpoint = endpointOf(entry[1].target.redis);
      const group = groups.get(endpoint);
      if (group) group.push(entry);
      else groups.set(endpoint, [entry]);
    }
    const started: Array<Promise<void>> = [];
    for (const [endpoint, group] of groups) {
      if (this.inFlight.has(endpoint)) continue;
      const poll = this.pollGroup(group).finally(() => this.inFlight.delete(endpoint));
      this.inFlight.set(endpoint, poll);
      started.push(poll);
    }
    await Promise.all(started);
  }

  private async pollGroup(group: Array<[string, Tracked]>): Promise<void> {
    const [firstKey, first] = group[0]!;
    const target = first.target.redis;
    let replies: Array<[Error | null, unknown]> | null;
    let redis: Redis | undefined;
    try {
      redis = await this.opts.pool.client(firstKey, target);
      const pipeline = redis.pipeline();
      for (const [, t] of group) {
        const keys = celulaKeys(t.target.queue, t.target.redis.prefix);
        pipeline.llen(keys.dial).hlen(keys.calls);
      }
      replies = await pipeline.exec();
      if (!replies) throw new Error('the pipeline was discarded');
    } catch (error) {
      if (redis) this.opts.pool.drop(target, redis);
      this.opts.metrics?.pollFailed();
      const message = `Redis at ${target.host}:${target.port} does not answer: ${(error as Error).message}`;
      for (const [key, t] of group) this.fail(key, t, message);
      return;
    }
    group.forEach(([key, t], i) => {
      const [qErr, queued] = replies[2 * i]!;
      const [fErr, inFlight] = replies[2 * i + 1]!;
      if (qErr || fErr) this.fail(key, t, (qErr ?? fErr)!.message);
      else this.decide(key, t, Number(queued), Number(inFlight));
    });
  }

  private fail(key: string, t: Tracked, error: string): void {
    const was = t.error;
    t.error = error;
    t.message = `Queue not readable, keeping ${t.desired} worker(s): ${error}.`;
    if (was !== error) this.opts.onChange(key);
  }

  private decide(key: string, t: Tracked, queued: number, inFlight: number): void {
    const { threads, bounds, windowMs } = t.target;
    const recovered = t.error !== undefined;
    delete t.error;
    t.queued = queued;
    t.inFlight = inFlight;
    this.opts.metrics?.signal(key, queued, inFlight);
    const now = this.now();
    const rec = recommend(queued + inFlight, threads, bounds);
    // The window's maximum, but never above a maxReplicas that was lowered meanwhile.
    const next = Math.min(bounds.maxReplicas, t.stabilizer.add(now, rec.replicas));
    const inputs = `${queued} queued + ${inFlight} in flight at ${threads} threads per worker`;
    const capped = rec.wanted > bounds.maxReplicas ? ` (${rec.wanted} wanted, capped at maxReplicas ${bounds.maxReplicas})` : '';
    const held = next > rec.replicas ? `; holding ${next} for the ${windowMs / 1000} s scale-down window` : '';
    t.message = `${inputs} → ${rec.replicas} worker(s)${capped}${held}.`;
    // A queue that keeps growing would otherwise cost a Deployment, a status and an event
    // write every poll: a rise right after a rise waits for the cooldown (the next poll after
    // it applies the latest figure). A burst still shows at once.
    const coolingDown = next > t.desired && t.lastRise !== undefined && now - t.lastRise < SCALE_UP_COOLDOWN_MS;
    if (next !== t.desired && !coolingDown) {
      this.apply(key, t, next, now);
      return;
    }
    const r = t.reported;
    const figuresMoved = !r || r.queued !== queued || r.inFlight !== inFlight;
    const refreshMs = Math.max(STATUS_REFRESH_MS, (this.tracked.size * 1000) / STATUS_REFRESHES_PER_S);
    if (recovered || (figuresMoved && now - (r?.at ?? 0) >= refreshMs)) this.opts.onChange(key);
  }

  private apply(key: string, t: Tracked, next: number, now: number): void {
    const from = t.desired;
    t.desired = next;
    t.lastScaleTime = new Date(now);
    if (next > from) t.lastRise = now;
    else delete t.lastRise;
    t.decisions.push({ from, to: next, message: `Scaled from ${from} to ${next} worker(s): ${t.message}` });
    this.opts.metrics?.desired(key, next);
    this.opts.metrics?.decision(next > from ? 'up' : 'down');
    this.opts.logger.info({ celula: key, from, to: next, queued: t.queued, inFlight: t.inFlight, threads: t.target.threads }, 'scale decision');
    this.opts.onChange(key);
  }
}
