/** The one-line live summary printed by the demo and `multcall sim multcall`. */
import type { Tally } from './multcall-side.js';

export interface Sample {
  elapsedS: number;
  enqueued: number;
  placed: number;
  results: number;
  perSecond: number;
  byStatus: Tally['byStatus'];
}

export class SummaryMeter {
  private readonly started = performance.now();
  private last = { at: performance.now(), results: 0 };

  constructor(private readonly tally: Tally) {}

  sample(): Sample {
    const now = performance.now();
    const perSecond = ((this.tally.results - this.last.results) * 1000) / Math.max(1, now - this.last.at);
    this.last = { at: now, results: this.tally.results };
    return { elapsedS: (now - this.started) / 1000, enqueued: this.tally.enqueued, placed: this.tally.acked, results: this.tally.results, perSecond, byStatus: { ...this.tally.byStatus } };
  }
}

export function formatSummary(s: Sample, depth: { queued: number; inFlight: number; dead: number }): string {
  const b = s.byStatus;
  return [
    `${s.elapsedS.toFixed(0).padStart(4)}s`,
    `queued ${depth.queued}`,
    `in flight ${depth.inFlight}`,
    `placed ${s.placed}`,
    `answered ${b.answered}`,
    `busy ${b.busy}`,
    `no answer ${b['no-answer']}`,
    `congestion ${b.congestion}`,
    `rejected ${b.rejected}`,
    `failed ${b.failed}`,
    ...(b.cancelled ? [`cancelled ${b.cancelled}`] : []),
    ...(b.unknown ? [`unknown ${b.unknown}`] : []),
    ...(depth.dead ? [`dead letters ${depth.dead}`] : []),
    `${s.perSecond.toFixed(0)} results/s`,
  ].join(' · ');
}
