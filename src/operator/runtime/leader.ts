/**
 * Lease-based leader election (coordination.k8s.io/v1), in two halves:
 *
 * - `decide` — pure: from the Lease as last read, what this candidate observed before and
 *   the time, what to write (nothing, acquire, renew) and what it now believes. Like
 *   client-go, expiry is judged by *this* process's clock since it last saw the record
 *   change, never by comparing its clock with the holder's renewTime, so clock skew between
 *   machines does not matter.
 * - `LeaderElector` — the loop that reads and writes the Lease and calls back on gaining or
 *   losing leadership.
 *
 * Fencing: a leader counts as leading only until `renewDeadlineMs` after the start of its
 * last successful renew. Past that it stops writing (every write goes through
 * `mayWrite()`), which is before any standby can take the lease (`leaseDurationMs` after it
 * last saw the lease change, which is later than the renew that changed it).
 */
import type { Logger } from '../../lib/log.js';
import { sleep, systemClock, type Clock } from './clock.js';
import { isConflict, isNotFound, type KubeClient } from './kube.js';

export interface LeaderElectionConfig {
  /** The lease may be taken over this long after its holder stopped renewing. */
  leaseDurationMs: number;
  /** A leader that could not renew for this long stops acting as the leader. */
  renewDeadlineMs: number;
  /** Time between attempts (renews by the leader, polls by the standbys). */
  retryPeriodMs: number;
}

export const DEFAULT_ELECTION: LeaderElectionConfig = { leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 };

/** The part of a Lease the election reads. Times are epoch ms. */
export interface LeaseRecord {
  holderIdentity: string;
  leaseDurationSeconds: number;
  acquireTime?: number;
  renewTime?: number;
  leaseTransitions: number;
}

export interface ElectionState {
  /** The record as last read, and when (our clock) it last changed. */
  observed?: LeaseRecord;
  observedAt: number;
  /** Start time (our clock) of our last successful acquire or renew; undefined when not leading. */
  renewedAt?: number;
}

export type LeaseAction = { kind: 'wait' } | { kind: 'write'; record: LeaseRecord; create: boolean };

export const initialElection: ElectionState = { observedAt: 0 };

const sameRecord = (a: LeaseRecord | undefined, b: LeaseRecord | undefined): boolean =>
  a?.holderIdentity === b?.holderIdentity && a?.renewTime === b?.renewTime && a?.leaseTransitions === b?.leaseTransitions && a?.leaseDurationSeconds === b?.leaseDurationSeconds;

/**
 * One step of the election. `lease` is the Lease just read (undefined: it does not exist).
 * Returns the new state and what to write; `written` must then be called with the outcome.
 */
export function decide(
  state: ElectionState,
  lease: LeaseRecord | undefined,
  identity: string,
  cfg: LeaderElectionConfig,
  now: number,
  /** The wall clock at `now`, for the times written into the Lease. */
  wall = now,
): { state: ElectionState; action: LeaseAction } {
  const seconds = Math.ceil(cfg.leaseDurationMs / 1000);
  if (!lease) {
    return {
      state: { ...state, observed: undefined, observedAt: now },
      action: { kind: 'write', create: true, record: { holderIdentity: identity, leaseDurationSeconds: seconds, acquireTime: wall, renewTime: wall, leaseTransitions: 0 } },
    };
  }
  const observedAt = sameRecord(state.observed, lease) ? state.observedAt : now;
  const next: ElectionState = { ...state, observed: lease, observedAt };
  if (lease.holderIdentity === identity) {
    return { state: next, action: { kind: 'write', create: false, record: { ...lease, leaseDurationSeconds: seconds, renewTime: wall } } };
  }
  const free = lease.holderIdentity === '';
  const expired = now >= observedAt + lease.leaseDurationSeconds * 1000;
  if (!free && !expired) return { state: { ...next, renewedAt: undefined }, action: { kind: 'wait' } };
  return {
    state: { ...next, renewedAt: undefined },
    action: {
      kind: 'write',
      create: false,
      record: { holderIdentity: identity, leaseDurationSeconds: seconds, acquireTime: wall, renewTime: wall, leaseTransitions: lease.leaseTransitions + 1 },
    },
  };
}

