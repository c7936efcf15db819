/**
 * AMI wire codec: an incremental parser (bytes in, messages out) and a serializer that
 * refuses anything Asterisk could read as a second header or a second action.
 *
 * Asterisk ends a line at CRLF *or* a bare LF and a message at an empty line, so a CR, LF
 * or NUL inside a value is an injection, never data. Limits mirror main/manager.c
 * (1024-byte input buffer per line, 128 headers per action).
 */
import { StringDecoder } from 'node:string_decoder';
import { AmiValidationError } from './errors.js';

export const AMI_MAX_LINE_BYTES = 1024;
export const AMI_MAX_HEADERS = 128;
export const AMI_MAX_CHANNEL_ID = 149;
const KEY_RE = /^[A-Za-z0-9_-]+$/;
const VARIABLE_NAME_RE = /^[A-Za-z0-9_]+$/;
const FORBIDDEN_RE = /[\r\n\0]/;

/** A parsed message: lower-cased header names, first occurrence wins. */
export type AmiRecord = Record<string, string>;

export interface AmiMessage {
  fields: AmiRecord;
  /** Every header in arrival order (original case), only with `keepHeaders`. */
  headers?: Array<[string, string]>;
  /** Set when the message broke a wire rule (strict mode only); the reason of the first breach. */
  malformed?: { reason: string; sample: string };
}

export interface AmiParserOptions {
  /** The first line is the server banner (client side). */
  expectBanner?: boolean;
  /** Keep the ordered header list, needed for repeated headers such as `Variable`. */
  keepHeaders?: boolean;
  /** Enforce line/header limits and well-formed lines (server side). */
  strict?: boolean;
  onMessage: (message: AmiMessage) => void;
  onBanner?: (banner: string) => void;
  /**
   * Events to build. A central broadcasts every call event to every session (a single
   * answered call is dozens of events); skipping the ones nobody reads, without building
   * their fields, is most of a worker's parsing time. Default: all.
   */
  keepEvent?: (name: string) => boolean;
}

const keyCache = new Map<string, string>();
function lowerKey(raw: string): string {
  let key = keyCache.get(raw);
  if (key === undefined) {
    key = raw.trim().toLowerCase();
    if (keyCache.size < 4096) keyCache.set(raw, key);
  }
  return key;
}

/** Incremental AMI parser; feed it socket chunks in order. */
export class AmiParser {
  private readonly decoder = new StringDecoder('utf8');
  private buffer = '';
  private bannerPending: boolean;
  private fields: AmiRecord = Object.create(null) as AmiRecord;
  private headers: Array<[string, string]> = [];
  private count = 0;
  private malformed: { reason: string; sample: string } | undefined;
  /** Inside an event that `keepEvent` declined: drop lines until the blank one. */
  private skipping = false;

  constructor(private readonly options: AmiParserOptions) {
    this.bannerPending = options.expectBanner ?? false;
  }

  push(chunk: Buffer | string): void {
    const text = typeof chunk === 'string' ? chunk : this.decoder.write(chunk);
    let start = 0;
    if (this.buffer.length > 0) {
      // The buffer holds only the start of a line: finish it with what this chunk begins
      // with, rather than appending the whole chunk (a string the length of both, copied).
      const nl = text.indexOf('\n');
      if (nl < 0) this.buffer += text;
      else {
        const first = this.buffer + text.slice(0, nl + 1);
        this.buffer = '';
        this.scan(first, 0);
        start = nl + 1;
      }
    }
    if (start > 0 || this.buffer.length === 0) {
      const rest = this.scan(text, start);
      this.buffer = rest === 0 ? text : text.slice(rest);
    }
    if (this.options.strict && Buffer.byteLength(this.buffer) > AMI_MAX_LINE_BYTES) {
      // Asterisk drops an over-long line; we flag the action it belonged to.
      this.flag('line longer than 1024 bytes', this.buffer);
      this.buffer = '';
    }
  }

  /** Reads each whole line of `buf` from `pos` on; answers where the unfinished last line starts. */
  private scan(buf: string, pos: number): number {
    for (;;) {
      const nl = buf.indexOf('\n', pos);
      if (nl < 0) return pos;
      const end = nl > pos && buf.charCodeAt(nl - 1) === 13 ? nl - 1 : nl;
      // Lines of a declined event are only looked at for the blank line that ends it:
      // no string is cut for them (they are most of what a central sends a worker).
      if (this.skipping) {
        if (end === pos) this.skipping = false;
      } else this.line(buf.slice(pos, end));
      pos = nl + 1;
    }
  }

  private flag(reason: string, sample: string): void {
    this.malformed ??= { reason, sample: sample.slice(0, 120) };
  }

