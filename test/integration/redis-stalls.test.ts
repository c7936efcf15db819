/**
 * Redis that answers late, or not at all, without closing anything: a partition, a frozen
 * process, a host lost with no FIN or RST. A worker between it and Redis through a TCP proxy
 * that can hold Redis's replies on a connection, or swallow everything both ways.
 *
 * - A reply to `claimed → originating` that comes after a peer took the call over and proved
 *   it undialled must not lead to an Originate: the central would dial a request whose one
 *   result already says it was not.
 * - A blocking wait on a connection that went silent must reconnect, not wait for hours.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { Redis } from 'ioredis';
import { startStack, settingsFor, until, CELULA, type Stack, type WorkerFileOverrides } from '../support/stack.js';
import { startRedis, type RedisServer } from '../support/redis.js';
import { startWorker, type RunningWorker } from '../../src/worker/run.js';
import { silentLogger } from '../../src/lib/log.js';
import { CelulaStore, ReplyInbox, BLOCKING_REPLY_DEADLINE_MS } from '../../src/protocol/store.js';
import { celulaKeys } from '../../src/protocol/keys.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Link {
  client: Socket;
  upstream: Socket;
  /** Redis's replies are kept back until `release()`. */
  holding: boolean;
  held: Buffer[];
  /** Nothing is forwarded either way any more; nothing is closed either. */
  silent: boolean;
  /** The connection's name (CLIENT SETNAME), once seen. */
  name?: string;
  /** Goes silent at Redis's first reply that carries data (not a timeout's nil or an empty array); that reply is lost. */
  silentOnData?: () => void;
  /** Redis's replies arrive this much later (ms), in order. */
  delayMs: number;
}

/** Replies that carry nothing: a blocking command that timed out, a script that moved nothing. */
const EMPTY_REPLIES = /^(?:(?:\$-1|\*-1|\*0|_)\r\n)+$/;
const SETNAME = /setname\r\n\$\d+\r\n([^\r]*)\r\n/i;

/** A TCP proxy to Redis whose connections can be made to answer late, or never. */
class StallingProxy {
  readonly links = new Set<Link>();
  /** Connections accepted so far. */
  accepted = 0;
  /** A new connection's first bytes reach Redis only this much later (ms): a slow reconnect. */
  connectDelayMs = 0;
  private marker: string | undefined;
  private seen = new Map<string, number>();

  private constructor(private readonly server: Server) {}

