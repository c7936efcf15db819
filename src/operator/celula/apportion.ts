/**
 * How a célula's worker replicas are spread over its centrals. Pure; `total` comes from the
 * scaling mode (the autoscaler in queue mode) and the free channels from what the other
 * células already run on each central.
 */

export interface CentralShare {
  name: string;
  /** Relative share (Central spec.weight). */
  weight: number;
  /**
   * Channels of the central this célula may fill: spec.capacity.maxChannels less what the
   * workers of other células there can hold (their replicas × threads).
   */
  freeChannels: number;
  healthy: boolean;
}

export interface Apportionment {
  /** Replicas per central name; every healthy central is present, possibly with 0. */
  replicas: Record<string, number>;
  /** Replicas that fit nowhere: every healthy central is at capacity. */
  unplaced: number;
}

/**
 * Most worker replicas a central can keep busy for this célula: its free channels over the
 * calls each worker holds. At least one, so no célula starves on a central others fill; the
 * channel cap itself is enforced by the workers through Redis (docs/protocol.md).
 */
export function capacityOf(freeChannels: number, threads: number): number {
  return Math.max(1, Math.floor(Math.max(0, freeChannels) / Math.max(1, threads)));
}

/**
 * Splits `total` over the healthy centrals in proportion to their weights, never above a
 * central's capacity; what a full central cannot take goes to the others. Replicas are
 * handed out one at a time, each to the central with the highest weight / (2 × replicas so
 * far + 1) that has room (Sainte-Laguë; ties by name), so one replica more never takes one
 * away from any central: a scale-up drains no worker, and a total that hovers at a boundary
 * moves one replica, not several. (Largest remainder, for one, does not have that property:
 * weights 1/3/3 give 1/1/1 for 3 replicas and 0/2/2 for 4.) Unhealthy centrals get nothing.
 */
export function apportion(total: number, centrals: readonly CentralShare[], threads: number): Apportionment {
  const eligible = centrals.filter((c) => c.healthy && c.weight > 0).sort((a, b) => a.name.localeCompare(b.name));
  const replicas: Record<string, number> = {};
  for (const c of centrals) if (c.healthy) replicas[c.name] = 0;
  const cap = new Map(eligible.map((c) => [c.name, capacityOf(c.freeChannels, threads)]));
  let remaining = Math.max(0, Math.floor(total));
  while (remaining > 0) {
    let best: CentralShare | undefined;
    let bestPriority = -1;
    for (const c of eligible) {
      const given = replicas[c.name] ?? 0;
      if (given >= (cap.get(c.name) ?? 0)) continue;
      const priority = c.weight / (2 * given + 1);
      if (priority > bestPriority) [best, bestPriority] = [c, priority]; // strictly: the first by name wins ties
    }
    if (!best) break;
    replicas[best.name] = (replicas[best.name] ?? 0) + 1;
    remaining--;
  }
  return { replicas, unplaced: remaining };
}
