/** When Multcall never sends the CodLigacao: `report` lets the call run; `hangup` stops it while ringing only. */
import { afterEach, describe, expect, it } from 'vitest';
import { startStack, type Stack } from '../support/stack.js';

let stack: Stack | undefined;
afterEach(async () => {
  await stack?.stop();
});

const outcome = (d: { number: string }) =>
  d.number.endsWith('1') ? ({ kind: 'answer', ringMs: 50, talkMs: 1500 } as const) : ({ kind: 'answer', ringMs: 2000, talkMs: 500 } as const);

describe('ACK timeout', () => {
  it('report: calls run to their end and say the CodLigacao never came', async () => {
    stack = await startStack({ pbx: { timeScale: 1, outcome }, multcall: { ackDropRate: 1 } });
    await stack.startWorker({ Timeout_Command_ACK: 0.3 });
    await stack.multcall.enqueue([{ v: 1, id: 'fast', number: '5511900000001' }, { v: 1, id: 'slow', number: '5511900000002' }]);
    await stack.multcall.waitForResults(2, 10_000);
    for (const id of ['fast', 'slow']) expect(stack.multcall.results.get(id)).toMatchObject({ status: 'answered', ack: 'timeout', codLigacao: null });
  });

  // 1.8 and 11 know no ChannelId: until the answer, the ringing channel is found by its Account.
  it.each(['20', '11', '1.8'] as const)('hangup, Asterisk %s: a call still ringing is cancelled; an answered one is never cut', async (profile) => {
    stack = await startStack({ pbx: { profile, timeScale: 1, outcome }, multcall: { ackDropRate: 1 } });
    await stack.startWorker({ Timeout_Command_ACK: 0.3, ack_timeout_policy: 'hangup' });
    await stack.multcall.enqueue([{ v: 1, id: 'fast', number: '5511900000001' }, { v: 1, id: 'slow', number: '5511900000002' }]);
    await stack.multcall.waitForResults(2, 10_000);
    const slow = stack.multcall.results.get('slow');
    expect(slow).toMatchObject({ status: 'cancelled', ack: 'timeout', reason: 0, answeredAt: null });
    expect((slow?.endedAt ?? 0) - (slow?.originatedAt ?? 0)).toBeLessThan(1500);
    const fast = stack.multcall.results.get('fast');
    expect(fast).toMatchObject({ status: 'answered', ack: 'timeout', billsec: 1 });
  });
});
