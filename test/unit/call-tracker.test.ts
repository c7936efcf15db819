/**
 * The tracker routes the central's events to our calls: it must route nothing to a call it
 * has forgotten (whatever Uniqueids the call was found under), and nothing of someone else's
 * Originate, even one that reuses our ChannelId.
 */
import { describe, expect, it } from 'vitest';
import { LiveCall } from '../../src/worker/call.js';
import { CallTracker } from '../../src/worker/tracker.js';
import type { CallEvent } from '../../src/ami/types.js';

const hangup = (uniqueid: string): CallEvent => ({ kind: 'hangup', uniqueid, channel: `PJSIP/carrier-${uniqueid}`, cause: 16, causeTxt: 'Normal Clearing' });

describe('CallTracker', () => {
  it('routes nothing to a forgotten call, under any Uniqueid it was found by', () => {
    const ended: LiveCall[] = [];
    const tracker = new CallTracker((c) => ended.push(c));
    const call = new LiveCall('req-1', null, 0);
    tracker.watchAction(call, 'act-1');
    // A leg found by listing the central's channels, and the Uniqueid a 1.8 central gives in its OriginateResponse.
    tracker.watchUniqueid(call, '1700000000.17');
    tracker.route({ kind: 'originate-response', channel: 'PJSIP/5511900000001@carrier', actionId: 'act-1', success: true, reason: 4, uniqueid: '1700000000.16' });
    expect(call.responded).toBe(true);
    tracker.forget(call);
    expect(tracker.size).toBe(0);
    for (const id of ['1700000000.16', '1700000000.17']) tracker.route(hangup(id));
    expect(call.hangups).toEqual([]);
    expect(ended).toEqual([]);
  });

  it('never applies an OriginateResponse with another ActionID to our call, even when it carries our ChannelId', () => {
    const tracker = new CallTracker(() => undefined);
    const call = new LiveCall('req-2', null, 0);
    tracker.watchAction(call, 'ours');
    tracker.watchUniqueid(call, 'mc1-req-2-1');
    // Another célula's Originate with the same ChannelId, refused by the central.
    tracker.route({ kind: 'originate-response', channel: 'PJSIP/5511900000002@carrier', actionId: 'theirs', success: false, reason: 0, uniqueid: 'mc1-req-2-1' });
    expect(call.responded).toBe(false);
    tracker.route({ kind: 'originate-response', channel: 'PJSIP/5511900000002@carrier', actionId: 'ours', success: true, reason: 4, uniqueid: 'mc1-req-2-1' });
    expect(call).toMatchObject({ responded: true, reason: 4 });
  });

  it('ends a call seen Up on its dialled leg\'s Hangup when its OriginateResponse was lost; one still ringing waits for it', () => {
    const ended: LiveCall[] = [];
    const tracker = new CallTracker((c) => ended.push(c));
    const up = new LiveCall('req-up', null, 0);
    const ringing = new LiveCall('req-ringing', null, 0);
    for (const [call, uid] of [[up, 'mc1-req-up'], [ringing, 'mc1-req-ringing']] as const) {
      tracker.watchAction(call, `w/${call.id}/1`);
      call.channelIds = [uid];
      call.primary = uid;
      tracker.watchUniqueid(call, uid);
    }
    // The central listed `up` Up after the AMI link came back (the worker notes when it answered).
    up.answeredAt = 1000;
    tracker.route({ kind: 'hangup', uniqueid: 'mc1-req-up', channel: 'PJSIP/carrier-1', cause: 16, causeTxt: 'Normal Clearing' });
    // A ringing call's OriginateResponse is still to come, with the Reason that classifies it.
    tracker.route({ kind: 'hangup', uniqueid: 'mc1-req-ringing', channel: 'PJSIP/carrier-2', cause: 16, causeTxt: 'Normal Clearing' });
    expect(ended).toEqual([up]);
    expect(up.status()).toBe('answered');
    tracker.route({ kind: 'originate-response', channel: 'PJSIP/5511900000005@carrier', actionId: 'w/req-ringing/1', success: false, reason: 3 });
    expect(ended).toEqual([up, ringing]);
    expect(ringing.status()).toBe('no-answer');
  });

  it('gives a call taken over from a dead peer the answer to that peer\'s Originate', () => {
    const tracker = new CallTracker(() => undefined);
    const call = new LiveCall('req-3', null, 0);
    call.adopted = true;
    call.attempt = 1;
    tracker.watchAdopted(call);
    // The answer to an earlier attempt of the same request is not this attempt's.
    tracker.route({ kind: 'originate-response', channel: 'PJSIP/5511900000003@carrier', actionId: 'dead-peer/req-3/0', success: false, reason: 0 });
    expect(call.responded).toBe(false);
    // Another request's answer to the same peer is not this call's.
    tracker.route({ kind: 'originate-response', channel: 'PJSIP/5511900000004@carrier', actionId: 'dead-peer/req-4/1', success: false, reason: 5 });
    expect(call.responded).toBe(false);
    tracker.route({ kind: 'originate-response', channel: 'PJSIP/5511900000003@carrier', actionId: 'dead-peer/req-3/1', success: false, reason: 5 });
    expect(call).toMatchObject({ responded: true, reason: 5 });
  });
});
