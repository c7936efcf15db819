/**
 * What a worker hears about its peers' calls.
 *
 * A central broadcasts every call event to every AMI session with `read=call`, so all
 * workers of a central hear each other's calls. Each worker keeps a short, bounded memory
 * of those it can attribute (by our ActionID or ChannelId format): when a peer dies, the
 * worker that adopts its calls can often report what really happened instead of `unknown`.
 */
import type { CallEvent } from '../ami/types.js';

/** `<worker>/<request>/<attempt>`: neither ids may contain `/`. */
export function actionIdFor(workerId: string, requestId: string, attempt: number): string {
  return `${workerId}/${requestId}/${attempt}`;
}

/** ChannelIds of an attempt's two legs; distinct prefixes keep them parseable whatever the request id. */
export function channelIdsFor(requestId: string, attempt: number): [string, string] {
  return [`mc${attempt}-${requestId}`, `mo${attempt}-${requestId}`];
}

export function requestOfActionId(actionId: string): string | undefined {
  const last = actionId.lastIndexOf('/');
  const first = actionId.lastIndexOf('/', last - 1);
  return first >= 0 && last > first ? actionId.slice(first + 1, last) : undefined;
}

export function requestOfChannelId(uniqueid: string): string | undefined {
  const match = /^m[co]\d+-(.+)$/.exec(uniqueid);
  return match?.[1];
}

export function requestOf(event: CallEvent): string | undefined {
  if (event.kind === 'originate-response') {
    return (event.actionId ? requestOfActionId(event.actionId) : undefined) ?? event.account ?? (event.uniqueid ? requestOfChannelId(event.uniqueid) : undefined);
  }
  return requestOfChannelId(event.uniqueid) ?? (event.kind === 'hangup' && event.accountCode ? event.accountCode : undefined);
}

/** An event, and when it was heard: a call adopted later is timed as it happened. */
export interface HeardEvent {
  event: CallEvent;
  at: number;
}

interface Heard {
  /** When the last event about the request was heard. */
  at: number;
  events: HeardEvent[];
}

/** Events kept per request: the first (often the answer) and the latest (the Hangups). */
const MAX_EVENTS = 16;
/** How long what was heard about a request is kept after its last event. */
export const OVERHEARD_TTL_MS = 180_000;

export class Overheard {
  /** In order of the last event heard: the stalest first. */
  private readonly byRequest = new Map<string, Heard>();
  /** When an entry was last dropped before its time (the memory was full). */
  private forgotAt = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly maxEntries = 50_000,
    private readonly ttlMs = OVERHEARD_TTL_MS,
    private readonly now: () => number = Date.now,
  ) {}

  record(event: CallEvent): void {
    if (event.kind === 'dial-end') return;
    const id = requestOf(event);
    if (!id) return;
    const at = this.now();
    const heard = this.byRequest.get(id);
    if (heard) {
      if (heard.events.length >= MAX_EVENTS) heard.events.splice(1, 1);
      heard.events.push({ event, at });
      heard.at = at;
      this.byRequest.delete(id);
      this.byRequest.set(id, heard);
      return;
    }
    this.byRequest.set(id, { at, events: [{ event, at }] });
    if (this.byRequest.size > this.maxEntries) this.evict();
  }

  /** Everything heard about a request, oldest first; empty if nothing (or nothing lately). */
  take(requestId: string): HeardEvent[] {
    const heard = this.byRequest.get(requestId);
    this.byRequest.delete(requestId);
    if (!heard || this.now() - heard.at > this.ttlMs) return [];
    return heard.events;
  }

  /**
   * Whether silence about a request since `since` means nothing was said: every event since
   * then is still kept (none aged out, none dropped because the memory was full).
   */
  remembersSince(since: number): boolean {
    const now = this.now();
    return now - since < this.ttlMs && this.forgotAt < since;
  }

  get size(): number {
    return this.byRequest.size;
  }

  private evict(): void {
    const now = this.now();
    const cutoff = now - this.ttlMs;
    for (const [id, heard] of this.byRequest) {
      if (this.byRequest.size <= this.maxEntries * 0.9 && heard.at >= cutoff) break;
      if (heard.at >= cutoff) this.forgotAt = now;
      this.byRequest.delete(id);
    }
  }
}
