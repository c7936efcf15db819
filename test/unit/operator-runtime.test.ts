/** The controller runtime's decisions, driven by a fake clock: queue, backoff, leader election. */
import { describe, expect, it } from 'vitest';
import { backoffMs, PerKeyBackoff } from '../../src/operator/runtime/backoff.js';
import { systemClock, type Clock } from '../../src/operator/runtime/clock.js';
import { WorkQueue } from '../../src/operator/runtime/queue.js';
import { decide, initialElection, isLeading, released, written, type ElectionState, type LeaseRecord } from '../../src/operator/runtime/leader.js';
import { mergeConditions } from '../../src/operator/runtime/conditions.js';
import { matchesSelector } from '../../src/operator/runtime/selector.js';

class FakeClock implements Clock {
  t = 0;
  private timers: Array<{ at: number; fn: () => void; cancelled: boolean }> = [];
  now = () => this.t;
  /** A wall clock that may be stepped apart from the monotonic one. */
  wallOffset = 1_700_000_000_000;
  wall = () => this.t + this.wallOffset;
  random = () => 0.5;
  after(ms: number, fn: () => void) {
    const timer = { at: this.t + ms, fn, cancelled: false };
    this.timers.push(timer);
    return { cancel: () => void (timer.cancelled = true) };
  }
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      const due = this.timers.filter((x) => !x.cancelled && x.at <= end).sort((a, b) => a.at - b.at)[0];
      if (!due) break;
      this.t = due.at;
      due.cancelled = true;
      due.fn();
    }
    this.t = end;
  }
}

describe('backoff', () => {
  it('doubles from the base up to the ceiling; jitter spreads around it', () => {
    const p = { baseMs: 100, maxMs: 1000, jitter: 0 };
    expect([0, 1, 2, 3, 4, 10].map((a) => backoffMs(p, a, () => 0.5))).toEqual([100, 200, 400, 800, 1000, 1000]);
    const j = { baseMs: 100, maxMs: 1000, jitter: 1 };
    expect(backoffMs(j, 2, () => 0)).toBe(0);
    expect(backoffMs(j, 2, () => 0.999)).toBeLessThanOrEqual(400);
  });

  it('is per key and starts over after forget', () => {
    const b = new PerKeyBackoff({ baseMs: 10, maxMs: 1000, jitter: 0 }, () => 0);
    expect([b.next('a'), b.next('a'), b.next('a'), b.next('b')]).toEqual([10, 20, 40, 10]);
    b.forget('a');
    expect(b.next('a')).toBe(10);
  });
});

describe('work queue', () => {
  it('dedupes a burst of adds into one reconcile', async () => {
    const q = new WorkQueue({ clock: new FakeClock() });
    for (let i = 0; i < 10; i++) q.add('ns/a');
    q.add('ns/b');
    expect(q.depth).toBe(2);
    expect(await q.get()).toBe('ns/a');
    expect(await q.get()).toBe('ns/b');
    expect(q.depth).toBe(0);
  });

  it('never hands out a key twice at once; an add while processing comes back after done', async () => {
    const q = new WorkQueue({ clock: new FakeClock() });
    q.add('k');
    const key = await q.get();
    q.add('k');
    q.add('k');
    expect(q.depth).toBe(0); // parked, not queued
    let second: string | undefined;
    void q.get().then((k) => (second = k));
    await Promise.resolve();
    expect(second).toBeUndefined();
    q.done(key as string);
    await Promise.resolve();
    expect(second).toBe('k');
  });

  it('addAfter keeps only the earliest pending time per key', async () => {
    const clock = new FakeClock();
    const q = new WorkQueue({ clock });
    q.addAfter('k', 1000);
    q.addAfter('k', 5000);
    q.addAfter('k', 300);
    expect(q.pendingDelayed).toBe(1);
    clock.advance(299);
    expect(q.depth).toBe(0);
    clock.advance(1);
    expect(q.depth).toBe(1);
    clock.advance(10_000);
    expect(q.depth).toBe(1);
  });

  it('rate-limited requeues back off per key', () => {
    const clock = new FakeClock();
    const q = new WorkQueue({ clock, backoff: { baseMs: 100, maxMs: 10_000, jitter: 0 } });
    expect([q.addRateLimited('a'), q.addRateLimited('a'), q.addRateLimited('a')]).toEqual([100, 200, 400]);
    expect(q.addRateLimited('b')).toBe(100);
    q.forget('a');
    expect(q.retries('a')).toBe(0);
  });

  it('shutdown releases waiting workers', async () => {
    const q = new WorkQueue({ clock: new FakeClock() });
    const waiting = q.get();
    q.shutdown();
    expect(await waiting).toBeUndefined();
    q.add('x');
    expect(q.depth).toBe(0);
  });
});

