/**
 * Each real Asterisk 20 transcript, replayed through the worker's own pipeline (codec →
 * event normalisation → call tracker → result) on the transcript's own clock, must give
 * the status, Reason, Cause and billsec the call really had.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AmiParser } from '../../src/ami/codec.js';
import { isEvent, parseBanner, toCallEvents } from '../../src/ami/events.js';
import { LiveCall } from '../../src/worker/call.js';
import { CallTracker } from '../../src/worker/tracker.js';
import type { CallResult } from '../../src/protocol/messages.js';
import { FIXTURE_DIR } from '../ami/fixtures.js';

interface Expected {
  status: CallResult['status'];
  reason: number | null;
  cause: number | null;
  billsec: number;
}

/** What each scenario really was (fixtures' README and SUMMARY.md). */
const EXPECTED: Record<string, Expected> = {
  // The callee answers, waits 1 s and hangs up.
  answer: { status: 'answered', reason: 4, cause: 16, billsec: 1 },
  ringanswer: { status: 'answered', reason: 4, cause: 16, billsec: 1 },
  'answer-no-channelid': { status: 'answered', reason: 4, cause: 16, billsec: 1 },
  'trunk-answer': { status: 'answered', reason: 4, cause: 16, billsec: 1 },
  busy: { status: 'busy', reason: 5, cause: 17, billsec: 0 },
  'trunk-busyind': { status: 'busy', reason: 5, cause: 17, billsec: 0 },
  congest: { status: 'congestion', reason: 8, cause: 34, billsec: 0 },
  noanswer: { status: 'no-answer', reason: 3, cause: 19, billsec: 0 },
  'trunk-noanswer': { status: 'no-answer', reason: 3, cause: 19, billsec: 0 },
  reject: { status: 'rejected', reason: 0, cause: 21, billsec: 0 },
  'trunk-reject': { status: 'rejected', reason: 0, cause: 21, billsec: 0 },
  unallocated: { status: 'failed', reason: 0, cause: 1, billsec: 0 },
  'nonexistent-local': { status: 'failed', reason: 0, cause: 0, billsec: 0 },
  badtech: { status: 'failed', reason: 0, cause: null, billsec: 0 },
  // Through a Dial() that does not re-signal, OriginateResponse loses busy/congestion (Reason 0),
  // but the callee's leg shares our Linkedid and its Hangup Cause still tells the truth.
  'trunk-busy': { status: 'busy', reason: 0, cause: 17, billsec: 0 },
  'trunk-congest': { status: 'congestion', reason: 0, cause: 34, billsec: 0 },
};

interface Line {
  t: number;
  conn: string;
  dir: 'rx' | 'tx' | 'eof';
  data?: string;
}

function replay(scenario: string): CallResult {
  const lines = readFileSync(resolve(FIXTURE_DIR, `${scenario}.jsonl`), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Line);
  const sent = lines.filter((l) => l.dir === 'tx').map((l) => l.data ?? '').join('');
  const originate = /Action: Originate\r\n([\s\S]*?)\r\n\r\n/.exec(sent)?.[1] ?? '';
  const header = (name: string) => new RegExp(`^${name}: (.*)$`, 'm').exec(originate)?.[1];
  const start = lines[0]?.t ?? 0;
  let clock = 0;
  const now = () => Math.round((1_800_000_000 + clock) * 1000);

  let ended: LiveCall | undefined;
  const tracker = new CallTracker((c) => (ended = c), undefined, 300, now);
  const call = new LiveCall('req-1', null, now());
  call.actionId = header('ActionID');
  const channelId = header('ChannelId');
  const other = header('OtherChannelId');
  call.channelIds = [channelId, other].filter((x): x is string => x !== undefined);
  call.primary = channelId;
  tracker.watchAction(call, call.actionId ?? '');
  for (const id of call.channelIds) tracker.watchUniqueid(call, id);

  const parser = new AmiParser({
    expectBanner: true,
    onBanner: (banner) => expect(parseBanner(banner).dialect).toBe('stasis'),
    onMessage: (message) => {
      if (isEvent(message.fields)) for (const event of toCallEvents(message.fields)) tracker.route(event);
    },
  });
  for (const line of lines.filter((l) => l.conn === 'c1' && l.dir === 'rx')) {
    clock = line.t - start;
    parser.push(line.data ?? '');
  }
  // A failed call's settle timer would end it; the transcript is over, so end it now.
  if (!ended) tracker.end(call);
  expect(ended, `${scenario} ended`).toBe(call);
  call.replied();
  return call.toResult({ celula: 'vendas', worker: 'w', central: 'c' }, now());
}

describe('replaying the real Asterisk 20 transcripts', () => {
  for (const [scenario, expected] of Object.entries(EXPECTED)) {
    it(`${scenario} → ${expected.status}`, () => {
      const result = replay(scenario);
      expect({ status: result.status, reason: result.reason, cause: result.cause, billsec: result.billsec }).toEqual(expected);
    });
  }
});
