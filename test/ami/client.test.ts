import { afterEach, describe, expect, it } from 'vitest';
import { createAmiClient, type AmiClientOptions } from '../../src/ami/client.js';
import { AmiAuthError, AmiDisconnectedError, AmiTimeoutError, AmiValidationError } from '../../src/ami/errors.js';
import type { AmiClient, CallEvent, OriginateRequest } from '../../src/ami/types.js';
import { startPbxSimulator, type PbxSimulator, type PbxSimulatorOptions } from '../../src/sim/pbx/index.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup(simOptions: PbxSimulatorOptions = {}, clientOptions: Partial<AmiClientOptions> = {}): Promise<{ sim: PbxSimulator; client: AmiClient; events: CallEvent[] }> {
  const sim = await startPbxSimulator({ timeScale: 0.02, authFailDelayMs: 50, ...simOptions });
  cleanups.push(() => sim.close());
  const client = createAmiClient({ host: sim.host, port: sim.port, username: 'multcall', secret: 'multcall', reconnectMinMs: 20, reconnectMaxMs: 200, heartbeatMs: 0, ...clientOptions });
  cleanups.push(() => client.close());
  const events: CallEvent[] = [];
  client.on('event', (e) => events.push(e));
  return { sim, client, events };
}

function request(id: string, number: string, attempt = 1): OriginateRequest {
  return {
    channel: `Local/${number}@sim`,
    context: 'agent',
    exten: 's',
    priority: 1,
    ringTimeoutMs: 5000,
    callerId: '"MultCall" <5551000>',
    account: id,
    variables: { MC_REQ: id, MC_CELULA: 'cobranca' },
    channelId: `mc-${id}-${attempt}`,
    otherChannelId: `mc-${id}-${attempt}-2`,
  };
}