/** Records the outcome of the write `decide` asked for, started at `startedAt`. */
export function written(state: ElectionState, record: LeaseRecord, ok: boolean, startedAt: number): ElectionState {
  if (!ok) return state;
  return { observed: record, observedAt: startedAt, renewedAt: startedAt };
}

/** Whether this candidate may act as the leader at `now` (the fence). */
export function isLeading(state: ElectionState, cfg: LeaderElectionConfig, now: number): boolean {
  return state.renewedAt !== undefined && now < state.renewedAt + cfg.renewDeadlineMs;
}

/** The record that gives the lease up: no holder, so a standby takes it at once. */
export function released(record: LeaseRecord, wall: number): LeaseRecord {
  return { ...record, holderIdentity: '', leaseDurationSeconds: 1, renewTime: wall };
}

// ---------------------------------------------------------------------------------------

interface LeaseObject {
  apiVersion: 'coordination.k8s.io/v1';
  kind: 'Lease';
  metadata: { name: string; namespace: string; resourceVersion?: string; labels?: Record<string, string> };
  spec: {
    holderIdentity?: string;
    leaseDurationSeconds?: number;
    acquireTime?: string;
    renewTime?: string;
    leaseTransitions?: number;
  };
}

const micro = (ms: number | undefined): string | undefined => (ms === undefined ? undefined : new Date(ms).toISOString().replace(/Z$/, '000Z'));
const fromMicro = (text: string | undefined): number | undefined => (text ? Date.parse(text) : undefined);

function toRecord(lease: LeaseObject): LeaseRecord {
  return {
    holderIdentity: lease.spec.holderIdentity ?? '',
    leaseDurationSeconds: lease.spec.leaseDurationSeconds ?? 15,
    acquireTime: fromMicro(lease.spec.acquireTime),
    renewTime: fromMicro(lease.spec.renewTime),
    leaseTransitions: lease.spec.leaseTransitions ?? 0,
  };
}

export interface LeaderCallbacks {
  onStartedLeading(): void;
  onStoppedLeading(): void;
  onNewLeader?(identity: string): void;
}

export interface LeaderElectorOptions {
  namespace: string;
  name: string;
  identity: string;
  config?: LeaderElectionConfig;
  clock?: Clock;
  logger: Logger;
}

export class LeaderElector {
  private state: ElectionState = initialElection;
  private leading = false;
  private lastHolder = '';
  private resourceVersion: string | undefined;
  private readonly cfg: LeaderElectionConfig;
  private readonly clock: Clock;
  private readonly abort = new AbortController();
  private loop: Promise<void> | undefined;

  constructor(
    private readonly kube: KubeClient,
    private readonly opts: LeaderElectorOptions,
    private readonly callbacks: LeaderCallbacks,
  ) {
    this.cfg = opts.config ?? DEFAULT_ELECTION;
    this.clock = opts.clock ?? systemClock;
  }

  get identity(): string {
    return this.opts.identity;
  }

  /** The fence every write goes through. */
  mayWrite(): boolean {
    return isLeading(this.state, this.cfg, this.clock.now());
  }

  start(): void {
    this.loop ??= this.run();
  }

  /** Stops campaigning and, if leading, gives the lease up so a standby takes over at once. */
  async stop(): Promise<void> {
    this.abort.abort();
    await this.loop;
    if (this.state.renewedAt !== undefined && this.state.observed) {
      const record = released(this.state.observed, this.clock.wall());
      try {
        await this.kube.replace(this.leasePath(), this.toObject(record), { unguarded: true });
        this.opts.logger.info({ lease: this.opts.name }, 'released the leader lease');
      } catch (error) {
        this.opts.logger.warn({ err: (error as Error).message }, 'could not release the leader lease; a standby takes over when it expires');
      }
      this.state = initialElection;
    }
    this.setLeading(false);
  }

