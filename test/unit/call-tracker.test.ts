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

  it('ends a call whose OriginateResponse the AMI link lost on its dialled leg\'s Hangup; otherwise the response is awaited for its Reason', () => {
    const ended: LiveCall[] = [];
    const tracker = new CallTracker((c) => ended.push(c));
    const lost = new LiveCall('req-lost', null, 0);
    const early = new LiveCall('req-early', null, 0);
    for (const [call, uid] of [[lost, 'mc1-req-lost'], [early, 'mc1-req-early']] as const) {
      tracker.watchAction(call, `w/${call.id}/1`);
      call.channelIds = [uid];
      call.primary = uid;
      tracker.watchUniqueid(call, uid);
      call.answeredAt = 1000; // seen Up (an event, or the central listing it)
    }
    // The link dropped while `lost` waited for its response; it came back with the call still up.
    lost.responseMayBeLost = true;
    tracker.route({ kind: 'hangup', uniqueid: 'mc1-req-lost', channel: 'PJSIP/carrier-1', cause: 16, causeTxt: 'Normal Clearing' });
    // A Hangup the central sent before the OriginateResponse (it does not order them): the response still comes.
    tracker.route({ kind: 'hangup', uniqueid: 'mc1-req-early', channel: 'PJSIP/carrier-2', cause: 16, causeTxt: 'Normal Clearing' });
    expect(ended).toEqual([lost]);
    expect(lost.status()).toBe('answered');
    tracker.route({ kind: 'originate-response', channel: 'PJSIP/5511900000005@carrier', actionId: 'w/req-early/1', success: true, reason: 4 });
    expect(ended).toEqual([lost, early]);
    expect(early).toMatchObject({ reason: 4 });
    expect(early.status()).toBe('answered');
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

describe('LiveCall', () => {
  /** A call answered at 1 s whose legs then hang up as given, in order; its result at the last. */
  function answered(channel: string, hangups: Array<[uniqueid: string, cause: number, causeTxt: string, at: number]>) {
    const call = new LiveCall('req-3', null, 0);
    call.primary = 'mc1-req-3-1';
    call.apply({ kind: 'originate-response', channel, actionId: 'a', success: true, reason: 4, uniqueid: call.primary }, 1000);
    call.answeredAt = 1000;
    for (const [uniqueid, cause, causeTxt, at] of hangups) call.apply({ kind: 'hangup', uniqueid, channel: `PJSIP/${uniqueid}`, cause, causeTxt }, at);
    return call.toResult({ celula: 'vendas', worker: 'w', central: 'c' }, hangups.at(-1)?.[3] ?? 1000);
  }

  it('an answered call reports its own leg\'s cause, not a busy agent\'s', () => {
    // A Queue rang a busy agent first (same Linkedid), then the call ended normally.
    const result = answered('PJSIP/5511900000003@carrier', [['agent-1', 17, 'User busy', 2000], ['mc1-req-3-1', 16, 'Normal Clearing', 9000]]);
    expect(result).toMatchObject({ status: 'answered', cause: 16, causeTxt: 'Normal Clearing', billsec: 8 });
  });

  it('an answered call whose own leg ends with cause 0 (a Local ;1) reports the other legs\' cause', () => {
    const result = answered('Local/5511900000004@outbound/n', [['agent-1', 17, 'User busy', 2000], ['trunk-1', 16, 'Normal Clearing', 5000], ['mc1-req-3-1', 0, 'Unknown', 5000]]);
    expect(result).toMatchObject({ status: 'answered', cause: 16, causeTxt: 'Normal Clearing' });
  });
});
