/**
 * A PBX simulator that speaks AMI over TCP like an Asterisk of the chosen profile:
 * login and event masks, per-user read/write classes, async and sync Originate with
 * realistic event order, CoreShowChannels/Status/Getvar/Hangup, capacity limits, fault
 * injection, and a strict parser that records every malformed action it receives.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { AmiParser, AMI_MAX_CHANNEL_ID, type AmiMessage } from '../../ami/codec.js';
import type { AmiDialect } from '../../ami/types.js';
import { EventFactory, render, type EventClass, type Leg, type SimEvent } from './calls.js';
import {
  createOutcomeResolver,
  dialledNumber,
  PROFILE_AMI_VERSION,
  PROFILE_ASTERISK_VERSION,
  seededRandom,
  type CallOutcome,
  type OutcomeMix,
  type OutcomeResolver,
  type PbxProfile,
} from './outcomes.js';

export interface PbxUser {
  username: string;
  secret: string;
  /** Event classes the user may read, e.g. ['call','system'] or ['all']. */
  read: string[];
  /** Action classes the user may use, e.g. ['originate','call']. */
  write: string[];
  /**
   * The user's `eventfilter(action(include),name(…))` lines in manager.conf: when set, only
   * events of these names reach its sessions. Replies to actions, lists included, are not
   * events and always do.
   */
  eventFilter?: readonly string[];
}

export interface PbxSimulatorOptions {
  host?: string;
  port?: number;
  profile?: PbxProfile;
  users?: PbxUser[];
  outcome?: OutcomeResolver | Record<string, CallOutcome>;
  mix?: OutcomeMix;
  seed?: number;
  /** Multiplies every simulated duration (ring, talk, timeouts); 0.01 = 100× faster. */
  timeScale?: number;
  /** Let OriginateResponse land anywhere among the final events, as it does for real. */
  randomizeOrder?: boolean;
  /** Calls at once; beyond it an Originate fails with congestion (Cause 34). */
  maxChannels?: number;
  /** Delay before `Authentication failed` (Asterisk waits ~1 s). Not scaled. */
  authFailDelayMs?: number;
  /**
   * A channel variable carrying the epoch time (ms, fractional) when the call was queued: the
   * simulator then records queue → Originate-on-the-wire latency (see `stats().wireLatency`).
   */
  latencyVariable?: string;
  /** Called as each Originate arrives (before it is checked), e.g. to time enqueue → wire. */
  onOriginate?: (requestId: string | undefined) => void;
  /** Which destinations exist; default: every one except extension or context `nosuch`. */
  extensionExists?: (context: string, exten: string) => boolean;
}

export interface PbxStats {
  originates: number;
  originatesByRequest: Map<string, number>;
  duplicates: string[];
  malformed: Array<{ reason: string; sample: string }>;
  liveChannels: number;
  peakChannels: number;
  connections: number;
  /** Queue → Originate latency in ms, when `latencyVariable` is set and requests carry it. */
  wireLatency?: { count: number; p50: number; p99: number; max: number };
}

export interface OriginateArrival {
  requestId: string | undefined;
  /** Epoch ms when the action arrived. */
  at: number;
}

export interface PbxFaults {
  dropConnections(): void;
  /**
   * The next batch of events that holds an event named `name` (e.g. `OriginateResponse`) is
   * lost: every connection drops as it is about to go out; what was written before goes first.
   */
  dropOn(name: string): void;
  /**
   * The central hangs for `ms`: connections stay open and what clients send is received
   * (as a kernel would buffer it) but nothing is acted on or answered until the stall ends.
   */
  stall(ms: number): void;
  refuseLogins(on: boolean): void;
  slowLogin(ms: number): void;
  flood(eventsPerSecond: number, durationMs: number): void;
  setDown(on: boolean): void;
  /**
   * Channel listings (`Status`, `CoreShowChannels`) fail with an error while every other
   * action is answered: a central too loaded to list its channels.
   */
  failListings(on: boolean): void;
}

export interface PbxSimulator {
  readonly host: string;
  readonly port: number;
  readonly profile: PbxProfile;
  readonly banner: string;
  stats(): PbxStats;
  /** Every Originate in order of arrival on the socket (even while stalled), with its request id. */
  originateLog(): ReadonlyArray<OriginateArrival>;
  readonly faults: PbxFaults;
  close(): Promise<void>;
}

/** A worker's least-privilege user: `read = call,system`, `write = originate,call`. */
export const DEFAULT_PBX_USER: PbxUser = { username: 'multcall', secret: 'multcall', read: ['call', 'system'], write: ['originate', 'call'] };

/** Action → write classes, any one of which allows it (as manager.c checks authority). */
const ACTION_CLASSES: Record<string, string[]> = {
  originate: ['originate'],
  hangup: ['system', 'call'],
  command: ['command'],
  coreshowchannels: ['system', 'reporting'],
  coresettings: ['system', 'reporting'],
  status: ['system', 'call', 'reporting'],
  getvar: ['call', 'reporting'],
};
const KNOWN_TECHS = new Set(['local', 'pjsip', 'sip', 'iax2', 'dahdi', 'dongle', 'khomp']);

