/**
 * Multcall replies to the inbox the ACK named: the inbox of the worker that sent it. When that
 * worker dies and a peer adopts its calls, the replies it never read, and those Multcall sends
 * after the take-over, must still reach the results: the CodLigacao is how Multcall files them.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { startStack, spawnWorker, until, CELULA, type Stack } from '../support/stack.js';
import { CelulaStore } from '../../src/protocol/store.js';

let stack: Stack | undefined;

afterAll(async () => {
  await stack?.stop();
});

/**
 * A fresh stack whose calls answer after 100 ms and talk `talkMs` (by request id), whose
 * Multcall side answers no ACK (each test sends the replies it wants), and a client on its Redis.
 */
async function fresh(talkMs: (id: string | undefined) => number): Promise<{ s: Stack; redis: ReturnType<Stack['redis']['client']>; store: CelulaStore }> {
  await stack?.stop();
  stack = await startStack({ pbx: { timeScale: 1, outcome: ({ requestId }) => ({ kind: 'answer', ringMs: 100, talkMs: talkMs(requestId) }) }, multcall: { ackDropRate: 1 } });
  const redis = stack.redis.client();
  return { s: stack, redis, store: new CelulaStore(redis, { celula: CELULA }) };
}

describe('ACK replies across a take-over', () => {
  it('the adopter applies the replies waiting for the dead worker and those sent to it later; a reply never sent still times out', async () => {
    // Calls talk 6 s, the short one 300 ms (it ends before the peer starts, unheard by it).
    // Multcall's side here answers no ACK: the test sends each reply when it wants it.
    const { s, redis, store } = await fresh((id) => (id === 'ho-short' ? 300 : 6000));
    const options = { threads: 5, Timeout_Command_ACK: 9, lease: 2, heartbeat: 0.5 };
    const dead = spawnWorker(s.redis.port, s.pbx, 'w-dead', options);
    const ids = ['ho-waiting', 'ho-later', 'ho-never', 'ho-short'];
    await s.multcall.enqueue(ids.map((id, i) => JSON.stringify({ v: 1, id, number: `551190000${i + 1}` })));
    await until(async () => {
      const held = await store.heldBy('w-dead');
      return ids.every((id) => held.get(id)?.s === 'originated');
    }, 30_000, 'the four ACKs');
    // Not one of them was replied to before the worker died.
    dead.kill('SIGKILL');
    const reply = (id: string, codLigacao: string | number) => redis.lpush(store.keys.inbox('w-dead'), JSON.stringify({ v: 1, id, codLigacao }));
    await reply('ho-waiting', '7001');
    await new Promise((r) => setTimeout(r, 500)); // the short call ends meanwhile
    await s.startWorker(options, 'w-peer');
    await until(async () => (await redis.zscore(store.keys.departed, 'w-dead')) !== null, 15_000, 'the take-over');
    await reply('ho-later', 7002);
    await reply('ho-short', '7004');
    await s.multcall.waitForResults(ids.length, 30_000);

    const results = s.multcall.results;
    expect(results.get('ho-waiting')).toMatchObject({ status: 'answered', worker: 'w-peer', ack: 'replied', codLigacao: '7001' });
    expect(results.get('ho-later')).toMatchObject({ status: 'answered', worker: 'w-peer', ack: 'replied', codLigacao: '7002' });
    // Ended while nobody listened (no channel left, nothing heard): unknown, but reported
    // once its reply was in, so Multcall can file it.
    expect(results.get('ho-short')).toMatchObject({ status: 'unknown', detail: 'recovered-not-found', worker: 'w-peer', ack: 'replied', codLigacao: '7004' });
    expect(results.get('ho-never')).toMatchObject({ status: 'answered', worker: 'w-peer', ack: 'timeout', codLigacao: null });
    expect(ids.map((id) => s.pbx.stats().originatesByRequest.get(id))).toEqual([1, 1, 1, 1]);
    expect(s.multcall.tally.duplicateResults).toEqual([]);
    expect(await redis.exists(store.keys.inbox('w-dead'), store.keys.inboxTaken('w-dead'))).toBe(0);
  }, 90_000);

  it('a reply that reaches a worker not holding the call is passed to the one that does', async () => {
    // The ACK named one inbox; the call is held by another worker now (it changed hands).
    const { s, redis, store } = await fresh(() => 1500);
    await s.startWorker({ threads: 2, Timeout_Command_ACK: 5 }, 'w-holder');
    await s.multcall.enqueue([JSON.stringify({ v: 1, id: 'ho-elsewhere', number: '5511900000010' })]);
    await until(async () => (await store.heldBy('w-holder')).get('ho-elsewhere')?.s === 'originated', 15_000, 'the ACK');
    await s.startWorker({ threads: 2, Timeout_Command_ACK: 5 }, 'w-other');
    await redis.lpush(store.keys.inbox('w-other'), JSON.stringify({ v: 1, id: 'ho-elsewhere', codLigacao: '7010' }));
    await s.multcall.waitForResults(1, 15_000);
    expect(s.multcall.results.get('ho-elsewhere')).toMatchObject({ status: 'answered', worker: 'w-holder', ack: 'replied', codLigacao: '7010' });
    expect(await redis.exists(store.keys.inbox('w-other'), store.keys.inboxTaken('w-other'))).toBe(0);
  }, 60_000);

  it('a reply sent in time but unread when the worker died still counts, however late the take-over', async () => {
    // The ACK deadline (1 s) passes long before the take-over (a 2 s lease).
    const { s, redis, store } = await fresh(() => 5000);
    const options = { threads: 2, Timeout_Command_ACK: 1, lease: 2, heartbeat: 0.5, ack_timeout_policy: 'hangup' as const };
    const dead = spawnWorker(s.redis.port, s.pbx, 'w-dead', options);
    await s.multcall.enqueue([JSON.stringify({ v: 1, id: 'ho-unread', number: '5511900009' })]);
    await until(async () => (await store.heldBy('w-dead')).get('ho-unread')?.s === 'originated', 30_000, 'the ACK');
    // SIGSTOP: the reply lands while the worker is frozen (as in a stall), and it dies unread.
    dead.kill('SIGSTOP');
    await redis.lpush(store.keys.inbox('w-dead'), JSON.stringify({ v: 1, id: 'ho-unread', codLigacao: '7009' }));
    dead.kill('SIGKILL');
    await s.startWorker(options, 'w-peer');
    await s.multcall.waitForResults(1, 30_000);
    // Not cut either: `hangup` is for a call Multcall never heard of, not an adopted one.
    expect(s.multcall.results.get('ho-unread')).toMatchObject({ status: 'answered', worker: 'w-peer', ack: 'replied', codLigacao: '7009', billsec: 5 });
  }, 60_000);
});
