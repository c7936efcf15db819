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
 * Splits `total` over the healthy centrals in proportion to their weights (largest
 * remainder, ties by name), never above a central's capacity; what a full central cannot
 * take goes to the others by the same rule. Unhealthy centrals get nothing.
 */
export function apportion(total: number, centrals: readonly CentralShare[], threads: number): Apportionment {
  const eligible = centrals.filter((c) => c.healthy && c.weight > 0).sort((a, b) => a.name.localeCompare(b.name));
  const replicas: Record<string, number> = {};
  for (const c of centrals) if (c.healthy) replicas[c.name] = 0;
  const cap = new Map(eligible.map((c) => [c.name, capacityOf(c.freeChannels, threads)]));
  let remaining = Math.max(0, Math.floor(total));
  let open = eligible;
  while (remaining > 0 && open.length > 0) {
    const weights = open.reduce((sum, c) => sum + c.weight, 0);
    const exact = open.map((c) => ({ c, share: (remaining * c.weight) / weights }));
    const alloc = new Map(exact.map(({ c, share }) => [c.name, Math.floor(share)]));
    let left = remaining - [...alloc.values()].reduce((a, b) => a + b, 0);
    const byRemainder = [...exact].sort((a, b) => b.share - Math.floor(b.share) - (a.share - Math.floor(a.share)) || a.c.name.localeCompare(b.c.name));
    for (const { c } of byRemainder) {
      if (left === 0) break;
      alloc.set(c.name, (alloc.get(c.name) ?? 0) + 1);
      left--;
    }
    let given = 0;
    for (const c of open) {
      const room = (cap.get(c.name) ?? 0) - (replicas[c.name] ?? 0);
      const give = Math.min(alloc.get(c.name) ?? 0, room);
      replicas[c.name] = (replicas[c.name] ?? 0) + give;
      given += give;
    }
    remaining -= given;
    open = open.filter((c) => (replicas[c.name] ?? 0) < (cap.get(c.name) ?? 0));
    if (given === 0) break;
  }
  return { replicas, unplaced: remaining };
}