interface Session {
  socket: Socket;
  user: PbxUser | undefined;
  /** Session event mask; `all` until a Login/Events header narrows it. */
  mask: Set<string> | 'all' | 'none';
  queue: AmiMessage[];
  busy: boolean;
  held: string[];
  /** Written this turn of the event loop, not yet on the socket. */
  out: string;
  deaf: boolean;
  closing: boolean;
}

interface SimCall {
  actionId: string | undefined;
  requestId: string | undefined;
  dialString: string;
  context: string;
  exten: string;
  callerNum: string;
  callerName: string;
  timeoutMs: number;
  legs: Leg[];
  phase: 'setup' | 'ringing' | 'up' | 'done';
  timers: Set<NodeJS.Timeout>;
  outcome: CallOutcome;
  failureUniqueid: string;
  /** Set for a non-async Originate: settles the deferred reply. */
  syncDone?: (ok: boolean) => void;
}

function summarize(values: readonly number[]): { count: number; p50: number; p99: number; max: number } {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
  return { count: sorted.length, p50: at(0.5), p99: at(0.99), max: sorted.at(-1) ?? Number.NaN };
}

/** Splits a `Variable:` value the way Asterisk's app argument parser does (quotes, `\`, parens). */
export function splitVariableHeader(value: string): Array<[string, string]> {
  const parts: string[] = [];
  let cur = '';
  let quote = false;
  let paren = 0;
  let bracket = 0;
  for (let i = 0; i < value.length; i++) {
    const c = value[i] as string;
    if (c === '\\') {
      cur += value[i + 1] ?? '';
      i++;
    } else if (c === '"') quote = !quote;
    else if (c === ',' && !quote && paren === 0 && bracket === 0) {
      parts.push(cur);
      cur = '';
    } else {
      if (c === '(') paren++;
      else if (c === ')' && paren > 0) paren--;
      else if (c === '[') bracket++;
      else if (c === ']' && bracket > 0) bracket--;
      cur += c;
    }
  }
  parts.push(cur);
  return parts
    .filter((p) => p.includes('='))
    .map((p) => {
      const eq = p.indexOf('=');
      return [p.slice(0, eq), p.slice(eq + 1)];
    });
}

