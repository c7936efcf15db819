/**
 * Routes the central's events to this worker's calls.
 *
 * Every worker logged in to a central receives every call event of that central (AMI
 * broadcasts them), so most events belong to someone else and are dropped after one map
 * lookup. A call is found by our ActionID (OriginateResponse) or by a Uniqueid/Linkedid we
 * chose as ChannelId (12.2+) or learnt from OriginateResponse (1.8/11).
 */
import type { CallEvent } from '../ami/types.js';
import type { LiveCall } from './call.js';
import { requestOfActionId, type Overheard } from './overheard.js';

export class CallTracker {
  private readonly byActionId = new Map<string, LiveCall>();
  private readonly byUniqueid = new Map<string, LiveCall>();
  /** We set `Account:` to the request id: on every version it marks the call's channels. */
  private readonly byAccount = new Map<string, LiveCall>();
  private readonly settleTimers = new Map<LiveCall, NodeJS.Timeout>();
  private readonly live = new Set<LiveCall>();

  constructor(
    /** Called once when a call's outcome is known. */
    private readonly onEnded: (call: LiveCall) => void,
    /** Remembers events of calls that are not ours (a peer's), for when we adopt them. */
    private readonly overheard?: Overheard,
    /** How long a failed call waits for its legs' Hangups to refine the cause. */
    private readonly settleMs = 300,
    private readonly now: () => number = Date.now,
  ) {}

  get size(): number {
    return this.live.size;
  }

  calls(): IterableIterator<LiveCall> {
    return this.live.values();
  }

  watchAction(call: LiveCall, actionId: string): void {
    this.live.add(call);
    this.byActionId.set(actionId, call);
    this.byAccount.set(call.id, call);
  }

  /** A call taken over from a peer: found by its request id, and by the peer's ActionID for it. */
  watchAdopted(call: LiveCall): void {
    this.live.add(call);
    this.byAccount.set(call.id, call);
  }

  watchUniqueid(call: LiveCall, uniqueid: string): void {
    this.live.add(call);
    this.byUniqueid.set(uniqueid, call);
    // Our own ChannelIds are forgotten through the call; any other Uniqueid (learnt from an
    // OriginateResponse, or a leg the central listed) is noted to be forgotten with it.
    if (!call.channelIds.includes(uniqueid)) (call.otherUniqueids ??= []).push(uniqueid);
  }

  forget(call: LiveCall): void {
    this.live.delete(call);
    if (call.actionId && this.byActionId.get(call.actionId) === call) this.byActionId.delete(call.actionId);
    if (this.byAccount.get(call.id) === call) this.byAccount.delete(call.id);
    for (const id of call.channelIds) if (this.byUniqueid.get(id) === call) this.byUniqueid.delete(id);
    for (const id of call.otherUniqueids ?? []) if (this.byUniqueid.get(id) === call) this.byUniqueid.delete(id);
    const timer = this.settleTimers.get(call);
    if (timer) clearTimeout(timer);
    this.settleTimers.delete(call);
  }

  route(event: CallEvent): void {
    const call = this.find(event);
    if (!call) {
      this.overheard?.record(event);
      return;
    }
    if (event.kind === 'originate-response' && event.uniqueid && !this.byUniqueid.has(event.uniqueid)) {
      this.watchUniqueid(call, event.uniqueid);
    }
    if (call.apply(event, this.now())) {
      this.end(call);
    } else if (call.failedAwaitingCauses() && !this.settleTimers.has(call)) {
      const timer = setTimeout(() => this.end(call), this.settleMs);
      timer.unref();
      this.settleTimers.set(call, timer);
    }
  }

  /** Ends a call now (settle timer, sweep or watchdog). */
  end(call: LiveCall): void {
    if (!this.live.has(call)) return;
    this.forget(call);
    this.onEnded(call);
  }

  private find(event: CallEvent): LiveCall | undefined {
    if (event.kind === 'originate-response') {
      // An ActionID that is not ours is someone else's Originate, even when its Uniqueid is
      // one of our calls' (a ChannelId the central refused as already in use): never ours,
      // unless it is the Originate of a call we took over from that peer.
      if (event.actionId !== undefined) {
        const ours = this.byActionId.get(event.actionId);
        if (ours) return ours;
        const adopted = this.byAccount.get(requestOfActionId(event.actionId) ?? '');
        return adopted?.adopted && event.actionId.endsWith(`/${adopted.attempt}`) ? adopted : undefined;
      }
      return event.uniqueid ? this.byUniqueid.get(event.uniqueid) : undefined;
    }
    return (
      this.byUniqueid.get(event.uniqueid) ??
      (event.kind !== 'dial-end' && event.linkedid ? this.byUniqueid.get(event.linkedid) : undefined) ??
      (event.kind === 'hangup' && event.accountCode ? this.byAccount.get(event.accountCode) : undefined)
    );
  }
}
