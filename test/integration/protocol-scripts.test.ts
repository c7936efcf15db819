import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { startRedis, type RedisServer } from '../support/redis.js';
import { CelulaStore, ReplyInbox } from '../../src/protocol/store.js';
import { deadLetter, type CallResult } from '../../src/protocol/messages.js';

let server: RedisServer;
let redis: Redis;
let store: CelulaStore;
const now = 1_800_000_000_000;

const request = (id: string, extra: Record<string, unknown> = {}) => JSON.stringify({ v: 1, id, number: '5511999990000', ...extra });

function result(id: string, worker: string, status: CallResult['status'] = 'answered'): CallResult {
  return { v: 1, id, celula: 'vendas', status, reason: 4, cause: 16, causeTxt: 'Normal Clearing', central: 'c1', worker, attempts: 1, codLigacao: '42', ack: 'replied', claimedAt: now, originatedAt: now, answeredAt: now, endedAt: now + 1000, billsec: 1 };
}

beforeAll(async () => {
  server = await startRedis();
  redis = server.client();
});
afterAll(async () => {
  await server.stop();
});
beforeEach(async () => {
  await redis.flushall();
  store = new CelulaStore(redis, { celula: 'vendas', maxMessageBytes: 1024 });
});

describe('claim', () => {
  it('claims in FIFO order, up to the limit, and records who holds each request', async () => {
    await redis.lpush(store.keys.dial, request('a'), request('b'), request('c'));
    const claimed = await store.claim('w1', 'c1', 2, now);
    expect(claimed.map((c) => c.id)).toEqual(['a', 'b']);
    expect(await redis.llen(store.keys.dial)).toBe(1);
    expect(await redis.smembers(store.keys.workerCalls('w1'))).toEqual(expect.arrayContaining(['a', 'b']));
    const held = await store.heldBy('w1');
    expect(held.get('a')).toMatchObject({ s: 'claimed', w: 'w1', c: 'c1', a: 0 });
  });

  it('takes a request parked in the landing list before the queue', async () => {
    await redis.lpush(store.keys.dial, request('queued'));
    await redis.lpush(store.keys.landing('w1'), request('landed'));
    const claimed = await store.claim('w1', 'c1', 1, now);
    expect(claimed.map((c) => c.id)).toEqual(['landed']);
  });

  it('dead-letters what cannot be keyed, with the reason, and keeps going', async () => {
    await redis.lpush(
      store.keys.dial,
      'not json',
      '[1,2]',
      JSON.stringify({ v: 2, id: 'x' }),
      JSON.stringify({ v: 1, id: 'bad id\r\n' }),
      JSON.stringify({ v: 1, id: 7 }),
      'x'.repeat(2000),
      request('good'),
    );
    const claimed = await store.claim('w1', 'c1', 10, now);
    expect(claimed.map((c) => c.id)).toEqual(['good']);
    const letters = (await redis.lrange(store.keys.dead, 0, -1)).map((l) => deadLetter.parse(JSON.parse(l)));
    expect(letters.map((l) => l.code).sort()).toEqual(['invalid-id', 'invalid-id', 'invalid-json', 'invalid-json', 'oversize', 'unsupported-version']);
    expect(letters.every((l) => l.reason.length > 0 && l.raw.length > 0 && l.celula === 'vendas')).toBe(true);
    expect(await redis.hget(store.keys.stats, 'dead')).toBe('6');
  });

  it('refuses a second request with an id already accepted, and the first stays untouched', async () => {
    await redis.lpush(store.keys.dial, request('dup'), request('dup', { number: '5511888880000' }));
    const claimed = await store.claim('w1', 'c1', 10, now);
    expect(claimed).toHaveLength(1);
    const [letter] = await redis.lrange(store.keys.dead, 0, -1);
    expect(JSON.parse(letter as string)).toMatchObject({ code: 'duplicate', id: 'dup' });
    expect((await store.heldBy('w1')).get('dup')?.r).toContain('5511999990000');
  });
});

