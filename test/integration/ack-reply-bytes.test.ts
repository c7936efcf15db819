/**
 * An ACK reply that is not valid UTF-8 (ioredis would decode it lossily, and a removal by
 * the decoded value would never match) ends as exactly one dead letter, and leaves nothing
 * in the worker's taken list to be handled again after every reconnect; handling it twice
 * writes no second letter.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startStack, until, CELULA, type Stack } from '../support/stack.js';
import { CelulaStore, ReplyInbox } from '../../src/protocol/store.js';
import type { DeadLetter } from '../../src/protocol/messages.js';

let stack: Stack | undefined;
afterEach(async () => {
  await stack?.stop();
  stack = undefined;
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Bytes that are no UTF-8 (nor JSON) between `{"v":1,` and `}`. */
const notUtf8 = Buffer.concat([Buffer.from('{"v":1,'), Buffer.from([0xff, 0xfe, 0xc3, 0x28]), Buffer.from('}')]);

describe('an ACK reply that is not valid UTF-8', () => {
  it('is dead-lettered once and leaves the taken list empty, even across an inbox reconnect', async () => {
    stack = await startStack({ pbx: { timeScale: 1, outcome: () => ({ kind: 'answer', ringMs: 50, talkMs: 50 }) } });
    const s = stack;
    await s.startWorker({}, 'bytes');
    const redis = s.redis.client();
    const store = new CelulaStore(redis, { celula: CELULA });
    await redis.lpush(store.keys.inbox('bytes'), notUtf8);
    await until(async () => (await redis.llen(store.keys.dead)) > 0, 5000, 'the dead letter');
    await until(async () => (await redis.llen(store.keys.inboxTaken('bytes'))) === 0, 3000, 'the taken list emptied');
    // The inbox connection reconnects: the worker reads its taken list again.
    const inboxClient = /^id=(\d+) .*name=bytes:inbox /m.exec(String(await redis.client('LIST')))?.[1];
    expect(inboxClient).toBeDefined();
    await redis.client('KILL', 'ID', inboxClient as string);
    await sleep(1500);
    expect(await redis.llen(store.keys.inboxTaken('bytes'))).toBe(0);
    const letters = (await redis.lrange(store.keys.dead, 0, -1)).map((l) => JSON.parse(l) as DeadLetter);
    expect(letters).toHaveLength(1);
    expect(letters[0]).toMatchObject({ code: 'invalid-ack-reply', worker: 'bytes' });
  }, 30_000);

  it('handled twice (a take and a re-read of the taken list racing), gives one dead letter', async () => {
    stack = await startStack();
    const redis = stack.redis.client();
    const store = new CelulaStore(redis, { celula: CELULA });
    const inbox = new ReplyInbox(stack.redis.client(), store.keys, 'w1');
    await redis.lpush(store.keys.inbox('w1'), notUtf8);
    const [taken] = await inbox.take(1);
    expect(taken).toEqual(notUtf8);
    expect(await store.takenReplies('w1')).toEqual([notUtf8]);
    const letter: DeadLetter = { v: 1, code: 'invalid-ack-reply', reason: 'not valid JSON', id: null, celula: CELULA, worker: 'w1', at: Date.now(), raw: notUtf8.toString() };
    const done = await Promise.all([store.rejectReply('w1', notUtf8, letter), store.rejectReply('w1', notUtf8, letter)]);
    expect(done.filter(Boolean)).toHaveLength(1);
    expect(await redis.llen(store.keys.dead)).toBe(1);
    expect(await redis.llen(store.keys.inboxTaken('w1'))).toBe(0);
  }, 30_000);
});
