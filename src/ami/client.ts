/**
 * AMI client on `node:net` + our codec (see docs/ami.md for why not `asterisk-manager`).
 *
 * It owns what the worker relies on: unique ActionIDs (per-client prefix + counter),
 * per-action timeouts, rejecting every pending action when the socket drops, reconnect
 * with full-jitter exponential backoff (never on bad credentials), the event mask, value
 * validation, typed events and a Ping heartbeat.
 */
import { EventEmitter } from 'node:events';
import { randomBytes } from 'node:crypto';
import { createConnection, type Socket } from 'node:net';
import { silentLogger, type Logger } from '../lib/log.js';
import { loginHeaders, originateHeaders } from './actions.js';
import { AmiParser, serializeAction, type ActionHeader, type AmiMessage, type AmiRecord } from './codec.js';
import { AmiAuthError, AmiDisconnectedError, AmiTimeoutError } from './errors.js';
import { parseBanner, toCallEvents, toLiveChannel } from './events.js';
import type {
  ActionReply,
  AmiClient,
  AmiClientEvents,
  AmiClientState,
  AmiConnectOptions,
  AmiServerInfo,
  LiveChannel,
  OriginateRequest,
} from './types.js';

export interface AmiClientOptions extends AmiConnectOptions {
  logger?: Logger;
  /** Event classes for the session (login `Events:` header). Default `call,system`. */
  eventMask?: string;
  /** Ping interval; a Ping without reply within half of it drops the connection. 0 disables. Default 20 s. */
  heartbeatMs?: number;
  /** TCP connect + banner + login budget. Default 10 s. */
  loginTimeoutMs?: number;
  /** After a session, how long before credentials the central refused are tried again. Default AUTH_RETRY_MS. */
  authRetryMs?: number;
}

interface Pending {
  action: string;
  resolve: (message: AmiRecord, list: AmiRecord[]) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
  /** For list actions: the event that ends the list (lower-case), and what was collected. */
  listEnd?: string;
  list?: AmiRecord[];
  reply?: AmiRecord;
}

function replyOf(fields: AmiRecord): ActionReply {
  return { ok: (fields.response ?? '').toLowerCase() === 'success', message: fields.message ?? '', fields };
}

/** A session must stay up this long before the reconnect backoff starts again from its floor. */
export const STABLE_SESSION_MS = 30_000;
/** Refused credentials are tried again this often (a rotation under way), not in a tight loop. */
export const AUTH_RETRY_MS = 60_000;

/** Full jitter: uniform in [0, min(max, base·2^attempt)]. */
export function backoffDelay(attempt: number, minMs: number, maxMs: number, random: () => number = Math.random): number {
  const ceiling = Math.min(maxMs, minMs * 2 ** Math.min(attempt, 30));
  return Math.max(minMs / 2, Math.floor(random() * ceiling));
}

/**
 * The call-progress events a worker follows a call by (`Dial` is the 1.8/11 name of
 * `DialEnd`). A central may send the worker's AMI user only these (`eventfilter` in
 * manager.conf, docs/ami.md): the rest of a call's events are never read.
 */
export const WORKER_EVENTS = ['OriginateResponse', 'Newstate', 'DialEnd', 'Dial', 'Hangup'] as const;

/** The events this client reads: call progress, and the items of the list actions it sends (replies, never filtered). */
export const READ_EVENTS = new Set([...WORKER_EVENTS.map((name) => name.toLowerCase()), 'coreshowchannel', 'coreshowchannelscomplete', 'status', 'statuscomplete']);

class NetAmiClient implements AmiClient {
  private readonly emitter = new EventEmitter();
  private readonly log: Logger;
  private readonly idPrefix = `mc${randomBytes(4).toString('hex')}`;
  private nextId = 0;
  private socket: Socket | undefined;
  private readonly pending = new Map<string, Pending>();
  private currentState: AmiClientState = 'idle';
  private serverInfo: AmiServerInfo | undefined;
  private attempt = 0;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private firstConnect: { resolve: () => void; reject: (e: Error) => void; promise: Promise<void> } | undefined;
  private readonly minMs: number;
  private readonly maxMs: number;

