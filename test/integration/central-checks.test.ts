/**
 * What a worker concludes when it asks the central about calls whose events it may have
 * missed: a central that cannot answer ends no call; an adopted call is proven undialled
 * only by a worker that listened to the very central it was for; and a draining worker
 * gives back at once a request the central refused, instead of holding it to the end.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startStack, until, CELULA, type Stack } from '../support/stack.js';
import { CelulaStore } from '../../src/protocol/store.js';
import { channelIdsFor } from '../../src/worker/overheard.js';

const TALK_MS = 6000;
let stack: Stack | undefined;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));


afterEach(async () => {
  await stack?.stop();
  stack = undefined;
});

describe('checking calls with the central', () => {
  it('a central that cannot list its channels ends no call: the call is followed to its real Hangup', async () => {
    stack = await startStack({ pbx: { timeScale: 1, outcome: () => ({ kind: 'answer', ringMs: 100, talkMs: TALK_MS }) } });
    const s = stack;
    await s.startWorker({ threads: 2 });
    await s.multcall.enqueue([{ v: 1 as const, id: 'long-call', number: '5511900000001' }]);
    await until(() => s.pbx.stats().liveChannels > 0, 5000, 'the call up');
    await sleep(500); // answered
    // The AMI link drops: on its return the worker checks its calls with the central, which
    // cannot list its channels now.
    s.pbx.faults.failListings(true);
    s.pbx.faults.dropConnections();
    await sleep(3500);
    expect(s.multcall.results.size).toBe(0);
    s.pbx.faults.failListings(false);

    await s.multcall.waitForResults(1, 15_000);
    const result = s.multcall.results.get('long-call');
    expect(result).toMatchObject({ status: 'answered' });
    expect(result?.detail).toBeUndefined();
    expect((result?.endedAt ?? 0) - (result?.answeredAt ?? 0)).toBeGreaterThanOrEqual(TALK_MS - 200);
  }, 40_000);

  it('a call whose OriginateResponse was lost with the AMI link, found up on return, ends on its Hangup with what was heard', async () => {
    stack = await startStack({ pbx: { timeScale: 1, outcome: () => ({ kind: 'answer', ringMs: 300, talkMs: TALK_MS }) } });
    const s = stack;
    await s.startWorker({ threads: 2 });
    // The link drops as the central sends the answer (OriginateResponse, Reason 4).
    s.pbx.faults.dropOn('OriginateResponse');
    await s.multcall.enqueue([{ v: 1 as const, id: 'answer-unheard', number: '5511900000005' }]);
    // Followed from the central's listing once AMI is back; its Hangup ends it, not the next
    // periodic check (15 s), which would no longer find it and report `unknown`.
    await s.multcall.waitForResults(1, TALK_MS + 6000);
    const result = s.multcall.results.get('answer-unheard');
    expect(result).toMatchObject({ status: 'answered', cause: 16, ack: 'replied' });
    expect(result?.detail).toBeUndefined();
    expect(result?.billsec).toBeGreaterThanOrEqual(Math.floor(TALK_MS / 1000) - 1);
    expect(s.pbx.stats().originates).toBe(1);
  }, 40_000);

  /** A dead peer's call, left `originating` on `central` 3 s ago, while the worker under test was listening. */
  async function deadPeerLeftOriginating(central: string): Promise<string> {
    const s = stack as Stack;
    await s.startWorker({ threads: 2, lease: 1.5, heartbeat: 0.25 }, 'listener');
    await sleep(5000); // listening for well over a lease
    const redis = s.redis.client();
    const store = new CelulaStore(redis, { celula: CELULA });
    const at = Date.now() - 3000;
    const id = `left-on-${central}`;
    await redis.lpush(store.keys.landing('gone'), JSON.stringify({ v: 1, id, number: '5511900000002' }));
    expect(await store.claim('gone', central, 1, at)).toHaveLength(1);
    expect(await store.transition(id, 'gone', ['claimed'], 'originating', at, { a: 1, ch: channelIdsFor(id, 1)[0] })).toBe(true);
    // Its lease ended long ago: any worker may recover it, whatever its central.
    await store.register('gone', { central, host: 'gone', threads: 1, startedAt: at - 60_000 }, 1000, at - 60_000);
    await s.multcall.waitForResults(1, 10_000);
    return id;
  }

  it('an adopted call the dead peer left `originating` on this central, which said nothing of it, is reported not dialled', async () => {
    stack = await startStack({ pbx: { timeScale: 1 } });
    const id = await deadPeerLeftOriginating('central-a');
    expect(stack.multcall.results.get(id)).toMatchObject({ status: 'cancelled', detail: 'not-dialled', worker: 'listener', central: 'central-a' });
    expect(stack.pbx.stats().originates).toBe(0);
  }, 40_000);

  it('an adopted call of another central is reported unknown, never not dialled: this central could not have heard of it', async () => {
    stack = await startStack({ pbx: { timeScale: 1 } });
    const id = await deadPeerLeftOriginating('central-x');
    expect(stack.multcall.results.get(id)).toMatchObject({ status: 'unknown', detail: 'recovered-not-found', worker: 'listener', central: 'central-x' });
  }, 40_000);
});