export async function startPbxSimulator(options: PbxSimulatorOptions = {}): Promise<PbxSimulator> {
  const profile = options.profile ?? '20';
  const dialect: AmiDialect = profile === '1.8' || profile === '11' ? 'pre12' : 'stasis';
  const banner = `Asterisk Call Manager/${PROFILE_AMI_VERSION[profile]}`;
  const factory = new EventFactory(dialect, (cls, name) => {
    for (const session of sessions) if (canRead(session, cls, name)) return true;
    return false;
  });
  const users = options.users ?? [DEFAULT_PBX_USER];
  const scale = options.timeScale ?? 1;
  const resolveOutcome = createOutcomeResolver({ outcome: options.outcome, mix: options.mix, seed: options.seed });
  const orderRandom = seededRandom((options.seed ?? 1) + 7);
  const extensionExists = options.extensionExists ?? ((context, exten) => context !== 'nosuch' && exten !== 'nosuch');
  const authFailDelayMs = options.authFailDelayMs ?? 1000;

  const sessions = new Set<Session>();
  const legsByName = new Map<string, Leg>();
  const legsById = new Map<string, Leg>();
  const callOfLeg = new Map<Leg, SimCall>();
  const liveCalls = new Set<SimCall>();
  const globalTimers = new Set<NodeJS.Timeout>();
  const originatesByRequest = new Map<string, number>();
  const arrivals: OriginateArrival[] = [];
  const wireDelays: number[] = [];
  const malformed: Array<{ reason: string; sample: string }> = [];
  let originates = 0;
  let peak = 0;
  let connections = 0;
  let channelSeq = 0x40;
  let uniqueSeq = 0;
  let refuseLogins = false;
  let slowLoginMs = 0;
  let stalledUntil = 0;
  let listingsFail = false;
  let stallGeneration = 0;
  let down = false;
  let closed = false;
  let dropOn: string | undefined;

  const scaled = (ms: number): number => Math.max(0, Math.round(ms * scale));
  const later = (ms: number, fn: () => void, set: Set<NodeJS.Timeout> = globalTimers): void => {
    const t = setTimeout(() => {
      set.delete(t);
      fn();
    }, ms);
    set.add(t);
  };

  // ------------------------------------------------------------------ output

  function write(session: Session, data: string): void {
    if (session.deaf || session.closing || session.socket.destroyed) return;
    if (Date.now() < stalledUntil) {
      session.held.push(data);
      return;
    }
    // Everything written in one turn of the event loop (every timer that fired, every action
    // read) leaves in one write: a real Asterisk also sends events in bursts, and a syscall
    // per event would make the simulator the bottleneck.
    if (session.out === '') setImmediate(flush, session);
    session.out += data;
  }

  function flush(session: Session): void {
    const out = session.out;
    session.out = '';
    if (out && !session.deaf && !session.socket.destroyed && !session.socket.writableEnded) session.socket.write(out);
  }

  /** Ends a session as Asterisk does after its last reply: what was written goes out first. */
  function close(session: Session): void {
    session.closing = true;
    flush(session);
    session.socket.end();
  }

  /** Whether the session gets an event of this class; of this name too, if it is filtered (`name` given). */
  function canRead(session: Session, cls: EventClass | 'security', name?: string): boolean {
    const user = session.user;
    if (!user) return false;
    if (!user.read.includes('all') && !user.read.includes(cls)) return false;
    if (name !== undefined && user.eventFilter && !user.eventFilter.includes(name)) return false;
    return session.mask === 'all' || (session.mask !== 'none' && session.mask.has(cls));
  }

  function broadcast(events: ReadonlyArray<SimEvent | undefined>): void {
    if (dropOn !== undefined && events.some((e) => e?.name === dropOn)) {
      dropOn = undefined;
      for (const session of sessions) {
        flush(session);
        session.socket.destroy();
      }
      return;
    }
    for (const session of sessions) {
      let out = '';
      for (const event of events) if (event && canRead(session, event.cls, event.name)) out += event.wire;
      if (out) write(session, out);
    }
  }

  function reply(session: Session, fields: ReadonlyArray<readonly [string, string | number]>, actionId: string | undefined): void {
    const headers: Array<readonly [string, string | number]> = [];
    const [first, ...rest] = fields;
    if (first) headers.push(first);
    // Asterisk echoes ActionID right after Response, and only if the action had one.
    if (actionId !== undefined) headers.push(['ActionID', actionId]);
    headers.push(...rest);
    write(session, render(headers));
  }

  const error = (session: Session, actionId: string | undefined, message: string): void =>
    reply(session, [['Response', 'Error'], ['Message', message]], actionId);

  // ------------------------------------------------------------------ channels

  function newUniqueid(): string {
    uniqueSeq += 1;
    return `${Math.floor(Date.now() / 1000)}.${uniqueSeq}`;
  }

  function makeLeg(name: string, uniqueid: string, linkedid: string, state: number, call: SimCall, context: string, exten: string, account: string): Leg {
    const leg: Leg = {
      name,
      uniqueid,
      linkedid,
      state,
      context,
      exten,
      priority: 1,
      accountCode: account,
      callerNum: '<unknown>',
      callerName: '<unknown>',
      connectedNum: '<unknown>',
      connectedName: '<unknown>',
      createdAt: Date.now(),
      variables: new Map(),
    };
    legsByName.set(name, leg);
    legsById.set(uniqueid, leg);
    callOfLeg.set(leg, call);
    return leg;
  }

  function dropLeg(leg: Leg): void {
    legsByName.delete(leg.name);
    legsById.delete(leg.uniqueid);
    callOfLeg.delete(leg);
  }

  function endCall(call: SimCall): void {
    call.phase = 'done';
    for (const t of call.timers) clearTimeout(t);
    call.timers.clear();
    for (const leg of call.legs) dropLeg(leg);
    liveCalls.delete(call);
  }

  /** The final batch of a call; OriginateResponse may move among the Hangups when randomised. */
  function finalBatch(events: Array<SimEvent | undefined>, response: SimEvent | undefined): Array<SimEvent | undefined> {
    if (!response) return events;
    const at = events.indexOf(response);
    if (!options.randomizeOrder || at < 0) return events;
    const rest = events.filter((e) => e !== response);
    rest.splice(Math.floor(orderRandom() * (rest.length + 1)), 0, response);
    return rest;
  }

  function originateResponse(call: SimCall, success: boolean, reason: number): SimEvent | undefined {
    if (call.syncDone) {
      call.syncDone(success);
      return undefined;
    }
    const first = call.legs[0];
    return factory.originateResponse({
      ...(call.actionId !== undefined ? { actionId: call.actionId } : {}),
      success,
      channel: success && first ? first.name : call.dialString,
      context: call.context,
      exten: call.exten,
      reason,
      uniqueid: success && first ? first.uniqueid : call.failureUniqueid,
      callerNum: call.callerNum || '<unknown>',
      callerName: call.callerName || '<unknown>',
    });
  }

  function setState(leg: Leg, state: number): SimEvent | undefined {
    leg.state = state;
    return factory.newstate(leg);
  }

  function ringing(call: SimCall): void {
    const [one, two] = call.legs;
    if (!one) return;
    call.phase = 'ringing';
    if (two) {
      broadcast([factory.newexten(two, 'Ringing', ''), setState(one, 5), factory.newexten(two, 'Wait', '30'), factory.dialState(one, 'RINGING')]);
    } else {
      broadcast([setState(one, 5), factory.dialState(one, 'RINGING')]);
    }
  }

  function answer(call: SimCall, talkMs: number): void {
    const [one, two] = call.legs;
    if (!one) return;
    const events: Array<SimEvent | undefined> = [];
    if (two && call.phase !== 'ringing') events.push(factory.newexten(two, 'NoOp', 'sim answer'));
    call.phase = 'up';
    if (two) events.push(factory.newexten(two, 'Answer', ''), setState(two, 6));
    events.push(setState(one, 6), factory.dialEnd(one, 'ANSWER'));
    one.context = call.context;
    one.exten = call.exten;
    events.push(factory.newexten(one, 'NoOp', 'agent leg'));
    one.priority = 2;
    events.push(factory.newexten(one, 'Answer', ''));
    one.priority = 3;
    events.push(factory.newexten(one, 'Wait', '2'));
    events.push(originateResponse(call, true, 4));
    if (two) events.push(factory.newexten(two, 'Wait', '1'));
    broadcast(events);
    later(scaled(talkMs), () => hangupAnswered(call, 16, 'callee'), call.timers);
  }

  function hangupAnswered(call: SimCall, cause: number, by: 'callee' | 'ami'): void {
    if (call.phase === 'done') return;
    const [one, two] = call.legs;
    if (!one) return;
    const events: Array<SimEvent | undefined> = [];
    if (two) {
      if (by === 'callee') events.push(factory.newexten(two, 'Hangup', ''));
      events.push(factory.hangupRequest(two, cause, true), factory.hangupRequest(one, cause), factory.hangup(two, cause), factory.hangupRequest(one, cause, true), factory.hangup(one, cause));
    } else {
      events.push(factory.hangupRequest(one, cause), factory.hangup(one, cause));
    }
    endCall(call);
    broadcast(events);
  }

  /** Busy (17, Reason 5) and congestion (34, Reason 8): the callee signals, the ;1 leg ends with 0. */
  function signalled(call: SimCall, cause: 17 | 34): void {
    const [one, two] = call.legs;
    if (!one) return;
    const app = cause === 17 ? 'Busy' : 'Congestion';
    const status = cause === 17 ? 'BUSY' : 'CONGESTION';
    const reason = cause === 17 ? 5 : 8;
    let events: Array<SimEvent | undefined>;
    let response: SimEvent | undefined;
    if (two) {
      events = [factory.newexten(two, app, '2'), setState(two, 7), factory.dialEnd(one, status), factory.hangupRequest(two, 0), factory.hangupRequest(two, 16, true), factory.hangup(two, cause)];
      response = originateResponse(call, false, reason);
      events.push(response, factory.hangup(one, 0));
    } else {
      events = [factory.dialEnd(one, status), factory.hangupRequest(one, cause), factory.hangup(one, cause)];
      response = originateResponse(call, false, reason);
      events.push(response);
    }
    endCall(call);
    broadcast(finalBatch(events, response));
  }

  /** Reject (21) / unallocated (1): hung up before answer, Reason 0. */
  function refused(call: SimCall, cause: number): void {
    const [one, two] = call.legs;
    if (!one) return;
    let events: Array<SimEvent | undefined>;
    if (two) {
      events = [factory.newexten(two, 'Hangup', String(cause)), factory.hangupRequest(two, 16, true), factory.hangupRequest(one, cause), factory.hangup(two, cause), factory.dialEnd(one, 'NOANSWER')];
    } else {
      events = [factory.hangupRequest(one, cause), factory.dialEnd(one, 'NOANSWER')];
    }
    const response = originateResponse(call, false, dialect === 'pre12' ? 1 : 0);
    events.push(response, factory.hangup(one, cause));
    endCall(call);
    broadcast(finalBatch(events, response));
  }

  function noAnswer(call: SimCall): void {
    if (call.phase === 'done') return;
    const [one, two] = call.legs;
    if (!one) return;
    const events: Array<SimEvent | undefined> = [];
    if (two) events.push(factory.hangupRequest(two, 19), factory.hangupRequest(two, 16, true));
    else events.push(factory.hangupRequest(one, 19));
    const response = originateResponse(call, false, 3);
    events.push(response, factory.hangup(one, 19));
    if (two) events.push(factory.hangup(two, 19));
    endCall(call);
    broadcast(finalBatch(events, response));
  }

  /** AMI Hangup of a ringing originate: Reason 0, Cause from the action (16). */
  function cancel(call: SimCall, cause: number): void {
    const [one, two] = call.legs;
    if (!one) return;
    const events: Array<SimEvent | undefined> = [factory.dialEnd(one, 'NOANSWER')];
    if (two) events.push(factory.hangupRequest(two, cause), factory.hangupRequest(two, cause, true));
    events.push(factory.hangup(one, cause));
    const response = originateResponse(call, false, 0);
    events.push(response);
    if (two) events.push(factory.hangup(two, cause));
    endCall(call);
    broadcast(finalBatch(events, response));
  }

  function failWithoutChannel(call: SimCall, reason: number): void {
    const response = originateResponse(call, false, reason);
    endCall(call);
    broadcast([response]);
  }

  function startCall(call: SimCall, channelId: string | undefined, otherChannelId: string | undefined, account: string, variables: Array<[string, string]>): void {
    const slash = call.dialString.indexOf('/');
    const tech = call.dialString.slice(0, slash);
    const target = call.dialString.slice(slash + 1);
    const isLocal = tech.toLowerCase() === 'local';
    const hexSeq = (channelSeq++).toString(16).padStart(8, '0');
    const suffix = dialect === 'pre12' ? hexSeq.slice(-4) : hexSeq;

    if (!KNOWN_TECHS.has(tech.toLowerCase()) || call.outcome.kind === 'badchannel') {
      later(scaled(20), () => failWithoutChannel(call, 0));
      return;
    }
    if (channelId !== undefined && legsById.has(channelId)) {
      // A reused ChannelId cannot create a channel.
      call.failureUniqueid = channelId;
      later(scaled(20), () => failWithoutChannel(call, 0));
      return;
    }
    const uid1 = channelId ?? newUniqueid();
    const uid2 = otherChannelId ?? (channelId !== undefined ? `${channelId};2` : newUniqueid());
    const number = dialledNumber(call.dialString);
    const at = target.indexOf('@');
    const localContext = at >= 0 ? target.slice(at + 1) : 'default';
    const base = isLocal ? `Local/${target}-${suffix}` : `${tech}/${at >= 0 ? target.slice(at + 1) : target.split('/')[0]}-${suffix}`;
    const one = makeLeg(isLocal ? `${base};1` : base, uid1, uid1, 0, call, isLocal ? localContext : call.context, isLocal ? number : call.exten, account);
    call.legs.push(one);
    let two: Leg | undefined;
    if (isLocal) {
      two = makeLeg(`${base};2`, uid2, uid1, 4, call, localContext, number, account);
      call.legs.push(two);
    }
    const overCapacity = options.maxChannels !== undefined && liveCalls.size >= options.maxChannels;
    if (!overCapacity) {
      liveCalls.add(call);
      peak = Math.max(peak, liveCalls.size);
    }

    const events: Array<SimEvent | undefined> = [factory.newchannel(one)];
    if (two) events.push(factory.newchannel(two));
    events.push(factory.newexten(one, 'AppDial2', '(Outgoing Line)'));
    for (const [name, value] of variables) {
      one.variables.set(name, value);
      events.push(factory.varSet(one, name, value));
    }
    const cid = /^\s*"?([^"<]*)"?\s*<([^>]*)>/.exec(call.callerNum);
    const setCallerId = (leg: Leg): void => {
      leg.callerName = cid?.[1]?.trim() || call.callerName || leg.callerName;
      leg.callerNum = cid?.[2] ?? leg.callerNum;
      leg.connectedName = leg.callerName;
      leg.connectedNum = leg.callerNum;
    };
    if (call.callerNum) {
      setCallerId(one);
      events.push(factory.newCallerid(one), factory.newConnectedLine(one));
    }
    if (two) {
      for (const [name, value] of variables) {
        two.variables.set(name, value);
        events.push(factory.varSet(two, name, value));
      }
      if (call.callerNum) {
        setCallerId(two);
        events.push(factory.newCallerid(two), factory.newConnectedLine(two));
      }
      events.push(factory.localBridge(one, two));
    }
    events.push(factory.dialBegin(one, isLocal ? target : call.dialString.slice(slash + 1)));
    // Normalise the caller id fields the OriginateResponse reports.
    call.callerName = one.callerName;
    call.callerNum = one.callerNum;

    if (overCapacity) {
      // Capacity exhausted: the carrier/channel driver answers with congestion.
      events.push(factory.hangupRequest(one, 34), factory.hangup(one, 34));
      const response = originateResponse(call, false, 8);
      events.push(response);
      if (two) events.push(factory.hangup(two, 34));
      endCall(call);
      broadcast(events);
      return;
    }
    broadcast(events);

    const outcome = call.outcome;
    const timeout = scaled(call.timeoutMs);
    if (outcome.kind === 'noanswer') {
      later(scaled(50), () => ringing(call), call.timers);
      later(timeout, () => noAnswer(call), call.timers);
      return;
    }
    const ringMs = scaled(outcome.kind === 'answer' ? (outcome.ringMs ?? 0) : ('ringMs' in outcome ? (outcome.ringMs ?? 50) : 50));
    if (ringMs >= timeout) {
      later(scaled(50), () => ringing(call), call.timers);
      later(timeout, () => noAnswer(call), call.timers);
      return;
    }
    const settle = (): void => {
      if (call.phase === 'done') return;
      switch (outcome.kind) {
        case 'answer':
          return answer(call, outcome.talkMs ?? 1000);
        case 'busy':
          return signalled(call, 17);
        case 'congestion':
          return signalled(call, 34);
        case 'reject':
          return refused(call, 21);
        case 'unallocated':
          return refused(call, 1);
        default:
          return undefined;
      }
    };
    if (outcome.kind === 'answer' && ringMs > 0) later(Math.min(scaled(50), ringMs), () => ringing(call), call.timers);
    if (ringMs === 0) setImmediate(settle);
    else later(ringMs, settle, call.timers);
  }

  // ------------------------------------------------------------------ actions

  function variablesOf(message: AmiMessage): Array<[string, string]> {
    return (message.headers ?? []).filter(([k]) => k.toLowerCase() === 'variable').flatMap(([, v]) => splitVariableHeader(v));
  }

  function requestIdOf(variables: Array<[string, string]>, account: string | undefined): string | undefined {
    const fromVar = variables.find(([name]) => name === 'MC_REQ')?.[1];
    return fromVar ?? (account || undefined);
  }

  function originate(session: Session, message: AmiMessage, actionId: string | undefined): Promise<void> | void {
    const f = message.fields;
    const variables = variablesOf(message);
    const requestId = requestIdOf(variables, f.account);
    originates += 1;
    if (requestId !== undefined) originatesByRequest.set(requestId, (originatesByRequest.get(requestId) ?? 0) + 1);
    options.onOriginate?.(requestId);
    if (options.latencyVariable !== undefined) {
      const queuedAt = Number(variables.find(([name]) => name === options.latencyVariable)?.[1]);
      if (Number.isFinite(queuedAt)) wireDelays.push(performance.timeOrigin + performance.now() - queuedAt);
    }

    const channel = f.channel ?? '';
    if (!channel) return error(session, actionId, 'Channel not specified');
    if (f.application && /^(system|exec|trysystem)$/i.test(f.application)) return error(session, actionId, 'Originate Access Forbidden: app or data blacklisted');
    if (f.priority && !/^-?\d+$/.test(f.priority)) return error(session, actionId, 'Invalid priority');
    if (f.timeout && !/^-?\d+$/.test(f.timeout)) return error(session, actionId, 'Invalid timeout');
    if (!channel.includes('/')) return error(session, actionId, 'Invalid channel');
    const channelId = dialect === 'stasis' ? f.channelid || undefined : undefined;
    const otherChannelId = dialect === 'stasis' ? f.otherchannelid || undefined : undefined;
    if ((channelId?.length ?? 0) > AMI_MAX_CHANNEL_ID || (otherChannelId?.length ?? 0) > AMI_MAX_CHANNEL_ID) {
      return error(session, actionId, `Uniqueid length exceeds maximum of ${AMI_MAX_CHANNEL_ID}\n`);
    }
    if (!f.application && f.exten && (!f.context || !f.priority)) return error(session, actionId, "Originate with 'Exten' requires 'Context' and 'Priority'");
    if (!f.application && f.exten && f.context && !extensionExists(f.context, f.exten)) return error(session, actionId, 'Extension does not exist.');

    const callerId = f.callerid ?? '';
    const call: SimCall = {
      actionId,
      requestId,
      dialString: channel,
      context: f.context ?? '',
      exten: f.exten ?? '',
      callerNum: callerId,
      callerName: '',
      timeoutMs: f.timeout ? Number(f.timeout) : 30_000,
      legs: [],
      phase: 'setup',
      timers: new Set(),
      outcome: resolveOutcome(requestId === undefined ? { number: dialledNumber(channel), channel } : { number: dialledNumber(channel), channel, requestId }),
      failureUniqueid: dialect === 'pre12' ? '<null>' : (channelId ?? '<unknown>'),
    };
    const isAsync = /^(true|yes|1|on)$/i.test(f.async ?? '');
    if (isAsync) {
      reply(session, [['Response', 'Success'], ['Message', 'Originate successfully queued']], actionId);
      setImmediate(() => {
        if (!closed) startCall(call, channelId, otherChannelId, f.account ?? '', variables);
      });
      return;
    }
    // A synchronous Originate blocks the session until the call is answered or fails.
    return new Promise<void>((resolve) => {
      call.syncDone = (ok) => {
        if (ok) reply(session, [['Response', 'Success'], ['Message', 'Originate successfully queued']], actionId);
        else error(session, actionId, 'Originate failed');
        call.syncDone = () => undefined;
        resolve();
      };
      startCall(call, channelId, otherChannelId, f.account ?? '', variables);
    });
  }

  function findLeg(name: string | undefined): Leg | undefined {
    if (!name) return undefined;
    return legsByName.get(name) ?? legsById.get(name);
  }

  function parseMask(value: string | undefined): Session['mask'] {
    if (value === undefined) return 'all';
    const v = value.trim().toLowerCase();
    if (['on', 'yes', 'true', 'all', '1'].includes(v)) return 'all';
    if (['off', 'no', 'false', '0', ''].includes(v)) return 'none';
    return new Set(v.split(',').map((s) => s.trim()));
  }

  async function login(session: Session, fields: AmiMessage['fields'], actionId: string | undefined): Promise<void> {
    const user = users.find((u) => u.username === fields.username);
    if (refuseLogins || !user || user.secret !== fields.secret) {
      await new Promise((r) => later(authFailDelayMs, () => r(undefined)));
      error(session, actionId, 'Authentication failed');
      close(session);
      return;
    }
    if (slowLoginMs > 0) await new Promise((r) => later(slowLoginMs, () => r(undefined)));
    session.user = user;
    session.mask = parseMask(fields.events);
    reply(session, [['Response', 'Success'], ['Message', 'Authentication accepted']], actionId);
    let out = '';
    // Written straight to the session by the login, not sent as an event: no eventfilter applies.
    if (canRead(session, 'system')) out += render([['Event', 'FullyBooted'], ['Privilege', 'system,all'], ['Uptime', 422], ['LastReload', 414], ['Status', 'Fully Booted']]);
    if (canRead(session, 'security', 'SuccessfulAuth')) {
      const now = new Date().toISOString().replace('Z', '+0000');
      out += render([['Event', 'SuccessfulAuth'], ['Privilege', 'security,all'], ['EventTV', now], ['Severity', 'Informational'], ['Service', 'AMI'], ['EventVersion', 1], ['AccountID', user.username], ['SessionID', `0x${connections.toString(16)}`], ['LocalAddress', `IPV4/TCP/${session.socket.localAddress ?? ''}/${session.socket.localPort ?? 0}`], ['RemoteAddress', `IPV4/TCP/${session.socket.remoteAddress ?? ''}/${session.socket.remotePort ?? 0}`], ['UsingPassword', 0], ['SessionTV', now]]);
    }
    if (out) write(session, out);
  }

  function listChannels(session: Session, actionId: string | undefined): void {
    reply(session, [['Response', 'Success'], ['EventList', 'start'], ['Message', 'Channels will follow']], actionId);
    let out = '';
    let n = 0;
    const now = Date.now();
    for (const leg of legsByName.values()) {
      n++;
      const secs = Math.floor((now - leg.createdAt) / 1000);
      const hh = String(Math.floor(secs / 3600)).padStart(2, '0');
      const mm = String(Math.floor(secs / 60) % 60).padStart(2, '0');
      const ss = String(secs % 60).padStart(2, '0');
      const head: Array<[string, string | number]> = [['Event', 'CoreShowChannel']];
      if (actionId !== undefined) head.push(['ActionID', actionId]);
      out += render([
        ...head,
        ['Channel', leg.name],
        ['ChannelState', leg.state],
        ['ChannelStateDesc', leg.state === 6 ? 'Up' : leg.state === 5 ? 'Ringing' : leg.state === 4 ? 'Ring' : 'Down'],
        ['CallerIDNum', leg.callerNum],
        ['CallerIDName', leg.callerName],
        ['ConnectedLineNum', leg.connectedNum],
        ['ConnectedLineName', leg.connectedName],
        ['Language', 'en'],
        ['AccountCode', leg.accountCode],
        ['Context', leg.context],
        ['Exten', leg.exten],
        ['Priority', leg.priority],
        ['Uniqueid', leg.uniqueid],
        ['Linkedid', leg.linkedid],
        ['Application', leg.state === 6 ? 'Wait' : 'AppDial2'],
        ['ApplicationData', leg.state === 6 ? '2' : '(Outgoing Line)'],
        ['Duration', `${hh}:${mm}:${ss}`],
        ['BridgeId', ''],
      ]);
    }
    const tail: Array<[string, string | number]> = [['Event', 'CoreShowChannelsComplete']];
    if (actionId !== undefined) tail.push(['ActionID', actionId]);
    out += render([...tail, ['EventList', 'Complete'], ['ListItems', n]]);
    write(session, out);
  }

  function status(session: Session, fields: AmiMessage['fields'], actionId: string | undefined): void {
    const wanted = fields.channel;
    const legs = wanted ? [findLeg(wanted)].filter((l): l is Leg => l !== undefined) : [...legsByName.values()];
    if (wanted && legs.length === 0) return error(session, actionId, 'No such channel');
    reply(session, [['Response', 'Success'], ['EventList', 'start'], ['Message', 'Channel status will follow']], actionId);
    let out = '';
    for (const leg of legs) {
      const body: Array<[string, string | number]> = [
        ['Event', 'Status'],
        ['Privilege', 'Call'],
        ['Channel', leg.name],
        ['ChannelState', leg.state],
        ['ChannelStateDesc', leg.state === 6 ? 'Up' : 'Ringing'],
        ['CallerIDNum', leg.callerNum],
        ['CallerIDName', leg.callerName],
        ['AccountCode', leg.accountCode],
        ['Context', leg.context],
        ['Exten', leg.exten],
        ['Priority', leg.priority],
        ['Uniqueid', leg.uniqueid],
        ['Linkedid', leg.linkedid],
        ['Seconds', Math.floor((Date.now() - leg.createdAt) / 1000)],
      ];
      if (actionId !== undefined) body.push(['ActionID', actionId]);
      out += render(body);
    }
    const tail: Array<[string, string | number]> = [['Event', 'StatusComplete']];
    if (actionId !== undefined) tail.push(['ActionID', actionId]);
    out += render([...tail, ['EventList', 'Complete'], ['ListItems', legs.length], ['Items', legs.length]]);
    write(session, out);
  }

  function hangupAction(session: Session, fields: AmiMessage['fields'], actionId: string | undefined): void {
    const leg = findLeg(fields.channel);
    const call = leg ? callOfLeg.get(leg) : undefined;
    if (!leg || !call) return error(session, actionId, 'No such channel');
    const cause = Number.parseInt(fields.cause ?? '16', 10) || 16;
    reply(session, [['Response', 'Success'], ['Message', 'Channel Hungup']], actionId);
    setImmediate(() => {
      if (call.phase === 'up') hangupAnswered(call, cause, 'ami');
      else if (call.phase !== 'done') cancel(call, cause);
    });
  }

  async function handle(session: Session, message: AmiMessage): Promise<void> {
    const f = message.fields;
    const actionId = f.actionid;
    if (message.malformed) {
      malformed.push(message.malformed);
      return error(session, actionId, `Malformed action: ${message.malformed.reason}`);
    }
    const action = (f.action ?? '').toLowerCase();
    if (!action) return error(session, actionId, 'Missing action in request');
    if (!session.user) {
      if (action === 'login') return login(session, f, actionId);
      if (action === 'logoff') return logoff(session, actionId);
      return error(session, actionId, 'Permission denied');
    }
    const required = ACTION_CLASSES[action];
    if (required && !required.some((c) => session.user?.write.includes(c) || session.user?.write.includes('all'))) {
      if (action === 'originate') countOriginateOnly(message);
      return error(session, actionId, 'Permission denied');
    }
    switch (action) {
      case 'login':
        return reply(session, [['Response', 'Success'], ['Message', 'Already authenticated']], actionId);
      case 'logoff':
        return logoff(session, actionId);
      case 'ping':
        return reply(session, [['Response', 'Success'], ['Ping', 'Pong'], ['Timestamp', (Date.now() / 1000).toFixed(6)]], actionId);
      case 'events': {
        session.mask = parseMask(f.eventmask);
        return reply(session, [['Response', 'Success'], ['Events', session.mask === 'none' ? 'Off' : 'On']], actionId);
      }
      case 'originate':
        return originate(session, message, actionId);
      case 'coreshowchannels':
        if (listingsFail) return error(session, actionId, 'Listing failed: the central is overloaded');
        return listChannels(session, actionId);
      case 'coresettings':
        return reply(
          session,
          [['Response', 'Success'], ['AMIversion', PROFILE_AMI_VERSION[profile]], ['AsteriskVersion', PROFILE_ASTERISK_VERSION[profile]], ['SystemName', ''], ['CoreMaxCalls', '0']],
          actionId,
        );
      case 'status':
        if (listingsFail) return error(session, actionId, 'Listing failed: the central is overloaded');
        return status(session, f, actionId);
      case 'getvar': {
        const leg = findLeg(f.channel);
        const name = f.variable ?? '';
        if (f.channel && !leg) return error(session, actionId, 'No such channel');
        return reply(session, [['Response', 'Success'], ['Variable', name], ['Value', leg?.variables.get(name) ?? '']], actionId);
      }
      case 'hangup':
        return hangupAction(session, f, actionId);
      case 'command':
        return error(session, actionId, 'Command output follows is not simulated');
      default:
        return error(session, actionId, `Invalid/unknown command: ${f.action ?? ''}. Use Action: ListCommands to show available commands.`);
    }
  }

  function countOriginateOnly(message: AmiMessage): void {
    const requestId = requestIdOf(variablesOf(message), message.fields.account);
    originates += 1;
    if (requestId !== undefined) originatesByRequest.set(requestId, (originatesByRequest.get(requestId) ?? 0) + 1);
  }

  function logoff(session: Session, actionId: string | undefined): void {
    reply(session, [['Response', 'Goodbye'], ['Message', 'Thanks for all the fish.']], actionId);
    close(session);
  }

  async function drain(session: Session): Promise<void> {
    if (session.busy) return;
    session.busy = true;
    try {
      while (session.queue.length > 0 && !session.closing && !session.deaf && Date.now() >= stalledUntil) {
        const message = session.queue.shift() as AmiMessage;
        await handle(session, message);
      }
    } finally {
      session.busy = false;
    }
  }

  // ------------------------------------------------------------------ server

  const server: Server = createServer((socket) => {
    connections += 1;
    socket.setNoDelay(true);
    const session: Session = { socket, user: undefined, mask: 'all', queue: [], busy: false, held: [], out: '', deaf: down, closing: false };
    sessions.add(session);
    const parser = new AmiParser({
      strict: true,
      keepHeaders: true,
      onMessage: (message) => {
        if ((message.fields.action ?? '').toLowerCase() === 'originate') arrivals.push({ requestId: requestIdOf(variablesOf(message), message.fields.account), at: Date.now() });
        session.queue.push(message);
        void drain(session);
      },
    });
    socket.on('data', (chunk: Buffer) => {
      if (session.deaf) return;
      parser.push(chunk);
    });
    socket.on('error', () => undefined);
    socket.on('close', () => sessions.delete(session));
    if (!down) socket.write(`${banner}\r\n`);
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('simulator has no TCP address');

  const faults: PbxFaults = {
    dropConnections() {
      for (const s of sessions) s.socket.destroy();
    },
    dropOn(name) {
      dropOn = name;
    },
    stall(ms) {
      stalledUntil = Date.now() + ms;
      const generation = ++stallGeneration;
      later(ms, () => {
        if (generation !== stallGeneration) return; // a later stall extends this one
        stalledUntil = 0;
        for (const s of sessions) {
          const held = s.held.splice(0);
          if (held.length && !s.socket.destroyed) s.socket.write(held.join(''));
          void drain(s);
        }
      });
    },
    refuseLogins(on) {
      refuseLogins = on;
    },
    failListings(on) {
      listingsFail = on;
    },
    slowLogin(ms) {
      slowLoginMs = ms;
    },
    flood(eventsPerSecond, durationMs) {
      const tickMs = 10;
      const perTick = Math.max(1, Math.round((eventsPerSecond * tickMs) / 1000));
      const until = Date.now() + durationMs;
      let seq = 0;
      const tick = (): void => {
        if (closed || Date.now() >= until) return;
        const batch: Array<SimEvent | undefined> = [];
        for (let i = 0; i < perTick; i++) batch.push(factory.noise(seq++));
        broadcast(batch);
        later(tickMs, tick);
      };
      tick();
    },
    setDown(on) {
      down = on;
      for (const s of sessions) {
        if (on) {
          flush(s); // what it wrote before it froze has left already
          s.deaf = true;
        } else if (s.deaf) s.socket.destroy(); // a central that comes back has lost its sessions
      }
    },
  };

  return {
    host: address.address,
    port: address.port,
    profile,
    banner,
    faults,
    originateLog: () => [...arrivals],
    stats(): PbxStats {
      return {
        originates,
        originatesByRequest: new Map(originatesByRequest),
        duplicates: [...originatesByRequest].filter(([, n]) => n > 1).map(([id]) => id),
        malformed: [...malformed],
        liveChannels: liveCalls.size,
        peakChannels: peak,
        connections,
        ...(options.latencyVariable !== undefined ? { wireLatency: summarize(wireDelays) } : {}),
      };
    },
    async close() {
      if (closed) return;
      closed = true;
      for (const t of globalTimers) clearTimeout(t);
      globalTimers.clear();
      for (const call of [...liveCalls]) endCall(call);
      for (const s of sessions) s.socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

