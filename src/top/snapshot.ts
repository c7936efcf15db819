/**
 * What `multcall top` shows, read from Redis in one pipelined round trip per refresh.
 */
import type { Redis } from 'ioredis';
import { celulaKeys, celulaRegistryKey, DEFAULT_PREFIX } from '../protocol/keys.js';
import { CALL_STATUSES, type CallStatus } from '../protocol/messages.js';

export interface CelulaSnapshot {
  celula: string;
  queued: number;
  inFlight: number;
  dead: number;
  /** Results waiting for Multcall to take them. */
  resultsPending: number;
  acksPending: number;
  workersAlive: number;
  workersExpired: number;
  totals: Record<CallStatus, number>;
  /** Central → { workers, calls held }. */
  centrals: Record<string, { workers: number; inFlight: number }>;
  threads: number | null;
}

export interface Snapshot {
  at: number;
  celulas: CelulaSnapshot[];
}

export async function readSnapshot(redis: Redis, prefix: string = DEFAULT_PREFIX, now: number = Date.now()): Promise<Snapshot> {
  const names = (await redis.smembers(celulaRegistryKey(prefix))).sort();
  const pipeline = redis.pipeline();
  for (const name of names) {
    const k = celulaKeys(name, prefix);
    pipeline.llen(k.dial).hlen(k.calls).llen(k.dead).llen(k.results).llen(k.acks).zrange(k.workers, 0, -1, 'WITHSCORES').hgetall(k.workerInfo).hgetall(k.stats).hget(k.config, 'threads');
  }
  const replies = (await pipeline.exec()) ?? [];
  const value = (i: number): unknown => replies[i]?.[1];
  const celulas: CelulaSnapshot[] = [];
  const perCelula = 9;
  const workerCalls = redis.pipeline();
  const pendingWorkers: Array<{ celula: number; central: string }> = [];
  names.forEach((name, n) => {
    const base = n * perCelula;
    const workers = (value(base + 5) as string[] | undefined) ?? [];
    const info = (value(base + 6) as Record<string, string> | undefined) ?? {};
    const stats = (value(base + 7) as Record<string, string> | undefined) ?? {};
    let alive = 0;
    let expired = 0;
    const centrals: CelulaSnapshot['centrals'] = {};
    for (let i = 0; i + 1 < workers.length; i += 2) {
      const id = workers[i] as string;
      if (Number(workers[i + 1]) > now) alive++;
      else expired++;
      let central = '?';
      try {
        central = (JSON.parse(info[id] ?? '{}') as { central?: string }).central ?? '?';
      } catch {
        central = '?';
      }
      const load = (centrals[central] ??= { workers: 0, inFlight: 0 });
      load.workers += 1;
      workerCalls.scard(celulaKeys(name, prefix).workerCalls(id));
      pendingWorkers.push({ celula: n, central });
    }
    const threads = value(base + 8);
    celulas.push({
      celula: name,
      queued: Number(value(base)) || 0,
      inFlight: Number(value(base + 1)) || 0,
      dead: Number(value(base + 2)) || 0,
      resultsPending: Number(value(base + 3)) || 0,
      acksPending: Number(value(base + 4)) || 0,
      workersAlive: alive,
      workersExpired: expired,
      totals: Object.fromEntries(CALL_STATUSES.map((s) => [s, Number(stats[`status:${s}`] ?? 0)])) as Record<CallStatus, number>,
      centrals,
      threads: typeof threads === 'string' ? Number(threads) : null,
    });
  });
  if (pendingWorkers.length > 0) {
    const counts = (await workerCalls.exec()) ?? [];
    pendingWorkers.forEach((w, i) => {
      const c = celulas[w.celula]?.centrals[w.central];
      if (c) c.inFlight += Number(counts[i]?.[1]) || 0;
    });
  }
  return { at: now, celulas };
}

function sum(totals: Record<CallStatus, number>): number {
  return Object.values(totals).reduce((a, b) => a + b, 0);
}

/** Renders a snapshot as text; with the previous one it also shows results per second. */
export function renderSnapshot(current: Snapshot, previous?: Snapshot): string {
  const seconds = previous ? Math.max(0.001, (current.at - previous.at) / 1000) : 0;
  const lines: string[] = [];
  lines.push(`multcall top · ${new Date(current.at).toISOString()} · ${current.celulas.length} célula(s)`);
  lines.push('');
  const header = ['CÉLULA', 'QUEUED', 'IN FLIGHT', 'DEAD', 'RESULTS→MC', 'WORKERS', 'THREADS', 'RESULTS/S', 'ANSWERED', 'BUSY', 'NO ANS', 'CONGEST', 'REJECTED', 'FAILED', 'UNKNOWN'];
  const rows = current.celulas.map((c) => {
    const before = previous?.celulas.find((p) => p.celula === c.celula);
    const rate = before && seconds > 0 ? ((sum(c.totals) - sum(before.totals)) / seconds).toFixed(1) : '-';
    return [
      c.celula,
      c.queued,
      c.inFlight,
      c.dead,
      c.resultsPending,
      `${c.workersAlive}${c.workersExpired ? ` (+${c.workersExpired} dead)` : ''}`,
      c.threads ?? '-',
      rate,
      c.totals.answered,
      c.totals.busy,
      c.totals['no-answer'],
      c.totals.congestion,
      c.totals.rejected,
      c.totals.failed,
      c.totals.unknown,
    ].map(String);
  });
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const fmt = (r: string[]) => r.map((v, i) => (i === 0 ? v.padEnd(widths[i] ?? 0) : v.padStart(widths[i] ?? 0))).join('  ');
  lines.push(fmt(header), ...rows.map(fmt));
  const centrals = new Map<string, { workers: number; inFlight: number }>();
  for (const c of current.celulas) {
    for (const [name, load] of Object.entries(c.centrals)) {
      const t = centrals.get(name) ?? { workers: 0, inFlight: 0 };
      t.workers += load.workers;
      t.inFlight += load.inFlight;
      centrals.set(name, t);
    }
  }
  if (centrals.size > 0) {
    lines.push('', 'CENTRAL'.padEnd(24) + 'WORKERS'.padStart(8) + 'CALLS'.padStart(8));
    for (const [name, load] of [...centrals].sort()) lines.push(name.padEnd(24) + String(load.workers).padStart(8) + String(load.inFlight).padStart(8));
  }
  return lines.join('\n');
}
