/**
 * 5,000 calls while worker processes are SIGKILLed, Redis restarts (AOF on) and the
 * central drops AMI connections. Every request must end with exactly one result or one
 * dead letter, and no request id may reach the central twice.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChildProcess } from 'node:child_process';
import { startRedis, type RedisServer } from '../support/redis.js';
import { spawnWorker } from '../support/stack.js';
import { startPbxSimulator, type PbxSimulator } from '../../src/sim/pbx/index.js';
import { MultcallSide } from '../../src/sim/multcall/multcall-side.js';
import { deadLetter } from '../../src/protocol/messages.js';

const CALLS = 5000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let redis: RedisServer;
let pbx: PbxSimulator;
let multcall: MultcallSide;
const workers = new Map<string, ChildProcess>();
let spawned = 0;

function spawnOne(): void {
  const id = `chaos-${++spawned}`;
  workers.set(id, spawnWorker(redis.port, pbx, id, { threads: 60, lease: 2, heartbeat: 0.5, Timeout_Command_Response: 3, Timeout_Command_ACK: 3 }));
}

async function killOne(): Promise<void> {
  const ids = [...workers.keys()];
  const id = ids[Math.floor(Math.random() * ids.length)];
  if (!id) return;
  const child = workers.get(id);
  workers.delete(id);
  child?.kill('SIGKILL');
  spawnOne();
}

beforeAll(async () => {
  redis = await startRedis({ aof: true });
  pbx = await startPbxSimulator({
    profile: '20',
    timeScale: 0.05,
    randomizeOrder: true,
    seed: 11,
    mix: { answer: 60, busy: 12, noanswer: 8, congestion: 6, reject: 6, unallocated: 5, badchannel: 3 },
  });
  multcall = new MultcallSide({ redis: { host: '127.0.0.1', port: redis.port }, celula: 'vendas' });
  multcall.start();
  for (let i = 0; i < 3; i++) spawnOne();
}, 60_000);

afterAll(async () => {
  for (const child of workers.values()) child.kill('SIGKILL');
  await multcall?.stop();
  await pbx?.close();
  await redis?.stop();
});

describe('chaos', () => {
  it('gives every request exactly one outcome and dials nobody twice', async () => {
    const feeding = multcall.enqueueAtRate((i) => ({ v: 1, id: `chaos-${i}`, number: `5511${String(900_000_000 + i)}` }), CALLS, 250);
    const faults = { kills: 0, redisRestarts: 0, amiDrops: 0 };
    const chaos = (async () => {
      const plan: Array<() => Promise<void> | void> = [];
      for (let i = 0; i < 12; i++) plan.push(async () => { await killOne(); faults.kills++; });
      for (let i = 0; i < 4; i++) plan.push(() => { pbx.faults.dropConnections(); faults.amiDrops++; });
      for (let i = 0; i < 2; i++) plan.push(async () => { await redis.restart(i === 0 ? 'shutdown' : 'kill', 300); faults.redisRestarts++; });
      plan.sort(() => Math.random() - 0.5);
      for (const step of plan) {
        await sleep(700 + Math.random() * 500);
        await step();
      }
    })();
    await Promise.all([feeding, chaos]);

    const deadline = Date.now() + 120_000;
    let letters: string[] = [];
    for (;;) {
      letters = await multcall.deadLetters();
      // A duplicate's letter is no outcome (its request has its own): counted, it would end
      // the wait while a request is still in flight.
      const outcomes = multcall.results.size + letters.filter((l) => deadLetter.parse(JSON.parse(l)).code !== 'duplicate').length;
      if (outcomes >= CALLS || Date.now() > deadline) break;
      await sleep(500);
    }

    const dead = letters.map((l) => deadLetter.parse(JSON.parse(l)));
    const outcomes = new Map<string, number>();
    for (const id of multcall.results.keys()) outcomes.set(id, (outcomes.get(id) ?? 0) + 1);
    // A request pushed twice (Multcall's client re-sends an LPUSH whose reply a Redis restart
    // lost) is dialled once; the copy is dead-lettered as a duplicate and is not an outcome.
    const duplicates = dead.filter((l) => l.code === 'duplicate');
    for (const letter of dead) if (letter.id && letter.code !== 'duplicate') outcomes.set(letter.id, (outcomes.get(letter.id) ?? 0) + 1);
    for (const letter of duplicates) expect(multcall.results.has(letter.id ?? ''), `duplicate ${letter.id} has its one result`).toBe(true);
    const missing = Array.from({ length: CALLS }, (_, i) => `chaos-${i}`).filter((id) => !outcomes.has(id));
    const twice = [...outcomes].filter(([, n]) => n > 1).map(([id]) => id);
    const stats = pbx.stats();
    const byStatus = multcall.tally.byStatus;
    const details: Record<string, number> = {};
    for (const r of multcall.results.values()) if (r.status === 'unknown' || r.detail) details[`${r.status}:${r.detail ?? ''}`] = (details[`${r.status}:${r.detail ?? ''}`] ?? 0) + 1;
    const acks: Record<string, number> = {};
    for (const r of multcall.results.values()) acks[r.ack] = (acks[r.ack] ?? 0) + 1;
    console.log(JSON.stringify({ faults, results: multcall.results.size, dead: dead.map((d) => `${d.code}:${d.id}`), byStatus, details, acks, originates: stats.originates }));

    expect(faults.kills).toBeGreaterThanOrEqual(10);
    expect(faults.redisRestarts).toBeGreaterThanOrEqual(2);
    expect(faults.amiDrops).toBeGreaterThanOrEqual(3);
    if (missing.length > 0) {
      const probe = redis.client();
      const keys = multcall.keys;
      // Every list that holds it (a landing list, results not yet taken, Multcall's processing list).
      const lists: string[] = [];
      for (const key of await probe.keys('*')) if ((await probe.type(key)) === 'list') lists.push(key);
      const holding = async (id: string) => {
        const found: string[] = [];
        for (const key of lists) if ((await probe.lrange(key, 0, -1)).some((r) => r.includes(`"${id}"`))) found.push(key);
        return found;
      };
      const where = await Promise.all(missing.slice(0, 5).map(async (id) => ({ id, record: await probe.hget(keys.calls, id), lists: await holding(id), seen: await probe.zscore(keys.seen, id) })));
      console.log(JSON.stringify({ missing: where, workers: await probe.zrange(keys.workers, 0, -1, 'WITHSCORES'), now: Date.now() }));
    }
    expect(missing).toEqual([]);
    expect(twice).toEqual([]);
    expect(multcall.tally.duplicateResults).toEqual([]);
    expect(stats.duplicates).toEqual([]);
    expect([...stats.originatesByRequest.values()].every((n) => n === 1)).toBe(true);
    // Nothing is dialled without a result to show for it, and no result claims a call the central never saw.
    for (const id of stats.originatesByRequest.keys()) expect(multcall.results.has(id), id).toBe(true);
    for (const r of multcall.results.values()) if (r.status !== 'unknown' && r.status !== 'cancelled') expect(stats.originatesByRequest.has(r.id), r.id).toBe(true);
  }, 240_000);
});
