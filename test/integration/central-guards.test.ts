/**
 * A central's limits hold across every worker of every célula sharing a Redis, and a
 * central that stops answering gets no new Originates. Real redis-server, simulated
 * centrals on TCP; the simulators record the peak of live channels and every Originate
 * as it arrives, which is what the assertions read.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { startRedis, type RedisServer } from '../support/redis.js';
import { settingsFor, spawnWorker, until, type WorkerFileOverrides } from '../support/stack.js';
import { startPbxSimulator, type PbxSimulator } from '../../src/sim/pbx/index.js';
import { MultcallSide } from '../../src/sim/multcall/multcall-side.js';
import { startWorker, type RunningWorker } from '../../src/worker/run.js';
import { CentralStore } from '../../src/protocol/central-store.js';
import { silentLogger } from '../../src/lib/log.js';
import type { DialRequest } from '../../src/protocol/messages.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));


/** Talk time in simulated ms (the simulators run 20× faster: timeScale 0.05). */
function answering(talkMs: number): Promise<PbxSimulator> {
  return startPbxSimulator({ profile: '20', timeScale: 0.05, outcome: () => ({ kind: 'answer', ringMs: 1000, talkMs }) });
}

function calls(prefix: string, n: number): DialRequest[] {
  return Array.from({ length: n }, (_, i) => ({ v: 1, id: `${prefix}-${i}`, number: `5511${String(900_000_000 + i)}` }));
}

/** Most arrivals within any `windowMs` (arrival times sorted ascending). */
function busiestWindow(times: readonly number[], windowMs: number): number {
  let best = 0;
  for (let i = 0, j = 0; j < times.length; j++) {
    while ((times[j] as number) - (times[i] as number) >= windowMs) i++;
    best = Math.max(best, j - i + 1);
  }
  return best;
}

/** Every request has one result, and no request id reached any central twice. */
function expectOneOutcomeEach(sides: readonly MultcallSide[], sims: readonly PbxSimulator[], perSide: number): void {
  for (const side of sides) {
    expect(side.results.size).toBe(perSide);
    expect(side.tally.duplicateResults).toEqual([]);
  }
  const dialled = new Map<string, number>();
  for (const sim of sims) for (const [id, n] of sim.stats().originatesByRequest) dialled.set(id, (dialled.get(id) ?? 0) + n);
  expect([...dialled].filter(([, n]) => n > 1)).toEqual([]);
}

let redis: RedisServer;
let probe: Redis;
const running: RunningWorker[] = [];
const sims: PbxSimulator[] = [];
const sides: MultcallSide[] = [];

async function worker(pbx: PbxSimulator, id: string, o: WorkerFileOverrides): Promise<RunningWorker> {
  const w = await startWorker(settingsFor(redis.port, pbx, o, id), silentLogger);
  running.push(w);
  return w;
}

function side(celula: string): MultcallSide {
  const s = new MultcallSide({ redis: { host: '127.0.0.1', port: redis.port }, celula });
  s.start();
  sides.push(s);
  return s;
}

async function sim(talkMs: number): Promise<PbxSimulator> {
  const s = await answering(talkMs);
  sims.push(s);
  return s;
}

beforeAll(async () => {
  redis = await startRedis();
  probe = redis.client();
}, 30_000);

afterAll(async () => {
  await Promise.allSettled(running.map((w) => w.stop()));
  await Promise.allSettled(sides.map((s) => s.stop()));
  await Promise.allSettled(sims.map((s) => s.close()));
  await redis?.stop();
}, 60_000);

