/**
 * The seam between the dial worker and a central's Asterisk Manager Interface.
 *
 * The worker only ever sees these types: wire details (line endings, header casing,
 * pre-12 versus Stasis-era event shapes, ActionIDs) stay inside `src/ami/`.
 */

/** AMI header names are case-insensitive; we lower-case them and keep the first occurrence. */
export type AmiFields = Readonly<Record<string, string>>;

export type AmiDialect = 'pre12' | 'stasis';

export interface AmiServerInfo {
  /** The banner line without CRLF, e.g. `Asterisk Call Manager/9.0.0`. */
  banner: string;
  /** The AMI protocol version from the banner, e.g. `9.0.0`. */
  amiVersion: string;
  /** Major 1 ⇒ pre-12 event shapes (1.8/11); ≥ 2 ⇒ Stasis-era shapes (12+). */
  dialect: AmiDialect;
}

export interface OriginateRequest {
  /**
   * Our ActionID for this Originate. Optional: the client makes one when absent. A caller that
   * correlates OriginateResponse sets it, because that event may arrive before the reply.
   */
  actionId?: string;
  /** Dial string, e.g. `PJSIP/5511999990000@carrier` or `Local/5511999990000@outbound/n`. */
  channel: string;
  /** Where the answered call goes (the agents' context). */
  context: string;
  exten: string;
  priority: number;
  /** Ring timeout in milliseconds (AMI `Timeout`). */
  ringTimeoutMs: number;
  callerId?: string;
  /** Carried as `Account:`; visible as AccountCode in CoreShowChannels on every version. */
  account?: string;
  /** One `Variable:` header per entry; commas in values are escaped by the AMI layer. */
  variables: Readonly<Record<string, string>>;
  /** 12.2+: becomes the Uniqueid of the first leg, so the call is known before any event. */
  channelId?: string;
  /** 12.2+: Uniqueid of the second leg of a Local channel. */
  otherChannelId?: string;
}

/** The immediate reply to an action. */
export interface ActionReply {
  ok: boolean;
  /** `Message:` of the reply, e.g. `Originate successfully queued` or `Extension does not exist.` */
  message: string;
  fields: AmiFields;
}

/** One channel from CoreShowChannels, used to resolve calls of unknown fate after a crash. */
export interface LiveChannel {
  channel: string;
  uniqueid: string;
  linkedid?: string;
  accountCode: string;
  /** Numeric channel state, 6 = Up. */
  channelState: number;
  /** How long the channel has existed (Status `Seconds`, CoreShowChannel `Duration`): ringing included, so not a talk time. */
  durationSeconds?: number;
}

/**
 * Call events normalised across Asterisk versions. `timestamp` is the server's
 * `Timestamp:` (seconds since epoch, fractional) when present, else undefined.
 */
export type CallEvent =
  | {
      kind: 'originate-response';
      actionId?: string;
      success: boolean;
      /** 0 failed, 1 hung up, 3 no answer, 4 answered, 5 busy, 8 congestion. */
      reason: number;
      /** Undefined for `<null>` / `<unknown>`. */
      uniqueid?: string;
      channel: string;
      account?: string;
      timestamp?: number;
    }
  | {
      /** Newstate with ChannelState 6, or DialEnd/Dial End with DialStatus ANSWER. */
      kind: 'answered';
      uniqueid: string;
      linkedid?: string;
      channel: string;
      timestamp?: number;
    }
  | {
      kind: 'dial-end';
      uniqueid: string;
      /** ANSWER, BUSY, NOANSWER, CANCEL, CONGESTION, CHANUNAVAIL … */
      dialStatus: string;
      timestamp?: number;
    }
  | {
      kind: 'hangup';
      uniqueid: string;
      linkedid?: string;
      channel: string;
      cause: number;
      causeTxt: string;
      accountCode?: string;
      timestamp?: number;
    };

export type AmiClientState = 'idle' | 'connecting' | 'connected' | 'closed';

export interface AmiClientEvents {
  /** Logged in and event mask applied. */
  up: (info: AmiServerInfo) => void;
  /** The connection dropped; the client reconnects by itself with jittered backoff. */
  down: (error: Error) => void;
  event: (event: CallEvent) => void;
}

export interface AmiClient {
  readonly state: AmiClientState;
  readonly info: AmiServerInfo | undefined;
  /** Resolves once logged in; rejects on bad credentials (no retry loop on those). */
  connect(): Promise<void>;
  /**
   * Sends an async Originate with our own ActionID. Resolves with the immediate reply;
   * rejects with AmiTimeoutError after `timeoutMs`, or AmiDisconnectedError if the
   * connection drops before the reply. Validates every value first (AmiValidationError).
   */
  originate(request: OriginateRequest, timeoutMs: number): Promise<ActionReply & { actionId: string }>;
  coreShowChannels(timeoutMs: number): Promise<LiveChannel[]>;
  /**
   * Every channel of the central through `Action: Status`, which a worker's least-privilege
   * user may run (`write = call`; CoreShowChannels needs `system` or `reporting`).
   */
  liveChannels(timeoutMs: number): Promise<LiveChannel[]>;
  /** Hangs up a channel, named by channel name or (12+) Uniqueid. Needs `write = call`. */
  hangup(channel: string, cause: number, timeoutMs: number): Promise<ActionReply>;
  /** Round trip of a Ping in milliseconds. */
  ping(timeoutMs: number): Promise<number>;
  /**
   * `Action: CoreSettings` (AsteriskVersion, AMIversion, …). Needs `write = system` or
   * `reporting`, which a worker's user lacks: then the reply is not ok (`Permission denied`).
   */
  coreSettings(timeoutMs: number): Promise<ActionReply>;
  on<E extends keyof AmiClientEvents>(event: E, listener: AmiClientEvents[E]): this;
  off<E extends keyof AmiClientEvents>(event: E, listener: AmiClientEvents[E]): this;
  close(): Promise<void>;
}

export interface AmiConnectOptions {
  host: string;
  port: number;
  /** Called at every login: credentials mounted from a Secret are read again, so a rotation reaches a running worker at its next reconnect. */
  username: string | (() => string);
  secret: string | (() => string);
  /** Reconnect backoff bounds (full jitter). */
  reconnectMinMs?: number;
  reconnectMaxMs?: number;
}
