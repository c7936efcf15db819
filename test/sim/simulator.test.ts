import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { AmiParser, type AmiMessage } from '../../src/ami/codec.js';
import { startPbxSimulator, type PbxSimulator } from '../../src/sim/pbx/index.js';

const sims: PbxSimulator[] = [];
afterEach(async () => {
  for (const s of sims.splice(0)) await s.close();
});

async function session(sim: PbxSimulator, script: string, waitMs = 300): Promise<AmiMessage[]> {
  const out: AmiMessage[] = [];
  const parser = new AmiParser({ expectBanner: true, onMessage: (m) => out.push(m) });
  const socket = connect(sim.port, sim.host);
  socket.on('data', (c: Buffer) => parser.push(c));
  await new Promise<void>((r) => socket.once('connect', () => r()));
  socket.write('Action: Login\r\nUsername: multcall\r\nSecret: multcall\r\n\r\n' + script);
  await new Promise((r) => setTimeout(r, waitMs));
  socket.destroy();
  return out;
}

const originate = (req: string, number: string): string =>
  `Action: Originate\r\nActionID: o-${req}\r\nChannel: PJSIP/${number}@carrier\r\nContext: agent\r\nExten: s\r\nPriority: 1\r\nTimeout: 5000\r\nVariable: MC_REQ=${req}\r\nAsync: true\r\n\r\n`;

describe('PBX simulator', () => {
  it('records malformed actions and duplicate originates', async () => {
    const sim = await startPbxSimulator({ timeScale: 0.01 });
    sims.push(sim);
    const replies = await session(sim, `Action: Ping\r\nX: ${'a'.repeat(1100)}\r\n\r\nAction: Ping\r\nno colon\r\n\r\n${originate('r1', '1')}${originate('r1', '1')}Action: Foo\r\n\r\n`);
    const stats = sim.stats();
    expect(stats.malformed.map((m) => m.reason)).toEqual(['line longer than 1024 bytes', 'header without colon']);
    expect(stats.originatesByRequest.get('r1')).toBe(2);
    expect(stats.duplicates).toEqual(['r1']);
    expect(replies.some((m) => m.fields.message?.startsWith('Invalid/unknown command'))).toBe(true);
  });

  it("an eventfilter user gets only the named events, the login's FullyBooted, and every reply of a list", async () => {
    const sim = await startPbxSimulator({
      timeScale: 0.01,
      users: [{ username: 'multcall', secret: 'multcall', read: ['call', 'system'], write: ['originate', 'call'], eventFilter: ['Hangup'] }],
      outcome: { '7': { kind: 'answer', ringMs: 0, talkMs: 60_000 } },
    });
    sims.push(sim);
    const placing = session(sim, originate('f1', '7'), 1000);
    await new Promise((r) => setTimeout(r, 200));
    const listing = await session(sim, 'Action: Status\r\nActionID: st\r\n\r\n', 100);
    const events = (ms: AmiMessage[]) => ms.map((m) => m.fields.event).filter((e) => e !== undefined);
    // FullyBooted is written by the login itself (manager.c), not sent as an event.
    expect(events(await placing)).toEqual(['FullyBooted', 'Hangup']);
    expect(events(listing)).toEqual(['FullyBooted', 'Status', 'StatusComplete']);
  });

  it('caps live calls at maxChannels with congestion and tracks the peak', async () => {
    const sim = await startPbxSimulator({ timeScale: 0.05, maxChannels: 2, outcome: { '9': { kind: 'answer', ringMs: 0, talkMs: 5000 } } });
    sims.push(sim);
    const msgs = await session(sim, originate('a', '9') + originate('b', '9') + originate('c', '9'), 200);
    const responses = msgs.filter((m) => m.fields.event === 'OriginateResponse');
    expect(responses.find((m) => m.fields.actionid === 'o-c')?.fields.reason).toBe('8');
    expect(msgs.some((m) => m.fields.event === 'Hangup' && m.fields.cause === '34')).toBe(true);
    expect(sim.stats().peakChannels).toBe(2);
  });

  it('seeded mix is deterministic and pre-12 uses <null> on failure', async () => {
    const sim = await startPbxSimulator({ profile: '1.8', timeScale: 0.01, outcome: { '7': { kind: 'busy', ringMs: 10 } } });
    sims.push(sim);
    expect(sim.banner).toBe('Asterisk Call Manager/1.1');
    const msgs = await session(sim, originate('p', '7'));
    const r = msgs.find((m) => m.fields.event === 'OriginateResponse');
    expect(r?.fields).toMatchObject({ response: 'Failure', reason: '5', uniqueid: '<null>' });
    expect(msgs.some((m) => m.fields.event === 'Dial' && m.fields.subevent === 'End' && m.fields.dialstatus === 'BUSY')).toBe(true);
  });
});