describe('transitions', () => {
  beforeEach(async () => {
    await redis.lpush(store.keys.dial, request('a'));
    await store.claim('w1', 'c1', 1, now);
  });

  it('moves claimed → originating only for the holder, and a re-sent transition answers the same', async () => {
    expect(await store.transition('a', 'w2', ['claimed'], 'originating', now)).toBe(false);
    expect(await store.transition('a', 'w1', ['claimed'], 'originating', now, { a: 1 }, 'tok1')).toBe(true);
    expect(await store.transition('a', 'w1', ['claimed'], 'originating', now, { a: 1 }, 'tok1')).toBe(true);
    expect(await store.transition('a', 'w1', ['claimed'], 'originating', now, { a: 2 }, 'tok2')).toBe(false);
    expect((await store.heldBy('w1')).get('a')).toMatchObject({ s: 'originating', a: 1 });
  });

  it('pushes the ACK exactly once, even when the command is re-sent', async () => {
    await store.transition('a', 'w1', ['claimed'], 'originating', now);
    const ack = { v: 1 as const, id: 'a', celula: 'vendas', worker: 'w1', central: 'c1', attempt: 1, replyTo: store.keys.inbox('w1'), at: now };
    expect(await store.originated('a', 'w1', ack, now)).toBe(true);
    expect(await store.originated('a', 'w1', ack, now)).toBe(true);
    expect(await redis.llen(store.keys.acks)).toBe(1);
  });

  it('publishes one result and forgets the call; a second completion publishes nothing', async () => {
    expect(await store.complete(result('a', 'w2'))).toBe(false);
    expect(await store.complete(result('a', 'w1'))).toBe(true);
    expect(await store.complete(result('a', 'w1'))).toBe(false);
    expect(await redis.llen(store.keys.results)).toBe(1);
    expect(await redis.hget(store.keys.stats, 'status:answered')).toBe('1');
    expect(await redis.hlen(store.keys.calls)).toBe(0);
    expect(await redis.scard(store.keys.workerCalls('w1'))).toBe(0);
  });

  it('steps asked for in the same turn run together, each call checked and answered as if alone', async () => {
    await redis.lpush(store.keys.dial, ...['b', 'c', 'd', 'e'].map((id) => request(id)));
    await store.claim('w1', 'c1', 4, now);
    // Script calls so far (EVAL the first time on a connection, EVALSHA after).
    const commands = async () => [...(await redis.info('commandstats')).matchAll(/^cmdstat_eval(?:sha)?:calls=(\d+)/gm)].reduce((n, m) => n + Number(m[1]), 0);
    const before = await commands();
    // One turn: the holder's transitions, a stranger's, one from the wrong state, one for an unknown id.
    const moved = await Promise.all([
      store.transition('a', 'w1', ['claimed'], 'originating', now, { a: 1 }, 'tok-a'),
      store.transition('b', 'w2', ['claimed'], 'originating', now),
      store.transition('c', 'w1', ['originated'], 'originated', now),
      store.transition('nope', 'w1', ['claimed'], 'originating', now),
      store.transition('d', 'w1', ['claimed'], 'originating', now, { a: 1 }, 'tok-d'),
      store.transition('d', 'w1', ['claimed'], 'originating', now, { a: 1 }, 'tok-d'), // re-sent: answers the same
    ]);
    expect(moved).toEqual([true, false, false, false, true, true]);
    expect(await commands()).toBe(before + 1);
    const held = await store.heldBy('w1');
    expect([...held].map(([id, r]) => [id, r.s]).sort()).toEqual([['a', 'originating'], ['b', 'claimed'], ['c', 'claimed'], ['d', 'originating'], ['e', 'claimed']]);

    const ack = (id: string) => ({ v: 1 as const, id, celula: 'vendas', worker: 'w1', central: 'c1', attempt: 1, replyTo: store.keys.inbox('w1'), at: now });
    expect(await Promise.all([store.originated('a', 'w1', ack('a'), now), store.originated('b', 'w1', ack('b'), now), store.originated('d', 'w1', ack('d'), now)])).toEqual([true, false, true]);
    expect((await redis.lrange(store.keys.acks, 0, -1)).map((raw) => (JSON.parse(raw) as { id: string }).id).sort()).toEqual(['a', 'd']);
    expect(await Promise.all([store.complete(result('a', 'w1')), store.complete(result('a', 'w1')), store.complete(result('e', 'w2')), store.complete(result('d', 'w1', 'busy'))])).toEqual([true, false, false, true]);
    expect(await redis.llen(store.keys.results)).toBe(2);
    expect(await redis.hmget(store.keys.stats, 'status:answered', 'status:busy')).toEqual(['1', '1']);
  });

  it('reject dead-letters a claimed request and frees its id for a corrected resend', async () => {
    expect(await store.reject('a', 'w1', { v: 1, code: 'invalid-request', reason: 'number: bad', id: 'a', celula: 'vendas', worker: 'w1', at: now, raw: '{}' })).toBe(true);
    await redis.lpush(store.keys.dial, request('a'));
    expect((await store.claim('w1', 'c1', 1, now)).map((c) => c.id)).toEqual(['a']);
  });

  it('release gives back only undialled requests, to the head of the queue', async () => {
    await redis.lpush(store.keys.dial, request('b'), request('c'));
    await store.claim('w1', 'c1', 1, now); // b
    await store.transition('a', 'w1', ['claimed'], 'originating', now);
    await redis.lpush(store.keys.landing('w1'), request('parked'));
    const { landed, released, gone } = await store.release('w1', ['a', 'b']);
    expect(landed).toBe(1);
    expect(released).toEqual(['b']);
    expect(gone).toEqual([]);
    // The same release again (a reply lost, the command re-sent): b is no longer ours, and says so.
    expect(await store.release('w1', ['a', 'b'])).toEqual({ landed: 0, released: [], gone: ['b'] });
    const next = await store.claim('w2', 'c1', 3, now);
    expect(next.map((c) => c.id)).toEqual(['b', 'parked', 'c']);
  });
});