  private line(line: string): void {
    if (this.bannerPending) {
      this.bannerPending = false;
      if (line.startsWith('Asterisk Call Manager')) {
        this.options.onBanner?.(line);
        return;
      }
    }
    if (line.length === 0) {
      if (this.count > 0 || this.malformed) this.emit();
      return;
    }
    if (this.count === 0 && this.options.keepEvent && line.startsWith('Event: ') && !this.options.keepEvent(line.slice(7))) {
      this.skipping = true;
      return;
    }
    const strict = this.options.strict === true;
    if (strict) {
      if (line.length * 3 + 2 > AMI_MAX_LINE_BYTES && Buffer.byteLength(line) + 2 > AMI_MAX_LINE_BYTES) {
        this.flag('line longer than 1024 bytes', line);
      }
      if (line.includes('\0')) this.flag('NUL byte in line', line);
      if (line.includes('\r')) this.flag('bare CR in line', line);
    }
    const colon = line.indexOf(':');
    if (colon <= 0) {
      if (strict) this.flag('header without colon', line);
      return;
    }
    this.count++;
    if (strict && this.count > AMI_MAX_HEADERS) {
      this.flag('more than 128 headers', line);
      return;
    }
    const rawKey = line.slice(0, colon);
    const value = line.charCodeAt(colon + 1) === 32 ? line.slice(colon + 2) : line.slice(colon + 1);
    const key = lowerKey(rawKey);
    if (strict && !KEY_RE.test(key)) this.flag('bad header name', line);
    if (!(key in this.fields)) this.fields[key] = value;
    if (this.options.keepHeaders) this.headers.push([rawKey.trim(), value]);
  }

  private emit(): void {
    const message: AmiMessage = { fields: this.fields };
    if (this.options.keepHeaders) message.headers = this.headers;
    if (this.malformed) message.malformed = this.malformed;
    this.fields = Object.create(null) as AmiRecord;
    this.headers = [];
    this.count = 0;
    this.malformed = undefined;
    this.options.onMessage(message);
  }
}

/** Parses a whole transcript (e.g. a fixture) into messages. */
export function parseAll(data: Buffer | string, options: Omit<AmiParserOptions, 'onMessage' | 'onBanner'> = {}): { banner?: string; messages: AmiMessage[] } {
  const messages: AmiMessage[] = [];
  let banner: string | undefined;
  const parser = new AmiParser({ ...options, onMessage: (m) => messages.push(m), onBanner: (b) => (banner = b) });
  parser.push(data);
  return banner === undefined ? { messages } : { banner, messages };
}

// ---------------------------------------------------------------- serializer

export type ActionHeader = readonly [key: string, value: string];

/** Throws unless `value` is free of CR, LF and NUL. */
export function assertSafeValue(field: string, value: string): void {
  if (FORBIDDEN_RE.test(value)) {
    throw new AmiValidationError('AMI_VALUE_CONTROL_CHAR', field, 'CR, LF or NUL is not allowed in an AMI value');
  }
}

/**
 * Escapes a `Variable` value: Asterisk splits the header on commas and strips quotes and
 * backslashes (app argument rules), so every such character is backslash-escaped.
 */
export function escapeVariableValue(value: string): string {
  return value.replace(/[\\,"()[\]]/g, (c) => `\\${c}`);
}

/** Bytes the `Variable:` line of `name` and `value` takes on the wire, CRLF included (AMI_MAX_LINE_BYTES at most). */
export function variableLineBytes(name: string, value: string): number {
  return Buffer.byteLength(`Variable: ${name}=${escapeVariableValue(value)}\r\n`);
}

/** One `Variable:` header value (`NAME=escaped value`), validated. */
export function variableHeader(name: string, value: string): string {
  if (!VARIABLE_NAME_RE.test(name)) {
    throw new AmiValidationError('AMI_BAD_VARIABLE_NAME', `Variable ${name.slice(0, 40)}`, 'variable names must match ^[A-Za-z0-9_]+$');
  }
  assertSafeValue(`Variable ${name}`, value);
  return `${name}=${escapeVariableValue(value)}`;
}

/** Builds the wire form of an action, validating every key, value, line and the header count. */
export function serializeAction(headers: readonly ActionHeader[]): string {
  if (headers.length > AMI_MAX_HEADERS) {
    throw new AmiValidationError('AMI_TOO_MANY_HEADERS', 'action', `${headers.length} headers, at most ${AMI_MAX_HEADERS}`);
  }
  let out = '';
  for (const [key, value] of headers) {
    if (!KEY_RE.test(key)) throw new AmiValidationError('AMI_BAD_KEY', key.slice(0, 40) || '(empty)', 'header names must match ^[A-Za-z0-9_-]+$');
    assertSafeValue(key, value);
    const line = `${key}: ${value}\r\n`;
    if (line.length > AMI_MAX_LINE_BYTES / 3 && Buffer.byteLength(line) > AMI_MAX_LINE_BYTES) {
      throw new AmiValidationError('AMI_LINE_TOO_LONG', key, `line exceeds ${AMI_MAX_LINE_BYTES} bytes`);
    }
    out += line;
  }
  return `${out}\r\n`;
}
