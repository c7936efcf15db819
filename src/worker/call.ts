/**
 * One call's life inside a worker, from claim to its one result.
 *
 * Asterisk does not order OriginateResponse against the channels' Hangup events (the first
 * comes from the dialling thread, the others from the Stasis queue), so a call collects
 * whatever arrives and decides it has ended only when it has both what it needs.
 */
import type { CallEvent } from '../ami/types.js';
import type { CallResult, CallStatus, DialRequest } from '../protocol/messages.js';
import { classify, telling, REASON } from './classify.js';

export type AckState = 'none' | 'pending' | 'replied' | 'timeout';

export interface LegHangup {
  uniqueid: string;
  cause: number;
  causeTxt: string;
  at: number;
}

export class LiveCall {
  attempt = 0;
  actionId: string | undefined;
  /** Uniqueid of the dialled leg: our ChannelId on 12.2+, learnt from OriginateResponse before that. */
  primary: string | undefined;
  channelIds: string[] = [];
  /** Uniqueids the tracker found the call under besides `channelIds` (1.8/11 legs, listed legs). */
  otherUniqueids: string[] | undefined;
  originatedAt: number | null = null;
  answeredAt: number | null = null;
  endedAt: number | null = null;
  reason: number | null = null;
  responded = false;
  hangups: LegHangup[] = [];
  primaryHungUp = false;
  ack: AckState = 'none';
  codLigacao: string | null = null;
  detail: string | undefined;
  message: string | undefined;
  cancelledByUs = false;
  /** Adopted from a dead peer: no OriginateResponse will come to us. */
  adopted = false;
  /** The AMI link dropped while the call waited for its OriginateResponse: it may never come. */
  responseMayBeLost = false;
  /** Mirrors the record's state in Redis, as far as this process moved it. */
  state: 'claimed' | 'originating' | 'originated' = 'claimed';
  published = false;
  /** The central is done with the call: its result goes out as soon as it has settled. */
  ended = false;
  /** Watchdog and ACK timers: cleared when the result is published, so a finished call is garbage at once. */
  readonly timers: NodeJS.Timeout[] = [];
  /** For adopted calls: the central the peer placed it on (the record's), if it said. */
  central: string | undefined;
  /** Since when the central has not answered a check of this call (null: it answered the last). */
  uncheckedSince: number | null = null;
  /** For adopted calls: the record's state and last transition time when we took it over. */
  recordState: 'claimed' | 'originating' | 'originated' | undefined;
  lastTransitionAt = 0;
  /** Resolves once the Originate's reply was handled and Multcall's ACK reply came or timed out. */
  readonly settled: Promise<void>;
  private replyHandled = false;
  private resolveSettled: () => void = () => undefined;

  constructor(
    readonly id: string,
    readonly request: DialRequest | null,
    readonly claimedAt: number,
  ) {
    this.settled = new Promise<void>((resolve) => {
      this.resolveSettled = resolve;
    });
  }

  /** The Originate's reply (or its absence) has been dealt with. */
  replied(): void {
    this.replyHandled = true;
    this.checkSettled();
  }

  ackSettled(): void {
    this.checkSettled();
  }

  private checkSettled(): void {
    if (this.replyHandled && this.ack !== 'pending') this.resolveSettled();
  }

  /** Applies one event; returns true when the call's outcome is now known. */
  apply(event: CallEvent, now: number): boolean {
    const at = event.timestamp !== undefined ? Math.round(event.timestamp * 1000) : now;
    switch (event.kind) {
      case 'originate-response':
        this.responded = true;
        this.reason = event.reason;
        if (event.uniqueid && !this.primary) this.primary = event.uniqueid;
        if (event.success && this.answeredAt === null) this.answeredAt = at;
        break;
      case 'answered':
        if (this.answeredAt === null || at < this.answeredAt) this.answeredAt = at;
        break;
      case 'dial-end':
        break;
      case 'hangup':
        if (!this.hangups.some((h) => h.uniqueid === event.uniqueid)) {
          this.hangups.push({ uniqueid: event.uniqueid, cause: event.cause, causeTxt: event.causeTxt, at });
        }
        if (event.uniqueid === this.primary || (this.primary === undefined && this.adopted)) {
          this.primaryHungUp = true;
          this.endedAt = at;
        }
        break;
    }
    return this.outcomeKnown();
  }

  outcomeKnown(): boolean {
    // No OriginateResponse will come (adopted), or may never come (lost with the AMI link):
    // the dialled leg's Hangup ends the call. Otherwise it is awaited even after a Hangup,
    // which the central may send first, for its Reason.
    if ((this.adopted || this.responseMayBeLost) && !this.responded) return this.primaryHungUp;
    if (!this.responded) return false;
    if (this.reason === REASON.answered) return this.primaryHungUp;
    // A failure is final; the legs' Hangups only refine the cause (see settle in the tracker).
    return this.primaryHungUp;
  }

  /** After a failed OriginateResponse, the hangups that refine it arrive within milliseconds. */
  failedAwaitingCauses(): boolean {
    return this.responded && this.reason !== REASON.answered && !this.primaryHungUp;
  }

  status(): CallStatus {
    const cause = telling(this.hangups)?.cause ?? null;
    // With no OriginateResponse, an answer seen (an Up channel, a listing) is the best evidence.
    if (!this.responded) return this.answeredAt !== null ? 'answered' : classify({ reason: null, cause, cancelledByUs: this.cancelledByUs });
    return classify({ reason: this.reason, cause, cancelledByUs: this.cancelledByUs });
  }

  toResult(base: { celula: string; worker: string; central: string | null }, now: number, override?: { status?: CallStatus; detail?: string }): CallResult {
    const status = override?.status ?? this.status();
    // An answered call ended as its own leg says; the most telling cause of any leg would be a
    // busy agent's, or a Queue's losing ring, for a call that was answered all the same.
    // (Its cause 0, "not set", as a Local ;1 may end, tells nothing: the legs' then.)
    const primary = status === 'answered' ? this.hangups.find((h) => h.uniqueid === this.primary && h.cause !== 0) : undefined;
    // Its own leg's cause 0 says nothing: a normal clearing on another leg says the call ended
    // normally; only failing that, the most telling.
    const cause = primary ?? (status === 'answered' ? this.hangups.find((h) => h.cause === 16) : undefined) ?? telling(this.hangups);
    const endedAt = this.endedAt ?? this.hangups.at(-1)?.at ?? now;
    const answeredAt = status === 'answered' ? this.answeredAt : null;
    const detail = override?.detail ?? this.detail;
    return {
      v: 1,
      id: this.id,
      celula: base.celula,
      status,
      ...(detail ? { detail } : {}),
      ...(this.message ? { message: this.message } : {}),
      reason: this.responded ? this.reason : null,
      cause: cause?.cause ?? null,
      causeTxt: cause?.causeTxt ?? null,
      central: base.central,
      worker: base.worker,
      attempts: this.attempt,
      codLigacao: this.codLigacao,
      ack: this.ack === 'pending' ? 'timeout' : this.ack,
      claimedAt: this.claimedAt,
      originatedAt: this.originatedAt,
      answeredAt,
      endedAt,
      billsec: answeredAt !== null ? Math.max(0, Math.floor((endedAt - answeredAt) / 1000)) : 0,
    };
  }
}
