/**
 * The queue-driven autoscaler: polls every tracked célula's Redis for queued + in-flight
 * calls (one pipeline per Redis server per tick, however many células it holds), turns the
 * signal into a replica count and, when that count changes, asks for the célula to be
 * reconciled. Scaling up is immediate; scaling down waits out the célula's stabilisation
 * window; the reconciler reads the decision through `view` and applies it.
 *
 * Only the leader polls: a standby's decisions would go nowhere.
 */
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
  private polling: Promise<void> | undefined;

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
      // New bounds or threads apply at once, without waiting for the next poll.
      if (existing.queued !== undefined && existing.inFlight !== undefined) this.decide(key, existing, existing.queued, existing.inFlight);
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

  has(key: string): boolean {
    return this.tracked.has(key);
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
    const tick = async () => {
      const started = this.now();
      this.polling = this.pollOnce();
      await this.polling;
      if (this.running) this.timer = setTimeout(() => void tick(), Math.max(0, this.intervalMs - (this.now() - started)));
    };
    void tick();
  }

  async stop(): Promise<void> {
    this.running = false;
    clearTimeout(this.timer);
    await this.polling;
  }

  /** Reads every tracked queue once: one pipeline per Redis server, all servers at once. */
  async pollOnce(): Promise<void> {
    const groups = new Map<string, Array<[string, Tracked]>>();
    for (const entry of this.tracked) {
      const endpoint = endpointOf(entry[1].target.redis);
      const group = groups.get(endpoint) ?? [];
      groups.set(endpoint, group.concat([entry]));
    }
    await Promise.all([...groups.values()].map((group) => this.pollGroup(group)));
  }

  private async pollGroup(group: Array<[string, Tracked]>): Promise<void> {
    const [firstKey, first] = group[0]!;
    const target = first.target.redis;
    let replies: Array<[Error | null, unknown]> | null;
    try {
      const redis = await this.opts.pool.client(firstKey, target);
      const pipeline = redis.pipeline();
      for (const [, t] of group) {
        const keys = celulaKeys(t.target.queue, t.target.redis.prefix);
        pipeline.llen(keys.dial).hlen(keys.calls);
      }
      replies = await pipeline.exec();
      if (!replies) throw new Error('the pipeline was discarded');
    } catch (error) {
      this.opts.pool.drop(target);
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
    const next = t.stabilizer.add(now, rec.replicas);
    const inputs = `${queued} queued + ${inFlight} in flight at ${threads} threads per worker`;
    const capped = rec.wanted > bounds.maxReplicas ? ` (${rec.wanted} wanted, capped at maxReplicas ${bounds.maxReplicas})` : '';
    const held = next > rec.replicas ? `; holding ${next} for the ${windowMs / 1000} s scale-down window` : '';
    t.message = `${inputs} → ${rec.replicas} worker(s)${capped}${held}.`;
    if (next !== t.desired) {
      const from = t.desired;
      t.desired = next;
      t.lastScaleTime = new Date(now);
      t.decisions.push({ from, to: next, message: `Scaled from ${from} to ${next} worker(s): ${t.message}` });
      this.opts.metrics?.desired(key, next);
      this.opts.metrics?.decision(next > from ? 'up' : 'down');
      this.opts.logger.info({ celula: key, from, to: next, queued, inFlight, threads }, 'scale decision');
      this.opts.onChange(key);
      return;
    }
    const r = t.reported;
    const figuresMoved = !r || r.queued !== queued || r.inFlight !== inFlight;
    const refreshMs = Math.max(STATUS_REFRESH_MS, (this.tracked.size * 1000) / STATUS_REFRESHES_PER_S);
    if (recovered || (figuresMoved && now - (r?.at ?? 0) >= refreshMs)) this.opts.onChange(key);
  }
}
