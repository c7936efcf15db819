/**
 * Replays the byte-exact client side of each real Asterisk 20 transcript against the
 * simulator (profile 20), on the transcript's own (scaled) timeline, and compares what
 * comes back with the transcript's server side: event names, order and key fields.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAll, AmiParser, type AmiMessage } from '../../src/ami/codec.js';
import { startPbxSimulator, type PbxSimulator } from '../../src/sim/pbx/index.js';
import { FIXTURE_DIR } from '../ami/fixtures.js';

const SCALE = 0.2;

interface Line {
  t: number;
  dir: 'tx' | 'rx' | 'eof';
  data: string;
}

function signature(m: AmiMessage): string {
  const f = m.fields;
  const leg = (ch: string | undefined): string => (ch === undefined ? '' : ch.replace(/-[0-9a-f]{8};/, '-X;'));
  if (f.event === undefined) return `R ${f.response} ${f.actionid ?? '-'} ${f.message ?? ''}${f.ping ? ` ${f.ping}` : ''}${f.events ? ` Events=${f.events}` : ''}`;
  const keys = ['actionid', 'response', 'reason', 'channelstate', 'cause', 'dialstatus', 'uniqueid', 'destuniqueid', 'variable', 'application', 'eventlist', 'listitems'];
  const parts = [`E ${f.event}`, leg(f.channel ?? f.destchannel)];
  // Server-assigned Uniqueids (`<epoch>.<seq>`) are volatile; ChannelId-given ones are not.
  for (const k of keys) if (f[k] !== undefined) parts.push(`${k}=${f[k].replace(/^\d+\.\d+$/, 'N.N')}`);
  return parts.join(' ');
}

async function replay(sim: PbxSimulator, scenario: string): Promise<AmiMessage[]> {
  const timeline = readFileSync(resolve(FIXTURE_DIR, `${scenario}.jsonl`), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Line);
  const socket = connect(sim.port, sim.host);
  const received: AmiMessage[] = [];
  const legNames = new Map<string, string>();
  const parser = new AmiParser({
    expectBanner: true,
    onMessage: (m) => {
      received.push(m);
      const ch = m.fields.channel;
      if (m.fields.event === 'Newchannel' && ch) legNames.set(ch.replace(/-[0-9a-f]{8};/, '-X;'), ch);
    },
  });
  socket.on('data', (c: Buffer) => parser.push(c));
  socket.on('error', () => undefined);
  const closed = new Promise<void>((r) => socket.on('close', () => r()));
  await new Promise<void>((r) => socket.once('connect', () => r()));
  const start = Date.now();
  for (const line of timeline) {
    if (line.dir !== 'tx') continue;
    const wait = start + line.t * 1000 * SCALE - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    // Channel names carry the server's sequence number: use the simulator's own.
    const data = line.data.replace(/(Channel: )(Local\/[^\r\n]*-[0-9a-f]{8};\d)/g, (_, h: string, ch: string) => h + (legNames.get(ch.replace(/-[0-9a-f]{8};/, '-X;')) ?? ch));
    if (!socket.destroyed) socket.write(data);
  }
  await Promise.race([closed, new Promise((r) => setTimeout(r, 5000))]);
  socket.destroy();
  return received;
}

function expected(scenario: string): AmiMessage[] {
  return parseAll(readFileSync(resolve(FIXTURE_DIR, `${scenario}.rx`)), { expectBanner: true }).messages;
}

const scenarios = [
  'answer',
  'ringanswer',
  'busy',
  'congest',
  'noanswer',
  'reject',
  'unallocated',
  'badtech',
  'cancel-hangup',
  'nonexistent-dest',
  'invalid-channel',
  'ping',
  'login-wrong-password',
  'login-unknown-user',
  'events-call',
  'events-off',
  'perm-no-originate',
];

function startSim(): Promise<PbxSimulator> {
  return startPbxSimulator({
      profile: '20',
      timeScale: SCALE,
      authFailDelayMs: 1000 * SCALE,
    users: [
        { username: 'multcall', secret: 'multcall', read: ['all'], write: ['all'] },
        { username: 'mcnoorig', secret: 'mcnoorig', read: ['call'], write: ['call'] },
        // manager.conf: eventfilter(action(include),name(…)) = for each of these
        { username: 'mcfilter', secret: 'mcfilter', read: ['call', 'dialplan', 'originate'], write: ['originate'], eventFilter: ['OriginateResponse', 'Hangup', 'DialEnd', 'Newchannel'] },
      ],
    });
}

/** Each scenario gets its own simulator: OriginateResponse is broadcast to every session. */
async function run(scenario: string): Promise<AmiMessage[]> {
  const sim = await startSim();
  try {
    return await replay(sim, scenario);
  } finally {
    await sim.close();
  }
}

describe('simulator (profile 20) against the real transcripts', () => {
  let sim: PbxSimulator;
  beforeAll(async () => {
    sim = await startSim();
  });
  afterAll(async () => sim.close());

  it.concurrent.each(scenarios)('%s', async (scenario) => {
    const got = (await run(scenario)).map(signature);
    const want = expected(scenario).map(signature);
    expect(got).toEqual(want);
  });

  it('busy-no-channelid: same messages; the final Hangup/OriginateResponse order is not fixed in reality', async () => {
    const got = (await run('busy-no-channelid')).map(signature);
    const want = expected('busy-no-channelid').map(signature);
    expect([...got].sort()).toEqual([...want].sort());
    expect(got.find((s) => s.startsWith('E OriginateResponse'))).toContain('uniqueid=<unknown>');
  });

  it('filter-user-eventfilter: only the events the user filters in arrive; DialEnd and OriginateResponse race in reality', async () => {
    const got = (await run('filter-user-eventfilter')).map(signature);
    const want = expected('filter-user-eventfilter').map(signature);
    expect([...got].sort()).toEqual([...want].sort());
    expect(got.filter((s) => s.startsWith('E ')).map((s) => s.split(' ')[1])).toEqual(['Newchannel', 'Newchannel', 'DialEnd', 'OriginateResponse', 'Hangup', 'Hangup']);
  });

  it('coreshowchannels-during-call: list and status replies match', async () => {
    // The real server answered a Local channel within 1 ms, so only the list structure is compared.
    const pick = (ms: AmiMessage[]): string[] =>
      ms
        .filter((m) => m.fields.event === undefined || /^(CoreShowChannel|CoreShowChannelsComplete|Status|StatusComplete)$/.test(m.fields.event))
        .map((m) => signature({ fields: { ...m.fields, channelstate: 'x', application: 'x' } }));
    const got = pick(await run('coreshowchannels-during-call'));
    expect(got).toEqual(pick(expected('coreshowchannels-during-call')));
  });

  it('banner is the Asterisk 20 one', () => {
    expect(sim.banner).toBe('Asterisk Call Manager/9.0.0');
  });
});
