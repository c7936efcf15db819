/**
 * The autoscaler's arithmetic, pure so it is tested without servers.
 *
 * Signal = queued + in flight: a call a worker popped is still work for a worker. Counting
 * only the list length (as a Redis list-length scaler does) makes replicas drop while every
 * worker is busy with live calls, and the next scale-down kills them mid-call.
 */

export interface ScalingBounds {
  minReplicas: number;
  maxReplicas: number;
  /** With scaleToZero an empty célula runs no worker; the first queued call wakes it. */
  scaleToZero: boolean;
}

export interface Recommendation {
  replicas: number;
  /** Replicas the signal alone asks for, before the bounds: shows when maxReplicas caps it. */
  wanted: number;
}

/** desired = clamp(ceil(signal / threads), floor, max), floor = 0 only for an idle célula that may sleep. */
export function recommend(signal: number, threads: number, bounds: ScalingBounds): Recommendation {
  const wanted = Math.ceil(Math.max(0, signal) / Math.max(1, threads));
  const floor = bounds.scaleToZero && wanted === 0 ? 0 : bounds.minReplicas;
  return { replicas: Math.min(bounds.maxReplicas, Math.max(floor, wanted)), wanted };
}

/**
 * Scale-down stabilisation: the value to run is the largest recommendation seen within the
 * window. A rise shows at once (the newest sample is in the window); a fall only once every
 * higher sample has aged out, so a queue that empties between bursts keeps its workers.
 */
export class Stabilizer {
  private samples: Array<{ at: number; replicas: number }> = [];

  constructor(private windowMs: number) {}

  setWindow(windowMs: number): void {
    this.windowMs = windowMs;
  }

  add(at: number, replicas: number): number {
    // Samples no higher than the new one can never be the maximum again.
    while (this.samples.length > 0 && this.samples[this.samples.length - 1]!.replicas <= replicas) this.samples.pop();
    this.samples.push({ at, replicas });
    return this.value(at);
  }

  value(at: number): number {
    while (this.samples.length > 1 && this.samples[0]!.at < at - this.windowMs) this.samples.shift();
    return this.samples[0]?.replicas ?? 0;
  }
}
