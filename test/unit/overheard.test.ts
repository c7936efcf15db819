/**
 * What a worker remembers of its peers' calls, and when silence about a call proves nothing.
 */
import { describe, expect, it } from 'vitest';
import { Overheard, OVERHEARD_TTL_MS } from '../../src/worker/overheard.js';
import type { CallEvent } from '../../src/ami/types.js';

const answered = (id: string): CallEvent => ({ kind: 'originate-response', channel: 'PJSIP/1@c', actionId: `peer/${id}/1`, success: true, reason: 4, uniqueid: `mc1-${id}` });
const hangup = (id: string): CallEvent => ({ kind: 'hangup', uniqueid: `mc1-${id}`, channel: 'PJSIP/1@c', cause: 16, causeTxt: 'Normal Clearing' });

describe('Overheard', () => {
  it('keeps a long call until 3 minutes after its last event, not its first', () => {
    let now = 0;
    const heard = new Overheard(100, OVERHEARD_TTL_MS, () => now);
    heard.record(answered('long'));
    now = 10 * 60_000; // a ten-minute conversation
    heard.record(hangup('long'));
    now += OVERHEARD_TTL_MS - 1;
    // Each with when it was heard: an adopted call's answer and end are timed as they happened.
    expect(heard.take('long').map(({ event, at }) => [event.kind, at])).toEqual([
      ['originate-response', 0],
      ['hangup', 10 * 60_000],
    ]);
  });

  it('keeps the first event and the latest ones of a chatty call', () => {
    const heard = new Overheard();
    heard.record(answered('chatty'));
    for (let i = 0; i < 40; i++) heard.record(hangup('chatty'));
    const events = heard.take('chatty');
    expect(events).toHaveLength(16);
    expect(events[0]?.event.kind).toBe('originate-response');
  });

  it('says silence proves nothing once its memory is older than the TTL or had to drop entries early', () => {
    let now = 1_000_000;
    const heard = new Overheard(10, OVERHEARD_TTL_MS, () => now);
    expect(heard.remembersSince(now - 1000)).toBe(true);
    expect(heard.remembersSince(now - OVERHEARD_TTL_MS)).toBe(false);
    const before = now;
    now += 1000;
    for (let i = 0; i < 20; i++) heard.record(hangup(`flood-${i}`)); // more than it can hold
    expect(heard.remembersSince(before)).toBe(false);
    now += 1000;
    expect(heard.remembersSince(now - 1)).toBe(true);
  });
});
