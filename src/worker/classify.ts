/**
 * From what the central said about a call to the one status Multcall receives.
 *
 * The OriginateResponse Reason is the primary signal; the Hangup Cause refines Reason 0/1,
 * which Asterisk uses for every kind of "could not be placed" (rejects, unallocated numbers,
 * busy signals lost through a Dial() on a trunk …). See docs/protocol.md for the table.
 */
import type { CallStatus } from '../protocol/messages.js';

export const REASON = { failed: 0, hungUp: 1, noAnswer: 3, answered: 4, busy: 5, congestion: 8 } as const;

/** Q.850 causes grouped by what they mean for a dialler. */
const CAUSE_STATUS: ReadonlyMap<number, CallStatus> = new Map<number, CallStatus>([
  [17, 'busy'],
  [18, 'no-answer'],
  [19, 'no-answer'],
  [20, 'no-answer'],
  [21, 'rejected'],
  [27, 'congestion'],
  [34, 'congestion'],
  [38, 'congestion'],
  [41, 'congestion'],
  [42, 'congestion'],
  [44, 'congestion'],
  [47, 'congestion'],
  [58, 'congestion'],
]);

/** Causes that say nothing about the callee: 0 (not set) and 16 (normal clearing). */
const UNINFORMATIVE = new Set([0, 16]);

/** The most telling cause among a call's legs: the first informative one, else 16, else 0. */
export function telling(causes: ReadonlyArray<{ cause: number; causeTxt: string }>): { cause: number; causeTxt: string } | null {
  return causes.find((c) => !UNINFORMATIVE.has(c.cause)) ?? causes.find((c) => c.cause === 16) ?? causes[0] ?? null;
}

export function classify(input: { reason: number | null; cause: number | null; cancelledByUs: boolean }): CallStatus {
  const { reason, cause, cancelledByUs } = input;
  if (reason === REASON.answered) return 'answered';
  if (reason === REASON.busy) return 'busy';
  if (reason === REASON.noAnswer) return 'no-answer';
  if (reason === REASON.congestion) return 'congestion';
  // Our Hangup ends the call with cause 16; a telling cause means the callee's side ended it
  // first (busy, rejected…), our Hangup finding the channel gone or about to go.
  if (cancelledByUs && (cause === null || UNINFORMATIVE.has(cause))) return 'cancelled';
  if (cause !== null) {
    const byCause = CAUSE_STATUS.get(cause);
    if (byCause) return byCause;
  }
  return reason === null ? 'unknown' : 'failed';
}
