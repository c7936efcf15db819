import { describe, expect, it } from 'vitest';
import { parseAll } from '../../src/ami/codec.js';
import { parseBanner, toCallEvents, toLiveChannel } from '../../src/ami/events.js';
import type { CallEvent } from '../../src/ami/types.js';
import { readFixture } from './fixtures.js';

function replay(file: string): CallEvent[] {
  const { messages } = parseAll(readFixture(file), { expectBanner: true });
  return messages.flatMap((m) => toCallEvents(m.fields));
}

/** Expected fate of the originated call per transcript (README table of the fixtures). */
const table: Array<{ file: string; success: boolean; reason: number; answered: boolean; cause?: number; uniqueid?: string | 'none' }> = [
  { file: 'answer.rx', success: true, reason: 4, answered: true, cause: 16 },
  { file: 'ringanswer.rx', success: true, reason: 4, answered: true, cause: 16 },
  { file: 'busy.rx', success: false, reason: 5, answered: false, cause: 0 },
  { file: 'congest.rx', success: false, reason: 8, answered: false, cause: 0 },
  { file: 'noanswer.rx', success: false, reason: 3, answered: false, cause: 19 },
  { file: 'reject.rx', success: false, reason: 0, answered: false, cause: 21 },
  { file: 'unallocated.rx', success: false, reason: 0, answered: false, cause: 1 },
  { file: 'nonexistent-local.rx', success: false, reason: 0, answered: false, cause: 0 },
  { file: 'cancel-hangup.rx', success: false, reason: 0, answered: false, cause: 16 },
  { file: 'badtech.rx', success: false, reason: 0, answered: false },
  { file: 'busy-no-channelid.rx', success: false, reason: 5, answered: false, cause: 0, uniqueid: 'none' },
  { file: 'trunk-busy.rx', success: false, reason: 0, answered: false, cause: 16 },
  { file: 'trunk-busyind.rx', success: false, reason: 5, answered: false, cause: 0 },
];

describe('event normalisation on the real transcripts', () => {
  for (const row of table) {
    it(`${row.file}: Reason ${row.reason}, ${row.answered ? 'answered' : 'not answered'}`, () => {
      const events = replay(row.file);
      const responses = events.filter((e) => e.kind === 'originate-response');
      expect(responses).toHaveLength(1);
      const response = responses[0];
      if (response?.kind !== 'originate-response') throw new Error('unreachable');
      expect(response.success).toBe(row.success);
      expect(response.reason).toBe(row.reason);
      expect(response.actionId).toMatch(/^orig-/);
      if (row.uniqueid === 'none') expect(response.uniqueid).toBeUndefined();
      const first = response.uniqueid;
      if (row.uniqueid !== 'none' && first !== undefined) {
        const answered = events.some((e) => e.kind === 'answered' && e.uniqueid === first);
        expect(answered).toBe(row.answered);
        const hangup = events.find((e) => e.kind === 'hangup' && e.uniqueid === first);
        if (row.cause === undefined) expect(hangup).toBeUndefined();
        else if (hangup?.kind === 'hangup') {
          expect(hangup.cause).toBe(row.cause);
          expect(hangup.causeTxt.length).toBeGreaterThan(0);
        } else if (row.file !== 'trunk-busy.rx' && row.file !== 'trunk-busyind.rx') throw new Error('no hangup for the originated channel');
      }
      if (row.success) expect(response.channel).toMatch(/;1$/);
      else expect(response.channel).not.toMatch(/;1$/);
    });
  }

  it('concurrent-20: one OriginateResponse per originate, tied by ActionID', () => {
    const responses = replay('concurrent-20.rx').filter((e) => e.kind === 'originate-response');
    expect(responses).toHaveLength(20);
    expect(new Set(responses.map((r) => (r.kind === 'originate-response' ? r.actionId : '')))).toHaveProperty('size', 20);
  });

  it('reads Timestamp, pre-12 Dial End, Newstate Up and <null> uniqueids', () => {
    const pre12Failure = toCallEvents({ event: 'OriginateResponse', response: 'Failure', channel: 'SIP/trunk/5511', reason: '5', uniqueid: '<null>', account: 'req-9', timestamp: '1700000000.250000' });
    expect(pre12Failure).toEqual([{ kind: 'originate-response', success: false, reason: 5, channel: 'SIP/trunk/5511', account: 'req-9', timestamp: 1700000000.25 }]);
    expect(toCallEvents({ event: 'Dial', subevent: 'End', channel: 'SIP/trunk-0001', uniqueid: '1700000000.7', dialstatus: 'ANSWER' }).map((e) => e.kind)).toEqual(['dial-end', 'answered']);
    expect(toCallEvents({ event: 'Dial', subevent: 'Begin', uniqueid: '1.2' })).toEqual([]);
    expect(toCallEvents({ event: 'Newstate', channel: 'SIP/x-1', state: 'Up', uniqueid: '1.3' })[0]?.kind).toBe('answered');
    expect(toCallEvents({ event: 'Newstate', channel: 'SIP/x-1', channelstate: '5', channelstatedesc: 'Ringing', uniqueid: '1.3' })).toEqual([]);
    expect(toCallEvents({ response: 'Success', message: 'Originate successfully queued' })).toEqual([]);
  });

  it('reads the banner dialect', () => {
    expect(parseBanner('Asterisk Call Manager/9.0.0')).toEqual({ banner: 'Asterisk Call Manager/9.0.0', amiVersion: '9.0.0', dialect: 'stasis' });
    expect(parseBanner('Asterisk Call Manager/1.1').dialect).toBe('pre12');
    expect(parseBanner('Asterisk Call Manager/1.3').dialect).toBe('pre12');
    expect(parseBanner('Asterisk Call Manager/2.10.6').dialect).toBe('stasis');
  });

  it('maps CoreShowChannel to LiveChannel', () => {
    const { messages } = parseAll(readFixture('coreshowchannels-during-call.rx'), { expectBanner: true });
    const channels = messages.filter((m) => m.fields.event === 'CoreShowChannel').map((m) => toLiveChannel(m.fields));
    expect(channels).toEqual([
      { channel: 'Local/answer@sim-00000086;1', uniqueid: 'mc-csc-47477678', linkedid: 'mc-csc-47477678', accountCode: '', channelState: 6, durationSeconds: 0 },
      { channel: 'Local/answer@sim-00000086;2', uniqueid: 'mc-csc-47477678-2', linkedid: 'mc-csc-47477678', accountCode: '', channelState: 6, durationSeconds: 0 },
    ]);
  });
});