describe('ACK replies', () => {
  it('a take moves every waiting reply to the taken list, oldest first; handled ones are removed; deregistering leaves nothing', async () => {
    const connection = server.client();
    const inbox = new ReplyInbox(connection, store.keys, 'w1');
    const reply = (id: string) => JSON.stringify({ v: 1, id, codLigacao: id });
    await redis.lpush(store.keys.inbox('w1'), reply('a'), reply('b'), reply('c'));
    const text = (raws: Buffer[]) => raws.map((r) => r.toString());
    expect(text(await inbox.take(1))).toEqual([reply('a'), reply('b'), reply('c')]);
    expect(await redis.llen(store.keys.inbox('w1'))).toBe(0);
    // Until removed, a reconnecting worker finds them again.
    expect(text(await store.takenReplies('w1'))).toEqual([reply('a'), reply('b'), reply('c')]);
    await store.repliesHandled('w1', [Buffer.from(reply('a')), Buffer.from(reply('b'))]);
    expect(text(await store.takenReplies('w1'))).toEqual([reply('c')]);
    await redis.lpush(store.keys.inbox('w1'), reply('d'));
    await store.deregister('w1');
    expect(await redis.exists(store.keys.inbox('w1'), store.keys.inboxTaken('w1'))).toBe(0);
    connection.disconnect();
  });
});

describe('a reply taken by a worker that does not hold its call', () => {
  it('goes to the worker the record names, once, byte for byte; or nowhere when nobody holds the call', async () => {
    await redis.lpush(store.keys.dial, request('moved'));
    await store.claim('holder', 'c1', 1, now);
    const reply = Buffer.from([0x7b, 0x22, 0xff, 0x7d]); // not valid UTF-8: moved as bytes
    await redis.lpush(store.keys.inboxTaken('taker'), reply);
    expect(await store.rerouteReply('taker', 'moved', reply)).toBe(true);
    expect(await redis.lrangeBuffer(store.keys.inbox('holder'), 0, -1)).toEqual([reply]);
    expect(await redis.llen(store.keys.inboxTaken('taker'))).toBe(0);
    // The step re-sent after a lost answer: no second copy.
    expect(await store.rerouteReply('taker', 'moved', reply)).toBe(false);
    expect(await redis.llen(store.keys.inbox('holder'))).toBe(1);
    // A call nobody holds (reported already): the reply just leaves the taken list.
    await redis.lpush(store.keys.inboxTaken('taker'), 'late');
    expect(await store.rerouteReply('taker', 'gone', Buffer.from('late'))).toBe(false);
    expect(await redis.llen(store.keys.inboxTaken('taker'))).toBe(0);
  });
});