describe('recovering', () => {
  it('a request parked by a worker taken over while alive, which then died, is dialled once', async () => {
    stack = await startStack({ pbx: { timeScale: 1, outcome: () => ({ kind: 'answer', ringMs: 100, talkMs: 100 }) } });
    const s = stack;
    await s.startWorker({ threads: 2, lease: 1.5, heartbeat: 0.25 }, 'listener');
    const redis = s.redis.client();
    const store = new CelulaStore(redis, { celula: CELULA });
    // Its lease lapsed (a stall): the listener takes over its calls.
    const at = Date.now();
    await store.register('stalled', { central: 'central-a', host: 'stalled', threads: 1, startedAt: at - 60_000 }, 1000, at - 60_000);
    await until(async () => (await redis.zscore(store.keys.departed, 'stalled')) !== null, 10_000, 'the take-over');
    // Still alive, it parks a request with its blocking move before it notices, then dies.
    await redis.lpush(store.keys.landing('stalled'), JSON.stringify({ v: 1, id: 'parked-late', number: '5511900000004' }));
    await s.multcall.waitForResults(1, 10_000);
    expect(s.multcall.results.get('parked-late')).toMatchObject({ status: 'answered', worker: 'listener' });
    expect(s.pbx.stats().originatesByRequest.get('parked-late')).toBe(1);
    expect(await redis.llen(store.keys.landing('stalled'))).toBe(0);
  }, 40_000);
});

describe('draining', () => {
  it('a request the central refused while the drain began goes back to the queue at once, not after the drain timeout', async () => {
    let refusing = true;
    stack = await startStack({ pbx: { timeScale: 1, extensionExists: () => !refusing, outcome: () => ({ kind: 'answer', ringMs: 100, talkMs: 100 }) } });
    const s = stack;
    const running = await s.startWorker({ threads: 2, Retries: 10, drain_timeout: 30, Timeout_Command_Response: 5, ami_down_after: 10 });
    // The central holds its reply: the request is `originating` when the drain gives back
    // what was not dialled, and `claimed` again only once the refusal comes.
    s.pbx.faults.stall(1500);
    await s.multcall.enqueue([{ v: 1 as const, id: 'refused', number: '5511900000003' }]);
    await until(() => s.pbx.originateLog().length >= 1, 10_000, 'the Originate on the wire');
    const started = performance.now();
    await running.stop();
    expect(performance.now() - started).toBeLessThan(6000);
    expect(await s.multcall.depth()).toMatchObject({ queued: 1, inFlight: 0 });
    expect(s.multcall.results.size).toBe(0);
    refusing = false;
    // The next worker dials it, once.
    await s.startWorker({ threads: 2 });
    await s.multcall.waitForResults(1, 10_000);
    expect(s.multcall.results.get('refused')).toMatchObject({ status: 'answered' });
  }, 60_000);
});