async function until(check: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

const PROFILES = ['1.8', '11', '13', '16', '18', '20', '22'] as const;

describe('AMI client against the simulator over TCP', () => {
  for (const profile of PROFILES) {
    it(`profile ${profile}: login, originate, typed events for answer and busy`, async () => {
      const { sim, client, events } = await setup({ profile });
      await client.connect();
      expect(client.state).toBe('connected');
      expect(client.info?.dialect).toBe(profile === '1.8' || profile === '11' ? 'pre12' : 'stasis');
      const ok = await client.originate(request('req-a', 'answer'), 1000);
      expect(ok).toMatchObject({ ok: true, message: 'Originate successfully queued' });
      const busy = await client.originate(request('req-b', 'busy'), 1000);
      await until(() => events.filter((e) => e.kind === 'originate-response').length === 2 && events.filter((e) => e.kind === 'hangup').length === 4);
      expect(sim.stats().liveChannels).toBe(0);
      const resp = (id: string): CallEvent | undefined => events.find((e) => e.kind === 'originate-response' && e.actionId === id);
      expect(resp(ok.actionId)).toMatchObject({ success: true, reason: 4 });
      expect(resp(busy.actionId)).toMatchObject({ success: false, reason: 5 });
      const answeredUid = (resp(ok.actionId) as { uniqueid?: string }).uniqueid;
      expect(answeredUid).toBeDefined();
      expect(events.some((e) => e.kind === 'answered' && e.uniqueid === answeredUid)).toBe(true);
      expect(events.some((e) => e.kind === 'hangup' && e.uniqueid === answeredUid && e.cause === 16)).toBe(true);
      if (profile === '1.8' || profile === '11') expect((resp(busy.actionId) as { uniqueid?: string }).uniqueid).toBeUndefined();
      else expect((resp(busy.actionId) as { uniqueid?: string }).uniqueid).toBe('mc-req-b-1');
      expect(sim.stats().originatesByRequest.get('req-a')).toBe(1);
      expect(sim.stats().duplicates).toEqual([]);
    });
  }

  it('uses unique ActionIDs and the call,system event mask', async () => {
    const { sim, client, events } = await setup({ users: [{ username: 'multcall', secret: 'multcall', read: ['all'], write: ['all'] }] });
    await client.connect();
    const ids = await Promise.all(['answer', 'busy', 'reject', 'congest'].map((n, i) => client.originate(request(`r${i}`, n), 1000)));
    expect(new Set(ids.map((r) => r.actionId)).size).toBe(4);
    await until(() => sim.stats().liveChannels === 0 && events.filter((e) => e.kind === 'originate-response').length === 4);
    expect(sim.stats().originates).toBe(4);
  });

  it('ping measures a round trip; Status lists a live call with write=originate,call only', async () => {
    const { client, events } = await setup({ timeScale: 0.05, outcome: { long: { kind: 'answer', ringMs: 0, talkMs: 20_000 } } });
    await client.connect();
    expect(await client.ping(500)).toBeGreaterThanOrEqual(0);
    await client.originate({ ...request('req-live', 'long'), channel: 'PJSIP/long@carrier' }, 1000);
    await until(() => events.some((e) => e.kind === 'answered'));
    const channels = await client.liveChannels(1000);
    expect(channels.map((c) => c.uniqueid)).toEqual(['mc-req-live-1']); // a PJSIP channel has one leg
    expect(channels.find((c) => c.uniqueid === 'mc-req-live-1')).toMatchObject({ accountCode: 'req-live', channelState: 6 });
    // CoreShowChannels needs write=system or reporting, which a worker's user does not have.
    await expect(client.coreShowChannels(1000)).rejects.toThrow(/Permission denied/);
  });

  it('times out an action the server never answers', async () => {
    const { sim, client } = await setup();
    await client.connect();
    sim.faults.stall(400);
    await expect(client.originate(request('req-t', 'answer'), 100)).rejects.toBeInstanceOf(AmiTimeoutError);
  });

  it('rejects pending actions on disconnect and reconnects with backoff', async () => {
    const { sim, client } = await setup();
    const downs: Error[] = [];
    let ups = 0;
    client.on('down', (e) => downs.push(e));
    client.on('up', () => (ups += 1));
    await client.connect();
    sim.faults.stall(1000);
    const pending = client.originate(request('req-d', 'answer'), 5000);
    setTimeout(() => sim.faults.dropConnections(), 30);
    await expect(pending).rejects.toBeInstanceOf(AmiDisconnectedError);
    // Written before the drop: the central may have acted on it.
    await expect(pending).rejects.toMatchObject({ sent: true });
    await expect(client.originate(request('req-d2', 'answer'), 500)).rejects.toBeInstanceOf(AmiDisconnectedError);
    await until(() => ups === 2, 5000);
    expect(downs[0]).toBeInstanceOf(AmiDisconnectedError);
    expect(sim.stats().connections).toBeGreaterThanOrEqual(2);
  });

  it('bad credentials: AmiAuthError once, no retry loop', async () => {
    const { sim, client } = await setup({}, { secret: 'wrong' });
    await expect(client.connect()).rejects.toBeInstanceOf(AmiAuthError);
    await new Promise((r) => setTimeout(r, 300));
    expect(sim.stats().connections).toBe(1);
  });

  it('credentials rotated on the central are read again at each login: refused ones are retried slowly, never in a loop', async () => {
    const user = { username: 'multcall', secret: 'old', read: ['all'], write: ['all'] };
    let secret = 'old';
    const { sim, client } = await setup({ users: [user] }, { secret: () => secret, authRetryMs: 400 });
    let ups = 0;
    client.on('up', () => (ups += 1));
    await client.connect();
    // The central takes the new secret first; the worker's mounted Secret follows later.
    user.secret = 'new';
    sim.faults.dropConnections();
    await new Promise((r) => setTimeout(r, 250));
    const refusedOnce = sim.stats().connections;
    expect(refusedOnce).toBe(2); // the first reconnect, refused, and nothing since
    secret = 'new';
    await until(() => ups === 2, 5000);
    expect(client.state).toBe('connected');
    expect(sim.stats().connections).toBe(3);
  });

  it('a central that drops every session right after login is reconnected to with a growing backoff', async () => {
    const { sim, client } = await setup({}, { reconnectMinMs: 20, reconnectMaxMs: 5000 });
    let ups = 0;
    client.on('up', () => {
      ups += 1;
      sim.faults.dropConnections();
    });
    await client.connect();
    await new Promise((r) => setTimeout(r, 1500));
    // Reset on every login, the backoff stayed at its floor: a login every 10–20 ms, dozens.
    expect(ups).toBeLessThan(15);
    expect(ups).toBeGreaterThan(2);
  });

  it('injection attempts never reach the wire', async () => {
    const { sim, client } = await setup();
    await client.connect();
    const attempts: OriginateRequest[] = [
      { ...request('inj1', 'answer'), variables: { MC_REQ: 'abc\r\nAction: Command\r\nCommand: core stop now' } },
      { ...request('inj2', 'answer'), callerId: 'x\nExten: evil' },
      { ...request('inj3', 'answer'), channel: 'Local/answer@sim\r\n\r\nAction: UserEvent' },
      { ...request('inj4', 'answer'), account: 'a\0b' },
      { ...request('inj5', 'answer'), variables: { 'MC_REQ\r\nX': '1' } },
      { ...request('inj6', 'answer'), channelId: 'x'.repeat(200) },
    ];
    for (const a of attempts) await expect(client.originate(a, 500)).rejects.toBeInstanceOf(AmiValidationError);
    await client.ping(500);
    const stats = sim.stats();
    expect(stats.originates).toBe(0);
    expect(stats.malformed).toEqual([]);
  });

  it('a comma in a variable value stays one variable', async () => {
    const { sim, client } = await setup();
    await client.connect();
    await client.originate({ ...request('req-c', 'answer'), variables: { MC_REQ: 'req-c', NOTE: 'a,MC_REQ=evil' } }, 500);
    await until(() => sim.stats().originates === 1);
    expect([...sim.stats().originatesByRequest.keys()]).toEqual(['req-c']);
  });
});