describe('central guard scripts', () => {
  it('slots: never over the cap by taking, absolute (so repeatable), in-use always kept', async () => {
    const store = new CentralStore(probe, { central: 'script-a' });
    expect(await store.holdSlots('c1/w1', 0, 4, 5, 10_000)).toEqual({ held: 4, total: 4 });
    expect(await store.holdSlots('c2/w1', 0, 4, 5, 10_000)).toEqual({ held: 1, total: 5 });
    // A release sent twice (a reply lost, the command re-sent) counts once.
    expect(await store.holdSlots('c1/w1', 1, 1, 5, 10_000)).toEqual({ held: 1, total: 2 });
    expect(await store.holdSlots('c1/w1', 1, 1, 5, 10_000)).toEqual({ held: 1, total: 2 });
    expect(await store.holdSlots('c2/w1', 1, 9, 5, 10_000)).toEqual({ held: 4, total: 5 });
    // Calls that exist are counted even over the cap (adopted from a dead peer): others wait.
    expect(await store.holdSlots('c3/w1', 3, 3, 5, 10_000)).toEqual({ held: 3, total: 8 });
    expect(await store.holdSlots('c1/w1', 1, 5, 5, 10_000)).toEqual({ held: 1, total: 8 });
    expect(await store.holdSlots('c3/w1', 0, 0, 5, 10_000)).toEqual({ held: 0, total: 5 });
    expect(await store.holders()).toEqual(new Map([['c1/w1', 1], ['c2/w1', 4]]));
  });

  it('slots: a holder whose lease passed loses them to the next grant', async () => {
    const store = new CentralStore(probe, { central: 'script-b' });
    await store.holdSlots('c1/dead', 5, 5, 5, 200);
    expect((await store.holdSlots('c1/alive', 0, 3, 5, 10_000)).held).toBe(0);
    await sleep(250);
    expect(await store.holdSlots('c1/alive', 0, 3, 5, 10_000)).toEqual({ held: 3, total: 3 });
    expect([...(await store.holders()).keys()]).toEqual(['c1/alive']);
  });

  it('tokens: the burst, then the rate, whoever asks', async () => {
    const store = new CentralStore(probe, { central: 'script-c' });
    expect(await store.takeTokens(5, 10, 2)).toMatchObject({ granted: 2 });
    const dry = await store.takeTokens(1, 10, 2);
    expect(dry.granted).toBe(0);
    expect(dry.waitMs).toBeGreaterThan(0);
    expect(dry.waitMs).toBeLessThanOrEqual(100);
    const started = Date.now();
    let granted = 0;
    while (Date.now() - started < 1000) {
      const g = await store.takeTokens(3, 10, 2);
      granted += g.granted;
      await sleep(Math.max(1, g.waitMs));
    }
    expect(granted).toBeGreaterThanOrEqual(9);
    expect(granted).toBeLessThanOrEqual(12);
  });
});