  static async start(targetPort: number): Promise<StallingProxy> {
    const server = createServer();
    const proxy = new StallingProxy(server);
    server.on('connection', (client) => proxy.accept(client, targetPort));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  get port(): number {
    const address = this.server.address();
    return typeof address === 'object' && address ? address.port : 0;
  }

  /** From the first command that carries `marker` on, that connection's replies are held (the command itself reaches Redis). */
  holdRepliesAfter(marker: string): void {
    this.marker = marker;
    this.seen.set(marker, 0);
  }

  /** How many writes carrying `marker` went through since `holdRepliesAfter(marker)`. */
  count(marker: string): number {
    return this.seen.get(marker) ?? 0;
  }

  /** Redis's held replies go out, late. */
  release(): void {
    for (const link of this.links) {
      link.holding = false;
      for (const chunk of link.held.splice(0)) link.client.write(chunk);
    }
  }

  /**
   * The open connection named `name` goes silent both ways at the first reply from Redis
   * that carries data: Redis has served the command (a take of waiting replies, say), and
   * its answer never arrives. Resolves once that happened.
   */
  blackHoleOnServed(name: string): Promise<void> {
    const link = [...this.links].find((l) => l.name === name);
    if (!link) throw new Error(`no connection named ${name}`);
    return new Promise((resolve) => {
      link.silentOnData = resolve;
    });
  }

  /** Redis's replies on the open connection named `name` arrive `ms` later (a slow Redis, or a slow network). */
  delayReplies(name: string, ms: number): void {
    const link = [...this.links].find((l) => l.name === name);
    if (!link) throw new Error(`no connection named ${name}`);
    link.delayMs = ms;
  }

  /** The open connection named `name` goes silent both ways, as if its Redis host vanished; new ones work. */
  blackHoleNamed(name: string): void {
    const link = [...this.links].find((l) => l.name === name);
    if (!link) throw new Error(`no connection named ${name}`);
    link.silent = true;
  }

  /** Open connections named `name`. */
  named(name: string): number {
    return [...this.links].filter((l) => l.name === name).length;
  }

  /** Every open connection goes silent both ways, as if the Redis host vanished; new ones work. */
  blackHole(): void {
    for (const link of this.links) link.silent = true;
  }

  async close(): Promise<void> {
    for (const link of this.links) {
      link.client.destroy();
      link.upstream.destroy();
    }
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: Socket, targetPort: number): void {
    const upstream = connect(targetPort, '127.0.0.1');
    const link: Link = { client, upstream, holding: false, held: [], silent: false, delayMs: 0 };
    this.links.add(link);
    this.accepted += 1;
    if (this.connectDelayMs > 0) {
      client.pause();
      setTimeout(() => client.resume(), this.connectDelayMs);
    }
    client.on('data', (chunk: Buffer) => {
      if (link.silent) return;
      link.name ??= SETNAME.exec(chunk.toString('latin1'))?.[1];
      for (const [marker, n] of this.seen) if (chunk.includes(marker)) this.seen.set(marker, n + 1);
      if (this.marker !== undefined && chunk.includes(this.marker)) {
        this.marker = undefined;
        link.holding = true;
      }
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      if (link.silent) return;
      if (link.silentOnData && !EMPTY_REPLIES.test(chunk.toString('latin1'))) {
        link.silent = true;
        link.silentOnData();
        return;
      }
      if (link.holding) link.held.push(chunk);
      else if (link.delayMs > 0) setTimeout(() => client.write(chunk), link.delayMs);
      else client.write(chunk);
    });
    const drop = () => {
      this.links.delete(link);
      client.destroy();
      upstream.destroy();
    };
    client.on('close', drop);
    upstream.on('close', drop);
    client.on('error', () => undefined);
    upstream.on('error', () => undefined);
  }
}

let stack: Stack | undefined;
let proxy: StallingProxy | undefined;
let stalled: RunningWorker | undefined;
let server: RedisServer | undefined;
const clients: Redis[] = [];

afterEach(async () => {
  proxy?.release();
  await stalled?.stop().catch(() => undefined);
  for (const c of clients.splice(0)) c.disconnect();
  await proxy?.close();
  await stack?.stop();
  await server?.stop();
  stack = undefined;
  proxy = undefined;
  stalled = undefined;
  server = undefined;
});

/** The worker under test, connected to Redis through the proxy. */
async function startStalledWorker(s: Stack, id: string, o: WorkerFileOverrides = {}): Promise<RunningWorker> {
  proxy = await StallingProxy.start(s.redis.port);
  stalled = await startWorker(settingsFor(proxy.port, s.pbx, { threads: 2, lease: 2, heartbeat: 0.5, Timeout_Command_Response: 1, ...o }, id), silentLogger);
  return stalled;
}

describe('a late reply to the transition to originating', () => {
  it('sends no Originate once a peer has taken the call over and reported it not dialled', async () => {
    stack = await startStack({ pbx: { timeScale: 1, outcome: () => ({ kind: 'answer', ringMs: 100, talkMs: 100 }) } });
    const s = stack;
    // The peer listens to the central throughout: it may prove a call of ours undialled.
    await s.startWorker({ threads: 2, lease: 2, heartbeat: 0.5, Timeout_Command_Response: 1 }, 'peer');
    await startStalledWorker(s, 'stalled');
    await sleep(3000);
    const store = new CelulaStore(s.redis.client(), { celula: CELULA });
    // Redis runs our transition; its reply, and every later one on that connection, is held.
    proxy?.holdRepliesAfter('stalled/late-1/1');
    await s.redis.client().lpush(store.keys.landing('stalled'), JSON.stringify({ v: 1, id: 'late-1', number: '5511900000001' }));
    await s.multcall.waitForResults(1, 15_000);
    expect(s.multcall.results.get('late-1')).toMatchObject({ status: 'cancelled', detail: 'not-dialled', worker: 'peer' });
    // The reply comes now: the peer's verdict stands only if nothing is dialled after it.
    proxy?.release();
    await sleep(2500);
    expect(s.pbx.originateLog().filter((o) => o.requestId === 'late-1')).toEqual([]);
    expect(s.multcall.results.size).toBe(1);
    expect(s.multcall.tally.duplicateResults).toEqual([]);
  }, 40_000);

  it('with no take-over, goes back to claimed and is dialled once, on a transition answered in time', async () => {
    stack = await startStack({ pbx: { timeScale: 1, outcome: () => ({ kind: 'answer', ringMs: 100, talkMs: 100 }) } });
    const s = stack;
    await startStalledWorker(s, 'stalled');
    await sleep(1000);
    const store = new CelulaStore(s.redis.client(), { celula: CELULA });
    proxy?.holdRepliesAfter('stalled/late-2/1');
    await s.redis.client().lpush(store.keys.landing('stalled'), JSON.stringify({ v: 1, id: 'late-2', number: '5511900000002' }));
    await until(() => (proxy?.count('stalled/late-2/1') ?? 0) > 0, 5000, 'the transition sent');
    // Late, but well within our lease: no peer may have taken the call.
    await sleep(1000);
    proxy?.release();
    await s.multcall.waitForResults(1, 15_000);
    expect(s.multcall.results.get('late-2')).toMatchObject({ status: 'answered', worker: 'stalled', attempts: 1 });
    expect(s.pbx.originateLog().filter((o) => o.requestId === 'late-2')).toHaveLength(1);
    // The late answer was not acted on: back to claimed (its token is this one + /unsent),
    // and the Originate went out after a second transition.
    // (More passes may follow: with a 2 s lease a step is sent only within half a second of a
    // confirmed heartbeat, lease − heartbeat − the clocks' second.)
    expect(proxy?.count('stalled/late-2/1')).toBeGreaterThanOrEqual(3);
  }, 40_000);
});

describe('a Redis slower to answer than half of Timeout_Command_Response', () => {
  it('still gets calls dialled, once each: the send window has a floor', async () => {
    stack = await startStack({ pbx: { timeScale: 1, outcome: () => ({ kind: 'answer', ringMs: 100, talkMs: 100 }) } });
    const s = stack;
    // The shortest Timeout_Command_Response the Celula allows: half of it is 50 ms.
    await startStalledWorker(s, 'stalled', { lease: 4, heartbeat: 0.5, Timeout_Command_Response: 0.1 });
    await sleep(500);
    proxy?.delayReplies('stalled:cmd', 150);
    await sleep(1000);
    const ids = ['slow-1', 'slow-2'];
    await s.multcall.enqueue(ids.map((id, i) => ({ v: 1 as const, id, number: `551190000002${i}` })));
    await s.multcall.waitForResults(ids.length, 20_000);
    for (const id of ids) {
      expect(s.multcall.results.get(id)).toMatchObject({ status: 'answered', worker: 'stalled', attempts: 1 });
      expect(s.pbx.originateLog().filter((o) => o.requestId === id)).toHaveLength(1);
    }
  }, 40_000);
});

describe('the command connection to a Redis host that vanished without closing it', () => {
  it('is reconnected once a heartbeat goes unanswered, and a request pushed meanwhile is dialled once', async () => {
    stack = await startStack({ pbx: { timeScale: 1, outcome: () => ({ kind: 'answer', ringMs: 100, talkMs: 100 }) } });
    const s = stack;
    await startStalledWorker(s, 'stalled', { lease: 2, heartbeat: 0.5 });
    await sleep(1000);
    const p = proxy as StallingProxy;
    expect(p.named('stalled:cmd')).toBe(1);
    const started = performance.now();
    p.blackHoleNamed('stalled:cmd');
    await s.multcall.enqueue([{ v: 1, id: 'after-vanish', number: '5511900000030' }]);
    // The worker drops the silent connection (the proxy sees it close) and opens a new one.
    await until(() => p.links.size > 0 && [...p.links].filter((l) => l.name === 'stalled:cmd' && !l.silent).length === 1 && ![...p.links].some((l) => l.name === 'stalled:cmd' && l.silent), 10_000, 'the command connection reconnected');
    expect(performance.now() - started).toBeLessThan(5000 + 3000);
    await s.multcall.waitForResults(1, 15_000);
    expect(s.multcall.results.get('after-vanish')).toMatchObject({ status: 'answered', worker: 'stalled' });
    expect(s.pbx.originateLog().filter((o) => o.requestId === 'after-vanish')).toHaveLength(1);
  }, 40_000);
});

describe('ACK replies taken by a command whose answer never arrived', () => {
  it('are still handled once the inbox connection reconnects: every result carries its CodLigacao', async () => {
    // Multcall takes the ACKs but does not answer: the test answers, at the chosen moment.
    stack = await startStack({ pbx: { timeScale: 1, outcome: () => ({ kind: 'answer', ringMs: 100, talkMs: 300 }) }, multcall: { ackDropRate: 1 } });
    const s = stack;
    // The ACK timeout outlasts the blocking deadline, after which the inbox reconnects.
    await startStalledWorker(s, 'stalled', { threads: 4, lease: 10, heartbeat: 1, Timeout_Command_ACK: BLOCKING_REPLY_DEADLINE_MS / 1000 + 6 });
    const ids = ['r-1', 'r-2', 'r-3', 'r-4'];
    await s.multcall.enqueue(ids.map((id, i) => ({ v: 1 as const, id, number: `551190000001${i}` })));
    await until(() => s.multcall.tally.acked === ids.length, 10_000, 'every ACK');
    const direct = s.redis.client();
    const keys = celulaKeys(CELULA);
    // Redis serves the worker's take of every waiting reply; the answer is lost on the way.
    const served = proxy?.blackHoleOnServed('stalled:inbox');
    await direct.lpush(keys.inbox('stalled'), ...ids.map((id) => JSON.stringify({ v: 1, id, codLigacao: `cod-${id}` })));
    await served;
    await sleep(100);
    expect(await direct.llen(keys.inbox('stalled'))).toBe(0);
    await s.multcall.waitForResults(ids.length, 20_000);
    for (const id of ids) expect(s.multcall.results.get(id)).toMatchObject({ status: 'answered', ack: 'replied', codLigacao: `cod-${id}` });
    // Handled, then removed: nothing is left to handle again.
    await until(async () => (await direct.llen(keys.inboxTaken('stalled'))) === 0, 2000, 'the taken list emptied');
  }, 40_000);
});

describe('a blocking wait on a connection whose Redis went silent', () => {
  async function silentConnection(): Promise<{ blocking: Redis; direct: Redis; keys: ReturnType<typeof celulaKeys> }> {
    server = await startRedis();
    proxy = await StallingProxy.start(server.port);
    const blocking = new Redis({ host: '127.0.0.1', port: proxy.port, maxRetriesPerRequest: null, retryStrategy: () => 50, lazyConnect: true });
    blocking.on('error', () => undefined);
    clients.push(blocking);
    await blocking.connect();
    expect(await blocking.ping()).toBe('PONG');
    proxy.blackHole();
    return { blocking, direct: server.client(), keys: celulaKeys(CELULA) };
  }

  it('for a request reconnects within the deadline and takes the request', async () => {
    const { blocking, direct, keys } = await silentConnection();
    const started = performance.now();
    const waiting = CelulaStore.waitForRequest(blocking, keys, 'w1', 1);
    await direct.lpush(keys.dial, JSON.stringify({ v: 1, id: 'after-silence', number: '5511900000003' }));
    let moved = await waiting;
    // A reconnect that lands between two waits: the next one takes it.
    if (!moved) moved = await CelulaStore.waitForRequest(blocking, keys, 'w1', 1);
    expect(moved).toBe(true);
    expect(performance.now() - started).toBeLessThan(BLOCKING_REPLY_DEADLINE_MS + 3000);
    expect(await direct.lrange(keys.landing('w1'), 0, -1)).toHaveLength(1);
  }, 20_000);

  it('gives a command re-sent on a slow reconnect its whole deadline', async () => {
    const { blocking } = await silentConnection();
    const reconnects = proxy as StallingProxy;
    // The reconnect becomes ready shortly before the first deadline would pass again.
    reconnects.connectDelayMs = BLOCKING_REPLY_DEADLINE_MS - 700;
    const keys = celulaKeys(CELULA);
    const moved = await CelulaStore.waitForRequest(blocking, keys, 'w1', 1);
    expect(moved).toBe(false);
    // The first connection and one reconnect: the re-sent wait was not cut off.
    expect(reconnects.accepted).toBe(2);
  }, 30_000);

  it('for ACK replies reconnects within the deadline and takes them', async () => {
    const { blocking, direct, keys } = await silentConnection();
    const started = performance.now();
    const inbox = new ReplyInbox(blocking, keys, 'w1');
    const waiting = inbox.take(1);
    await direct.lpush(keys.inbox('w1'), JSON.stringify({ v: 1, id: 'r1', codLigacao: '1' }));
    let replies = await waiting;
    if (replies.length === 0) replies = await inbox.take(1);
    expect(replies).toHaveLength(1);
    expect(performance.now() - started).toBeLessThan(BLOCKING_REPLY_DEADLINE_MS + 3000);
  }, 20_000);
});
