import { describe, expect, it } from 'vitest';
import { classify, telling } from '../../src/worker/classify.js';
import { actionIdFor, channelIdsFor, requestOfActionId, requestOfChannelId } from '../../src/worker/overheard.js';

describe('classify', () => {
  it.each([
    [4, null, 'answered'],
    [5, null, 'busy'],
    [3, null, 'no-answer'],
    [8, null, 'congestion'],
    [0, 21, 'rejected'],
    [1, 17, 'busy'],
    [1, 19, 'no-answer'],
    [0, 34, 'congestion'],
    [0, 1, 'failed'],
    [0, 16, 'failed'],
    [0, null, 'failed'],
    [null, null, 'unknown'],
    [null, 17, 'busy'],
  ] as const)('Reason %s, Cause %s → %s', (reason, cause, status) => {
    expect(classify({ reason, cause, cancelledByUs: false })).toBe(status);
  });

  it('a call we hung up ourselves is cancelled, unless the callee had already answered or refused', () => {
    expect(classify({ reason: 0, cause: 16, cancelledByUs: true })).toBe('cancelled');
    expect(classify({ reason: 4, cause: 16, cancelledByUs: true })).toBe('answered');
    expect(classify({ reason: 5, cause: 17, cancelledByUs: true })).toBe('busy');
    // The callee's side ended it as our Hangup went out (Reason 0 on 12+, the cause tells).
    expect(classify({ reason: 0, cause: 17, cancelledByUs: true })).toBe('busy');
    expect(classify({ reason: 0, cause: 21, cancelledByUs: true })).toBe('rejected');
    expect(classify({ reason: null, cause: null, cancelledByUs: true })).toBe('cancelled');
  });

  it('picks the most telling cause among the legs', () => {
    expect(telling([{ cause: 0, causeTxt: 'Unknown' }, { cause: 17, causeTxt: 'User busy' }])?.cause).toBe(17);
    expect(telling([{ cause: 0, causeTxt: 'Unknown' }, { cause: 16, causeTxt: 'Normal Clearing' }])?.cause).toBe(16);
    expect(telling([])).toBeNull();
  });
});

describe('ids we give the central', () => {
  it('round-trip the request id whatever characters it uses', () => {
    for (const id of ['abc', 'a-1-2', 'x.y:z-2', '2-2']) {
      expect(requestOfActionId(actionIdFor('central-a.pod-7.1', id, 3))).toBe(id);
      const [primary, other] = channelIdsFor(id, 12);
      expect(requestOfChannelId(primary)).toBe(id);
      expect(requestOfChannelId(other)).toBe(id);
      expect(primary).not.toBe(other);
    }
    expect(requestOfChannelId('1795747283.12')).toBeUndefined();
  });
});