describe('three células sharing two centrals', () => {
  const CAP = 12;
  const PER_CELULA = 100;

  it('no central ever carries more than its maxChannels; every call placed once', async () => {
    const [a, b] = [await sim(20_000), await sim(20_000)];
    const centrals = [
      { pbx: a, name: 'shared-a' },
      { pbx: b, name: 'shared-b' },
    ];
    const celulas = ['c1', 'c2', 'c3'];
    // 3 células × 2 centrals × 2 workers × 8 threads: 48 threads per central for 12 channels.
    for (const celula of celulas) {
      for (const { pbx, name } of centrals) {
        for (const n of [1, 2]) await worker(pbx, `${celula}-${name}-${n}`, { celula, threads: 8, central: { name, maxChannels: CAP, maxOriginatesPerSecond: 100 } });
      }
    }
    const mine = celulas.map(side);
    const stores = centrals.map(({ name }) => new CentralStore(probe, { central: name }));
    let worstTotal = 0;
    const sampling = setInterval(() => {
      for (const store of stores) void store.holders().then((h) => (worstTotal = Math.max(worstTotal, [...h.values()].reduce((x, y) => x + y, 0))));
    }, 20);
    const started = Date.now();
    await Promise.all(mine.map((s, i) => s.enqueue(calls(`cap${i}`, PER_CELULA))));
    await Promise.all(mine.map((s) => s.waitForResults(PER_CELULA, 90_000)));
    clearInterval(sampling);
    const peaks = [a.stats().peakChannels, b.stats().peakChannels];
    console.log(JSON.stringify({ test: 'shared caps', cap: CAP, peaks, worstSlotsTotal: worstTotal, calls: PER_CELULA * 3, seconds: (Date.now() - started) / 1000 }));
    for (const peak of peaks) {
      expect(peak).toBeLessThanOrEqual(CAP);
      expect(peak).toBeGreaterThanOrEqual(CAP - 2); // the cap, not the threads, was the limit
    }
    expect(worstTotal).toBeLessThanOrEqual(CAP);
    expectOneOutcomeEach(mine, [a, b], PER_CELULA);
    expect(a.stats().originates + b.stats().originates).toBe(PER_CELULA * 3);
    for (const s of mine) for (const r of s.results.values()) expect(r.status).toBe('answered');
    // Idle workers give their slots back.
    await until(async () => (await Promise.all(stores.map((s) => s.holders()))).every((h) => h.size === 0), 5000, 'slots released');
    await Promise.all(running.splice(0).map((w) => w.stop()));
  }, 150_000);

  it('a worker fed a trickle keeps a trickle\'s worth of spare slots: a célula with a backlog on the same central gets the rest', async () => {
    const cap = 30;
    const central = { name: 'shared-trickle', maxChannels: cap, maxOriginatesPerSecond: 500 };
    // Two simulators under one central name: each one's live channels are one célula's calls.
    const [quick, long] = [await sim(1000), await sim(40_000)];
    await worker(quick, 'trickle-1', { celula: 'trickle', threads: cap, central });
    await worker(long, 'backlog-1', { celula: 'backlog', threads: cap, central });
    const [trickle, backlog] = [side('trickle'), side('backlog')];
    // 40 requests/s, each up ~100 ms: the trickle worker is never quiet for its 100 ms hold.
    const feeding = trickle.enqueueAtRate((i) => ({ v: 1, id: `tr-${i}`, number: `5511${String(900_000_000 + i)}` }), 160, 40);
    await sleep(500);
    await backlog.enqueue(calls('bl', 120));
    let peak = 0;
    let trickleLive = 0;
    const sampling = setInterval(() => {
      peak = Math.max(peak, long.stats().liveChannels);
      trickleLive = Math.max(trickleLive, quick.stats().liveChannels);
    }, 10);
    await feeding;
    clearInterval(sampling);
    console.log(JSON.stringify({ test: 'trickle beside a backlog', cap, backlogPeak: peak, tricklePeak: trickleLive }));
    // Everything but the trickle's live calls and its few kept slots went to the backlog.
    expect(peak).toBeGreaterThanOrEqual(cap - trickleLive - 4 - 2);
    await Promise.all([trickle.waitForResults(160, 30_000), backlog.waitForResults(120, 60_000)]);
    expectOneOutcomeEach([trickle], [quick], 160);
    expectOneOutcomeEach([backlog], [long], 120);
    await Promise.all(running.splice(0).map((w) => w.stop()));
  }, 90_000);

  it('Originates per second at a central stay within maxOriginatesPerSecond + burst', async () => {
    const RATE = 20;
    const BURST = 2; // a tenth of a second's worth
    const CALLS = 40;
    const pbx = await sim(200);
    for (const celula of ['r1', 'r2', 'r3']) {
      for (const n of [1, 2]) await worker(pbx, `${celula}-rate-${n}`, { celula, threads: 30, central: { name: 'rated', maxChannels: 500, maxOriginatesPerSecond: RATE } });
    }
    const mine = ['r1', 'r2', 'r3'].map(side);
    const started = Date.now();
    await Promise.all(mine.map((s, i) => s.enqueue(calls(`rate${i}`, CALLS))));
    await Promise.all(mine.map((s) => s.waitForResults(CALLS, 60_000)));
    const times = pbx.originateLog().map((o) => o.at).sort((x, y) => x - y);
    const busiest = busiestWindow(times, 1000);
    const spanSeconds = ((times.at(-1) ?? 0) - (times[0] ?? 0)) / 1000;
    const average = (times.length - BURST) / spanSeconds;
    console.log(JSON.stringify({ test: 'shared rate', rate: RATE, burst: BURST, originates: times.length, busiest1s: busiest, average: Number(average.toFixed(2)), spanSeconds, seconds: (Date.now() - started) / 1000 }));
    expect(times).toHaveLength(CALLS * 3);
    // Redis grants tokens at the rate; each Originate then reaches the central after its
    // worker's own delay, so a 1 s window at the central may catch one or two more.
    expect(busiest).toBeLessThanOrEqual(RATE + BURST + Math.ceil(RATE * 0.1));
    expect(average).toBeLessThanOrEqual(RATE * 1.05);
    expect(average).toBeGreaterThan(RATE * 0.8); // the workers together used the budget
    expectOneOutcomeEach(mine, [pbx], CALLS);
    await Promise.all(running.splice(0).map((w) => w.stop()));
  }, 120_000);
});

describe('a worker killed while holding slots', () => {
  it('its slots come back after its lease; the peer that adopts its calls counts them', async () => {
    const CAP = 6;
    const LEASE = 2;
    const pbx = await sim(120_000); // 6 s calls: they outlive the lease
    const central = { name: 'crashy', maxChannels: CAP, maxOriginatesPerSecond: 100 };
    const store = new CentralStore(probe, { central: 'crashy' });
    const multcall = side('k1');
    const victim = spawnWorker(redis.port, pbx, 'victim', { celula: 'k1', threads: CAP, lease: LEASE, heartbeat: 0.5, central });
    try {
      await multcall.enqueue(calls('kill-a', CAP));
      await until(async () => (await store.holders()).get('k1/victim') === CAP && pbx.stats().liveChannels === CAP, 20_000, 'the victim to hold every slot');
      // A peer on the same central: it finds the central full and waits.
      const peer = await worker(pbx, 'peer', { celula: 'k1', threads: CAP, lease: LEASE, heartbeat: 0.5, central });
      await multcall.enqueue(calls('kill-b', CAP));
      await sleep(LEASE * 1000 + 500); // the peer has listened to the central for a lease
      expect(pbx.stats().originates).toBe(CAP);
      victim.kill('SIGKILL');
      const killedAt = Date.now();
      await until(async () => !(await store.holders()).has('k1/victim'), 4 * LEASE * 1000, 'the victim\'s slots to be reclaimed');
      const reclaimedAfter = Date.now() - killedAt;
      await multcall.waitForResults(2 * CAP, 60_000);
      console.log(JSON.stringify({ test: 'sigkill', lease: LEASE, reclaimedAfterMs: reclaimedAfter, peak: pbx.stats().peakChannels, cap: CAP, inFlightAtPeer: peer.worker.inFlight }));
      expect(reclaimedAfter).toBeLessThanOrEqual(2 * LEASE * 1000 + 1500);
      expect(pbx.stats().peakChannels).toBeLessThanOrEqual(CAP);
      expectOneOutcomeEach([multcall], [pbx], 2 * CAP);
      for (const r of multcall.results.values()) expect(r.status, r.id).toBe('answered');
    } finally {
      victim.kill('SIGKILL');
    }
    await Promise.all(running.splice(0).map((w) => w.stop()));
  }, 120_000);
});