  private async run(): Promise<void> {
    const signal = this.abort.signal;
    while (!signal.aborted) {
      await this.tryOnce();
      this.setLeading(this.mayWrite());
      // A standby polls four times as often as the leader renews: expiry counts from when it
      // *saw* the last renew, so a shorter poll brings takeover closer to leaseDuration after
      // the leader's real last renew. It also wakes just when the lease would expire.
      let wait = this.cfg.retryPeriodMs;
      if (!this.leading) {
        wait = this.cfg.retryPeriodMs / 4;
        if (this.state.observed && this.state.observed.holderIdentity !== '') {
          const expiresIn = this.state.observedAt + this.state.observed.leaseDurationSeconds * 1000 - this.clock.now();
          if (expiresIn > 0) wait = Math.min(wait, expiresIn + 10);
        }
      }
      await sleep(this.clock, wait * (1 + 0.1 * this.clock.random()), signal);
    }
  }

  private async tryOnce(): Promise<void> {
    const startedAt = this.clock.now();
    let lease: LeaseObject | undefined;
    try {
      lease = await this.kube.get<LeaseObject>(this.leasePath());
      this.resourceVersion = lease.metadata.resourceVersion;
    } catch (error) {
      if (!isNotFound(error)) {
        this.opts.logger.warn({ err: (error as Error).message }, 'could not read the leader lease');
        return;
      }
      this.resourceVersion = undefined;
    }
    const record = lease ? toRecord(lease) : undefined;
    if (record && record.holderIdentity !== this.lastHolder) {
      this.lastHolder = record.holderIdentity;
      if (record.holderIdentity) this.callbacks.onNewLeader?.(record.holderIdentity);
    }
    const { state, action } = decide(this.state, record, this.opts.identity, this.cfg, startedAt, this.clock.wall());
    this.state = state;
    if (action.kind === 'wait') return;
    try {
      const body = this.toObject(action.record);
      const saved = action.create
        ? await this.kube.create<LeaseObject>(this.collectionPath(), body, { unguarded: true })
        : await this.kube.replace<LeaseObject>(this.leasePath(), body, { unguarded: true });
      this.resourceVersion = saved.metadata.resourceVersion;
      this.state = written(this.state, action.record, true, startedAt);
    } catch (error) {
      // Another candidate wrote first (409) or the API server is away: not leading this round.
      if (!isConflict(error)) this.opts.logger.warn({ err: (error as Error).message }, 'could not write the leader lease');
      this.state = written(this.state, action.record, false, startedAt);
    }
  }

  private setLeading(now: boolean): void {
    if (now === this.leading) return;
    this.leading = now;
    if (now) {
      this.opts.logger.info({ identity: this.opts.identity }, 'became the leader');
      this.callbacks.onStartedLeading();
    } else {
      this.opts.logger.warn({ identity: this.opts.identity }, 'stopped being the leader');
      this.callbacks.onStoppedLeading();
    }
  }

  private collectionPath(): string {
    return `/apis/coordination.k8s.io/v1/namespaces/${this.opts.namespace}/leases`;
  }

  private leasePath(): string {
    return `${this.collectionPath()}/${this.opts.name}`;
  }

  private toObject(record: LeaseRecord): LeaseObject {
    return {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name: this.opts.name, namespace: this.opts.namespace, ...(this.resourceVersion ? { resourceVersion: this.resourceVersion } : {}) },
      spec: {
        holderIdentity: record.holderIdentity,
        leaseDurationSeconds: record.leaseDurationSeconds,
        acquireTime: micro(record.acquireTime),
        renewTime: micro(record.renewTime),
        leaseTransitions: record.leaseTransitions,
      },
    };
  }
}