  constructor(private readonly options: AmiClientOptions) {
    this.log = options.logger ?? silentLogger;
    this.minMs = options.reconnectMinMs ?? 500;
    this.maxMs = options.reconnectMaxMs ?? 30_000;
    this.emitter.setMaxListeners(0);
  }

  get state(): AmiClientState {
    return this.currentState;
  }

  get info(): AmiServerInfo | undefined {
    return this.serverInfo;
  }

  on<E extends keyof AmiClientEvents>(event: E, listener: AmiClientEvents[E]): this {
    this.emitter.on(event, listener);
    return this;
  }

  off<E extends keyof AmiClientEvents>(event: E, listener: AmiClientEvents[E]): this {
    this.emitter.off(event, listener);
    return this;
  }

  connect(): Promise<void> {
    if (this.currentState === 'closed') return Promise.reject(new AmiDisconnectedError('client is closed', false));
    if (this.currentState === 'connected') return Promise.resolve();
    if (!this.firstConnect) {
      let resolve!: () => void;
      let reject!: (e: Error) => void;
      const promise = new Promise<void>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      this.firstConnect = { resolve, reject, promise };
      this.open();
    }
    return this.firstConnect.promise;
  }

  private newActionId(): string {
    this.nextId += 1;
    return `${this.idPrefix}-${this.nextId}`;
  }

  private open(): void {
    this.currentState = 'connecting';
    const socket = createConnection({ host: this.options.host, port: this.options.port });
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 10_000);
    this.socket = socket;
    let loggedIn = false;
    let loggedInAt = 0;
    let authFailed = false;
    const loginTimer = setTimeout(() => socket.destroy(new AmiTimeoutError('Login', this.options.loginTimeoutMs ?? 10_000)), this.options.loginTimeoutMs ?? 10_000);