describe('a central that stops answering', () => {
  it('gets no new Originate within seconds, loses and repeats nothing, and is used again after', async () => {
    const [CALLS, STALL_MS] = [300, 8000];
    const [a, b] = [await sim(20_000), await sim(20_000)];
    // Two workers on each central, with threads to spare (so only the health check can stop them); the first one's /readyz is watched.
    const [watched] = await Promise.all(
      (['stall-a-1', 'stall-a-2', 'stall-b-1', 'stall-b-2'] as const).map((id, i) =>
        worker(i < 2 ? a : b, id, { celula: 's1', threads: 60, http_port: i === 0 ? 0 : -1, central: { name: id.slice(0, 7), maxChannels: 100, maxOriginatesPerSecond: 200 } }),
      ),
    );
    if (!watched) throw new Error('no worker started');
    const multcall = side('s1');
    const readyz = async () => (await fetch(`http://127.0.0.1:${watched.httpPort}/readyz`)).status;
    expect(await readyz()).toBe(200);

    const feeding = multcall.enqueueAtRate((i) => ({ v: 1, id: `stall-${i}`, number: `5511${String(900_000_000 + i)}` }), CALLS, 20);
    await sleep(4000);
    const stalledAt = Date.now();
    a.faults.stall(STALL_MS);
    const stopped: { afterMs?: number } = {};
    const watching = setInterval(() => {
      if (stopped.afterMs === undefined && !watched.worker.ready.central) stopped.afterMs = Date.now() - stalledAt;
    }, 20);
    await sleep(3000);
    const notReady = await readyz();
    await sleep(STALL_MS - 3000);
    clearInterval(watching);
    const resumedAt = Date.now();
    await feeding;
    await multcall.waitForResults(CALLS, 90_000);

    const arrivals = a.originateLog().map((o) => o.at);
    const during = arrivals.filter((t) => t >= stalledAt && t < resumedAt);
    const lastDuring = during.length > 0 ? Math.max(...during) - stalledAt : null;
    const after = arrivals.filter((t) => t >= resumedAt);
    const firstAfter = after.length > 0 ? Math.min(...after) - resumedAt : null;
    const byCentral: Record<string, number> = {};
    const details: Record<string, number> = {};
    for (const r of multcall.results.values()) {
      const central = r.central ?? 'none';
      byCentral[central] = (byCentral[central] ?? 0) + 1;
      const key = `${r.status}:${r.detail ?? ''}`;
      details[key] = (details[key] ?? 0) + 1;
    }
    console.log(JSON.stringify({ test: 'stall', stallMs: STALL_MS, originatesAtStalledCentralDuringStall: during.length, stopDetectedAfterMs: stopped.afterMs, lastOriginateAfterStallStartMs: lastDuring, firstOriginateAfterResumeMs: firstAfter, readyzDuringStall: notReady, byCentral, details }));

    expect(notReady).toBe(503);
    expect(stopped.afterMs).toBeDefined();
    expect(stopped.afterMs).toBeLessThanOrEqual(2500);
    expect(lastDuring === null || lastDuring < 3000).toBe(true); // the bar is 5 s; ping 1 s, down after 2 s
    expect(after.length).toBeGreaterThan(0);
    expect(firstAfter).not.toBeNull();
    expect(firstAfter as number).toBeLessThan(3000);
    expect(await readyz()).toBe(200);
    expectOneOutcomeEach([multcall], [a, b], CALLS);
    // Requests whose Originate reached the stalled central were placed when it woke: followed, not re-sent.
    for (const r of multcall.results.values()) expect(r.status, r.id).toBe('answered');
    await Promise.all(running.splice(0).map((w) => w.stop()));
  }, 150_000);
});