describe('leader election state machine', () => {
  const cfg = { leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 };

  function step(state: ElectionState, lease: LeaseRecord | undefined, me: string, now: number, ok = true) {
    const { state: s, action } = decide(state, lease, me, cfg, now);
    if (action.kind === 'wait') return { state: s, lease, wrote: false };
    return { state: written(s, action.record, ok, now), lease: ok ? action.record : lease, wrote: ok };
  }

  it('creates a missing lease and leads; a standby waits while it is renewed', () => {
    let a = step(initialElection, undefined, 'a', 0);
    expect(a.wrote).toBe(true);
    expect(isLeading(a.state, cfg, 0)).toBe(true);
    let lease = a.lease as LeaseRecord;
    let b = step(initialElection, lease, 'b', 100);
    expect(b.wrote).toBe(false);
    for (let t = 2000; t <= 30_000; t += 2000) {
      a = step(a.state, lease, 'a', t);
      lease = a.lease as LeaseRecord;
      b = step(b.state, lease, 'b', t + 100);
      expect(b.wrote).toBe(false);
      expect(isLeading(a.state, cfg, t)).toBe(true);
    }
  });

  it('the standby takes over a lease that stopped changing, after leaseDuration of its own clock', () => {
    const a = step(initialElection, undefined, 'a', 0);
    const lease = a.lease as LeaseRecord;
    // b's clock is far ahead of a's: only the time since b saw a change counts.
    const skew = 3_600_000;
    let b = step(initialElection, lease, 'b', skew + 1000);
    b = step(b.state, lease, 'b', skew + 15_999);
    expect(b.wrote).toBe(false);
    b = step(b.state, lease, 'b', skew + 16_000);
    expect(b.wrote).toBe(true);
    expect(b.lease?.holderIdentity).toBe('b');
    expect(b.lease?.leaseTransitions).toBe(1);
  });

  it('fencing: a leader that cannot renew stops leading before anyone may take over', () => {
    const a0 = step(initialElection, undefined, 'a', 0);
    const lease = a0.lease as LeaseRecord;
    // Renews fail from t=2 s on (API server unreachable).
    let a = a0;
    for (let t = 2000; t <= 12_000; t += 2000) a = step(a.state, lease, 'a', t, false);
    const fenceEnds = 0 + cfg.renewDeadlineMs;
    expect(isLeading(a.state, cfg, fenceEnds - 1)).toBe(true);
    expect(isLeading(a.state, cfg, fenceEnds)).toBe(false);
    // The earliest a standby could take over: leaseDuration after it first saw that record.
    const b = step(initialElection, lease, 'b', 0);
    const earliestTakeover = b.state.observedAt + cfg.leaseDurationMs;
    expect(fenceEnds).toBeLessThan(earliestTakeover);
  });

  it('a released lease is taken at once', () => {
    const a = step(initialElection, undefined, 'a', 0);
    let b = step(initialElection, a.lease, 'b', 500);
    expect(b.wrote).toBe(false);
    const free = released(a.lease as LeaseRecord, 1000);
    b = step(b.state, free, 'b', 1100);
    expect(b.wrote).toBe(true);
    expect(b.lease?.holderIdentity).toBe('b');
  });

  it('writes wall-clock times into the Lease, and judges the fence on the monotonic clock alone', () => {
    const wall = Date.parse('2026-11-27T12:00:00Z');
    const { state, action } = decide(initialElection, undefined, 'a', cfg, 5, wall);
    expect(action.kind === 'write' && action.record.renewTime).toBe(wall);
    const led = written(state, (action as { record: LeaseRecord }).record, true, 5);
    // A wall clock stepped back an hour changes nothing: the fence counts from the monotonic 5.
    expect(isLeading(led, cfg, 5 + cfg.renewDeadlineMs - 1)).toBe(true);
    expect(isLeading(led, cfg, 5 + cfg.renewDeadlineMs)).toBe(false);
    expect(systemClock.now()).toBeLessThan(systemClock.wall() - 1e12); // not the epoch: process time
  });

  it('losing the write race (409) means not leading', () => {
    const a = step(initialElection, undefined, 'a', 0, false);
    expect(isLeading(a.state, cfg, 0)).toBe(false);
  });
});

describe('conditions and selectors', () => {
  it('keeps lastTransitionTime while the status holds', () => {
    const t1 = new Date('2026-01-01T00:00:00Z');
    const t2 = new Date('2026-01-01T00:05:00Z');
    const first = mergeConditions(undefined, [{ type: 'Ready', status: 'True', reason: 'A', message: 'a' }], 1, t1);
    const same = mergeConditions(first, [{ type: 'Ready', status: 'True', reason: 'B', message: 'b' }], 2, t2);
    expect(same[0]?.lastTransitionTime).toBe('2026-01-01T00:00:00Z');
    expect(same[0]?.observedGeneration).toBe(2);
    const flipped = mergeConditions(same, [{ type: 'Ready', status: 'False', reason: 'C', message: 'c' }], 2, t2);
    expect(flipped[0]?.lastTransitionTime).toBe('2026-01-01T00:05:00Z');
  });

  it('evaluates matchLabels and matchExpressions like the API server', () => {
    const labels = { site: 'sp', tier: 'gold' };
    expect(matchesSelector({}, labels)).toBe(true);
    expect(matchesSelector({ matchLabels: { site: 'sp' } }, labels)).toBe(true);
    expect(matchesSelector({ matchLabels: { site: 'rj' } }, labels)).toBe(false);
    expect(matchesSelector({ matchExpressions: [{ key: 'tier', operator: 'In', values: ['gold', 'silver'] }] }, labels)).toBe(true);
    expect(matchesSelector({ matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['gold'] }] }, labels)).toBe(false);
    expect(matchesSelector({ matchExpressions: [{ key: 'x', operator: 'DoesNotExist' }] }, labels)).toBe(true);
    expect(matchesSelector({ matchExpressions: [{ key: 'x', operator: 'Exists' }] }, labels)).toBe(false);
  });
});