    const parser = new AmiParser({
      expectBanner: true,
      keepEvent: (name) => READ_EVENTS.has(name.toLowerCase()),
      onBanner: (banner) => {
        this.serverInfo = parseBanner(banner);
        this.login(socket).then(
          () => {
            clearTimeout(loginTimer);
            loggedIn = true;
            loggedInAt = performance.now();
            this.up();
          },
          (error: Error) => {
            clearTimeout(loginTimer);
            if (error instanceof AmiAuthError) authFailed = true;
            socket.destroy(error);
          },
        );
      },
      onMessage: (message) => this.dispatch(message),
    });
    socket.on('data', (chunk: Buffer) => parser.push(chunk));
    socket.on('error', (error) => this.log.debug({ err: error }, 'ami socket error'));
    socket.on('close', () => {
      clearTimeout(loginTimer);
      if (this.socket === socket) this.socket = undefined;
      this.stopHeartbeat();
      this.failPending(new AmiDisconnectedError());
      const error: Error = authFailed ? new AmiAuthError() : new AmiDisconnectedError();
      if (loggedIn) this.emitter.emit('down', error);
      if (this.currentState === 'closed') return;
      // A server that drops each session soon after login (a slow reader cut off in an event
      // flood) is not hammered: only a session that lasted resets the backoff.
      if (loggedIn && performance.now() - loggedInAt >= STABLE_SESSION_MS) this.attempt = 0;
      if (authFailed) {
        const first = this.firstConnect;
        if (first) {
          // At start, bad credentials are a configuration error: surface them and stop.
          this.currentState = 'idle';
          this.log.error({ host: this.options.host, port: this.options.port }, 'ami authentication failed; not retrying');
          this.firstConnect = undefined;
          first.reject(error);
          return;
        }
        // Later, the credentials were rotated on the central, and the Secret's new value may
        // not be mounted yet: read them again, slowly.
        const retryInMs = this.options.authRetryMs ?? AUTH_RETRY_MS;
        this.log.error({ host: this.options.host, port: this.options.port, retryInMs }, 'ami authentication failed; trying again with the credentials read afresh');
        this.scheduleReconnect(retryInMs);
        return;
      }
      this.scheduleReconnect();
    });
  }

  private async login(socket: Socket): Promise<void> {
    const id = this.newActionId();
    const { username, secret } = this.options;
    const headers = loginHeaders(id, typeof username === 'function' ? username() : username, typeof secret === 'function' ? secret() : secret, this.options.eventMask ?? 'call,system');
    const reply = await this.send(socket, headers, id, 'Login', this.options.loginTimeoutMs ?? 10_000);
    if ((reply.response ?? '').toLowerCase() !== 'success') throw new AmiAuthError(`AMI login refused: ${reply.message ?? 'no message'}`);
  }

  private up(): void {
    this.currentState = 'connected';
    const info = this.serverInfo ?? parseBanner('');
    this.log.info({ host: this.options.host, port: this.options.port, banner: info.banner, dialect: info.dialect }, 'ami connected');
    this.startHeartbeat();
    const first = this.firstConnect;
    this.firstConnect = undefined;
    first?.resolve();
    this.emitter.emit('up', info);
  }

  private scheduleReconnect(fixedMs?: number): void {
    this.currentState = 'connecting';
    const delay = fixedMs ?? backoffDelay(this.attempt, this.minMs, this.maxMs);
    this.attempt += 1;
    this.log.warn({ host: this.options.host, port: this.options.port, delayMs: delay, attempt: this.attempt }, 'ami reconnecting');
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      if (this.currentState !== 'closed') this.open();
    }, delay);
  }

  private startHeartbeat(): void {
    const every = this.options.heartbeatMs ?? 20_000;
    if (every <= 0) return;
    this.heartbeatTimer = setInterval(() => {
      this.ping(Math.max(1000, Math.floor(every / 2))).catch((error: unknown) => {
        this.log.warn({ err: error }, 'ami heartbeat failed; dropping connection');
        this.socket?.destroy();
      });
    }, every);
    this.heartbeatTimer.unref();
  }

  private stopHeartbeat(): void {
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = undefined;
  }

  private failPending(error: Error): void {
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      this.pending.delete(id);
      p.reject(error);
    }
  }

  private dispatch(message: AmiMessage): void {
    const fields = message.fields;
    const id = fields.actionid;
    if (fields.event !== undefined) {
      const p = id === undefined ? undefined : this.pending.get(id);
      if (p?.listEnd !== undefined && id !== undefined) {
        if (fields.event.toLowerCase() === p.listEnd) this.settle(id, p, p.reply ?? fields);
        else p.list?.push(fields);
        return;
      }
      for (const event of toCallEvents(fields)) this.emitter.emit('event', event);
      return;
    }
    if (id === undefined || fields.response === undefined) return;
    const p = this.pending.get(id);
    if (!p) return;
    // A list action ends with its Complete event, unless the reply is an error.
    if (p.listEnd !== undefined && (fields.response ?? '').toLowerCase() === 'success') {
      p.reply = fields;
      return;
    }
    this.settle(id, p, fields);
  }

  private settle(id: string, p: Pending, reply: AmiRecord): void {
    clearTimeout(p.timer);
    this.pending.delete(id);
    p.resolve(reply, p.list ?? []);
  }

  private send(socket: Socket | undefined, headers: readonly ActionHeader[], id: string, action: string, timeoutMs: number, listEnd?: string): Promise<AmiRecord> {
    return this.sendList(socket, headers, id, action, timeoutMs, listEnd).then(([reply]) => reply);
  }

  private sendList(socket: Socket | undefined, headers: readonly ActionHeader[], id: string, action: string, timeoutMs: number, listEnd?: string): Promise<[AmiRecord, AmiRecord[]]> {
    let wire: string;
    try {
      wire = serializeAction(headers); // throws AmiValidationError before anything is written
    } catch (error) {
      return Promise.reject(error as Error);
    }
    if (!socket || socket.destroyed || !socket.writable) return Promise.reject(new AmiDisconnectedError('AMI is not connected', false));
    return new Promise<[AmiRecord, AmiRecord[]]>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new AmiTimeoutError(action, timeoutMs));
      }, timeoutMs);
      const entry: Pending = { action, resolve: (reply, list) => resolve([reply, list]), reject, timer };
      if (listEnd !== undefined) {
        entry.listEnd = listEnd;
        entry.list = [];
      }
      this.pending.set(id, entry);
      // Actions sent in the same tick share one write (one syscall).
      if (socket.writableCorked === 0) {
        socket.cork();
        process.nextTick(() => socket.uncork());
      }
      socket.write(wire);
    });
  }

  private connectedSocket(): Socket | undefined {
    return this.currentState === 'connected' ? this.socket : undefined;
  }

  async originate(request: OriginateRequest, timeoutMs: number): Promise<ActionReply & { actionId: string }> {
    const actionId = request.actionId ?? this.newActionId();
    const headers = originateHeaders(request, actionId, this.serverInfo?.dialect ?? 'stasis');
    const reply = await this.send(this.connectedSocket(), headers, actionId, 'Originate', timeoutMs);
    return { ...replyOf(reply), actionId };
  }

  async coreShowChannels(timeoutMs: number): Promise<LiveChannel[]> {
    const id = this.newActionId();
    const [reply, list] = await this.sendList(this.connectedSocket(), [['Action', 'CoreShowChannels'], ['ActionID', id]], id, 'CoreShowChannels', timeoutMs, 'coreshowchannelscomplete');
    if (reply.event === undefined && (reply.response ?? '').toLowerCase() !== 'success') {
      throw new Error(`CoreShowChannels failed: ${reply.message ?? ''}`);
    }
    return list.filter((f) => (f.event ?? '').toLowerCase() === 'coreshowchannel').map(toLiveChannel);
  }

  async liveChannels(timeoutMs: number): Promise<LiveChannel[]> {
    const id = this.newActionId();
    const [reply, list] = await this.sendList(this.connectedSocket(), [['Action', 'Status'], ['ActionID', id]], id, 'Status', timeoutMs, 'statuscomplete');
    if (reply.event === undefined && (reply.response ?? '').toLowerCase() !== 'success') {
      throw new Error(`Status failed: ${reply.message ?? ''}`);
    }
    return list.filter((f) => (f.event ?? '').toLowerCase() === 'status').map(toLiveChannel);
  }

  async hangup(channel: string, cause: number, timeoutMs: number): Promise<ActionReply> {
    const id = this.newActionId();
    const headers: ActionHeader[] = [['Action', 'Hangup'], ['ActionID', id], ['Channel', channel], ['Cause', String(Math.trunc(cause))]];
    return replyOf(await this.send(this.connectedSocket(), headers, id, 'Hangup', timeoutMs));
  }

  async ping(timeoutMs: number): Promise<number> {
    const id = this.newActionId();
    const started = performance.now();
    const reply = await this.send(this.connectedSocket(), [['Action', 'Ping'], ['ActionID', id]], id, 'Ping', timeoutMs);
    if ((reply.response ?? '').toLowerCase() !== 'success') throw new Error(`Ping failed: ${reply.message ?? ''}`);
    return performance.now() - started;
  }

  async coreSettings(timeoutMs: number): Promise<ActionReply> {
    const id = this.newActionId();
    return replyOf(await this.send(this.connectedSocket(), [['Action', 'CoreSettings'], ['ActionID', id]], id, 'CoreSettings', timeoutMs));
  }

  async close(): Promise<void> {
    if (this.currentState === 'closed') return;
    this.currentState = 'closed';
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.stopHeartbeat();
    const first = this.firstConnect;
    this.firstConnect = undefined;
    first?.reject(new AmiDisconnectedError('client closed'));
    const socket = this.socket;
    this.failPending(new AmiDisconnectedError('client closed'));
    if (!socket || socket.destroyed) return;
    await new Promise<void>((resolve) => {
      const done = setTimeout(() => socket.destroy(), 500);
      socket.once('close', () => {
        clearTimeout(done);
        resolve();
      });
      if (socket.writable) socket.end(serializeAction([['Action', 'Logoff'], ['ActionID', this.newActionId()]]));
      else socket.destroy();
    });
  }
}

export function createAmiClient(options: AmiClientOptions): AmiClient {
  return new NetAmiClient(options);
}
