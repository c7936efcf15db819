import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type Stack } from '../support/stack.js';
import { DEFAULT_PBX_USER, type CallOutcome } from '../../src/sim/pbx/index.js';
import { WORKER_EVENTS } from '../../src/ami/index.js';
import type { CallStatus } from '../../src/protocol/messages.js';

/** `reason12` is what Asterisk 1.8/11 report instead (they use Reason 1 for rejects). */
const NUMBERS: Record<string, { outcome: CallOutcome; status: CallStatus; reason: number; reason12?: number; cause?: number }> = {
  '5511900000001': { outcome: { kind: 'answer', ringMs: 200, talkMs: 12_500 }, status: 'answered', reason: 4, cause: 16 },
  '5511900000002': { outcome: { kind: 'busy', ringMs: 100 }, status: 'busy', reason: 5 },
  '5511900000003': { outcome: { kind: 'noanswer' }, status: 'no-answer', reason: 3 },
  '5511900000004': { outcome: { kind: 'congestion', ringMs: 100 }, status: 'congestion', reason: 8 },
  '5511900000005': { outcome: { kind: 'reject', ringMs: 100 }, status: 'rejected', reason: 0, reason12: 1, cause: 21 },
  '5511900000006': { outcome: { kind: 'unallocated', ringMs: 100 }, status: 'failed', reason: 0, reason12: 1, cause: 1 },
  '5511900000007': { outcome: { kind: 'badchannel' }, status: 'failed', reason: 0 },
};

const PROFILES = ['1.8', '11', '13', '16', '18', '20', '22'] as const;
/** Every profile with the worker's user sent all its `call,system` events, and sent only WORKER_EVENTS (manager.conf `eventfilter`). */
const CASES = PROFILES.flatMap((profile) => [
  { profile, filter: 'all call,system events' },
  { profile, filter: 'eventfilter' },
]);

describe.each(CASES)('a worker on Asterisk $profile ($filter) places calls and reports one result per request', ({ profile, filter }) => {
  let stack: Stack;
  const pre12 = profile === '1.8' || profile === '11';

  beforeAll(async () => {
    const users = filter === 'eventfilter' ? [{ ...DEFAULT_PBX_USER, eventFilter: [...WORKER_EVENTS] }] : undefined;
    stack = await startStack({ pbx: { profile, timeScale: 0.2, ...(users ? { users } : {}), outcome: Object.fromEntries(Object.entries(NUMBERS).map(([n, v]) => [n, v.outcome])) } });
    await stack.startWorker({ threads: 20 });
  });
  afterAll(async () => {
    await stack.stop();
  });

  it('maps every outcome to its status, Reason, Cause and billsec, with the CodLigacao', async () => {
    const numbers = Object.keys(NUMBERS);
    await stack.multcall.enqueue(numbers.map((number, i) => ({ v: 1 as const, id: `out-${i}`, number })));
    await stack.multcall.waitForResults(numbers.length, 20_000);
    numbers.forEach((number, i) => {
      const expected = NUMBERS[number]!;
      const result = stack.multcall.results.get(`out-${i}`);
      const reason = pre12 ? (expected.reason12 ?? expected.reason) : expected.reason;
      expect(result, number).toMatchObject({ status: expected.status, reason, central: 'central-a', attempts: 1, ack: 'replied' });
      // Before 12 a failed call's Uniqueid is <null>: its channels are found by AccountCode (our request id).
      if (expected.cause !== undefined) expect(result?.cause, number).toBe(expected.cause);
      expect(result?.codLigacao, number).toMatch(/^\d+$/);
    });
    const answered = stack.multcall.results.get('out-0')!;
    // talk 12.5 s × timeScale 0.2 = 2.5 s → billsec is the whole seconds between answer and hangup.
    expect(answered.answeredAt).not.toBeNull();
    expect(answered.billsec).toBe(2);
    expect(answered.billsec).toBe(Math.floor((answered.endedAt - answered.answeredAt!) / 1000));
    for (const [i] of numbers.entries()) if (i > 0) expect(stack.multcall.results.get(`out-${i}`)?.billsec).toBe(0);
    expect(stack.pbx.stats().duplicates).toEqual([]);
    expect(stack.multcall.tally.duplicateResults).toEqual([]);
  });
});