describe('recover', () => {
  it('re-queues what a dead worker never dialled and hands over what it may have dialled', async () => {
    await store.register('dead', { central: 'c1', host: 'h', threads: 3, startedAt: now }, 1000, now);
    await redis.lpush(store.keys.dial, request('undialled'), request('dialled'), request('answered'));
    await store.claim('dead', 'c1', 3, now);
    await store.transition('dialled', 'dead', ['claimed'], 'originating', now, { a: 1, ch: 'mc-dialled-1' });
    await store.transition('answered', 'dead', ['claimed'], 'originating', now);
    await store.transition('answered', 'dead', ['originating'], 'originated', now);
    await redis.lpush(store.keys.landing('dead'), request('parked'));

    expect(await store.recover('dead', 'me', 'c1', now + 500, 3000)).toBeNull(); // still alive
    const recovered = await store.recover('dead', 'me', 'c1', now + 2000, 3000);
    expect(recovered?.requeued).toBe(2);
    expect(recovered?.adopted.map((a) => a.id).sort()).toEqual(['answered', 'dialled']);
    // `u` stays when the dead worker marked it originating: a peer's proof that it was never dialled rests on it.
    expect(recovered?.adopted.find((a) => a.id === 'dialled')?.record).toMatchObject({ s: 'originating', w: 'me', from: 'dead', ch: 'mc-dialled-1', u: now });
    expect((await redis.lrange(store.keys.dial, 0, -1)).map((r) => JSON.parse(r).id).sort()).toEqual(['parked', 'undialled']);
    expect(await redis.zscore(store.keys.workers, 'dead')).toBeNull();
    // The dead worker, if it comes back, can no longer publish for calls it lost.
    expect(await store.complete(result('dialled', 'dead'))).toBe(false);
    expect(await store.complete(result('dialled', 'me'))).toBe(true);
  });

  it('an adopted call keeps whose inbox its ACK reply goes to, and the adopter moves the replies there byte for byte', async () => {
    await store.register('first', { central: 'c1', host: 'h', threads: 1, startedAt: now }, 1000, now);
    await redis.lpush(store.keys.dial, request('acked'));
    await store.claim('first', 'c1', 1, now);
    await store.transition('acked', 'first', ['claimed'], 'originating', now);
    await store.transition('acked', 'first', ['originating'], 'originated', now);
    // Taken over twice: the reply still goes to the worker that sent the ACK.
    expect((await store.recover('first', 'second', 'c1', now + 2000, 3000))?.adopted[0]?.record).toMatchObject({ w: 'second', from: 'first', rt: 'first' });
    await store.register('second', { central: 'c1', host: 'h', threads: 1, startedAt: now }, 1000, now + 2000);
    expect((await store.recover('second', 'third', 'c1', now + 4000, 3000))?.adopted[0]?.record).toMatchObject({ w: 'third', from: 'second', rt: 'first' });

    const notUtf8 = Buffer.from([0x7b, 0xff, 0xfe, 0x7d]);
    await redis.lpush(store.keys.inboxTaken('first'), 'taken-before');
    await redis.lpush(store.keys.inbox('first'), 'waiting', notUtf8);
    // Only to a registered adopter: one taken over in turn leaves them to the next holder.
    expect(await store.forwardReplies('first', 'third')).toBeNull();
    await store.register('third', { central: 'c1', host: 'h', threads: 1, startedAt: now }, 1000, now + 4000);
    expect(await store.forwardReplies('first', 'third')).toBe(3);
    const moved = (await redis.lrangeBuffer(store.keys.inbox('third'), 0, -1)).reverse(); // oldest first, as taken
    expect(moved).toEqual([Buffer.from('taken-before'), Buffer.from('waiting'), notUtf8]);
    expect(await redis.exists(store.keys.inbox('first'), store.keys.inboxTaken('first'))).toBe(0);
    expect(await store.forwardReplies('first', 'third')).toBe(0);
    // Registered again, its inbox is its own: nothing moves.
    await store.register('first', { central: 'c1', host: 'h', threads: 1, startedAt: now }, 1000, now + 5000);
    await redis.lpush(store.keys.inbox('first'), 'its-own');
    expect(await store.forwardReplies('first', 'third')).toBeNull();
    expect(await redis.lrange(store.keys.inbox('first'), 0, -1)).toEqual(['its-own']);
  });

  it('a heartbeat after a take-over adds nothing and says so, however often it is sent', async () => {
    await store.register('stalled', { central: 'c1', host: 'h', threads: 1, startedAt: now }, 1000, now);
    expect(await store.heartbeat('stalled', 1000, now + 500)).toBe(true);
    expect(await redis.zscore(store.keys.workers, 'stalled')).toBe(String(now + 1500));
    expect(await store.recover('stalled', 'me', 'c1', now + 2000, 3000)).not.toBeNull();
    // Its reply lost, the same heartbeat is sent again: the take-over must not be hidden.
    expect(await store.heartbeat('stalled', 1000, now + 2100)).toBe(false);
    expect(await store.heartbeat('stalled', 1000, now + 2100)).toBe(false);
    expect(await redis.zscore(store.keys.workers, 'stalled')).toBeNull();
  });

  it('leaves a dead worker of another central to that central\'s peers for the grace period', async () => {
    await store.register('dead', { central: 'c2', host: 'h', threads: 1, startedAt: now }, 1000, now);
    expect(await store.recover('dead', 'me', 'c1', now + 2000, 3000)).toBeNull();
    expect(await store.recover('dead', 'me', 'c1', now + 5000, 3000)).not.toBeNull();
  });

  it('a request parked by a worker taken over while alive goes back to the queue a lease later, unless it registered again', async () => {
    await store.register('lapsed', { central: 'c1', host: 'h', threads: 1, startedAt: now }, 1000, now);
    expect(await store.recover('lapsed', 'peer', 'c1', now + 2000, 3000)).not.toBeNull();
    // Still alive, it parks a request before it notices, then dies without registering again.
    await redis.lpush(store.keys.landing('lapsed'), request('parked-late'));
    expect(await store.departedWorkers(now + 2500, 1000)).toEqual([]);
    expect(await store.reclaimLanding('lapsed', now + 2500, 1000)).toBe(0); // a lease to come back
    expect(await store.departedWorkers(now + 3000, 1000)).toEqual(['lapsed']);
    expect(await store.reclaimLanding('lapsed', now + 3000, 1000)).toBe(1);
    expect((await redis.lrange(store.keys.dial, 0, -1)).map((r) => JSON.parse(r).id)).toEqual(['parked-late']);
    expect(await store.departedWorkers(now + 9000, 1000)).toEqual([]);

    // One that registers again keeps its landing list: it claims from it itself.
    await store.register('back', { central: 'c1', host: 'h', threads: 1, startedAt: now }, 1000, now);
    await store.recover('back', 'peer', 'c1', now + 2000, 3000);
    await store.register('back', { central: 'c1', host: 'h', threads: 1, startedAt: now }, 10_000, now + 2100);
    await redis.lpush(store.keys.landing('back'), request('its-own'));
    expect(await store.reclaimLanding('back', now + 5000, 1000)).toBe(0);
    expect(await redis.llen(store.keys.landing('back'))).toBe(1);
    expect(await store.departedWorkers(now + 5000, 1000)).toEqual([]);
  });

  it('a hand-off on SIGTERM goes to a peer of the same central first', async () => {
    await store.register('leaving', { central: 'c2', host: 'h', threads: 1, startedAt: now }, 60_000, now);
    await store.handOff('leaving', now + 1000);
    // Another central's worker may not take it yet; one of the same central may at once.
    expect(await store.recover('leaving', 'elsewhere', 'c1', now + 1000, 3000)).toBeNull();
    expect(await store.recover('leaving', 'peer', 'c2', now + 1000, 3000)).not.toBeNull();
  });
});
