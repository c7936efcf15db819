import { describe, expect, it } from 'vitest';
import { AmiParser, parseAll, serializeAction, escapeVariableValue, type AmiMessage } from '../../src/ami/codec.js';
import { originateHeaders } from '../../src/ami/actions.js';
import { AmiValidationError } from '../../src/ami/errors.js';
import type { OriginateRequest } from '../../src/ami/types.js';
import { splitVariableHeader } from '../../src/sim/pbx/server.js';
import { fixtureFiles, readFixture } from './fixtures.js';

function parseChunked(data: Buffer, seed: number, opts: { expectBanner: boolean; keepHeaders: boolean }): { banner?: string; messages: AmiMessage[] } {
  const messages: AmiMessage[] = [];
  let banner: string | undefined;
  const parser = new AmiParser({ ...opts, onMessage: (m) => messages.push(m), onBanner: (b) => (banner = b) });
  let s = seed;
  for (let pos = 0; pos < data.length; ) {
    s = (s * 1103515245 + 12345) % 2147483648;
    const size = 1 + (s % 97);
    parser.push(data.subarray(pos, pos + size));
    pos += size;
  }
  return banner === undefined ? { messages } : { banner, messages };
}

/** Rebuilds the bytes from the parsed headers (CRLF everywhere). */
function rebuild(banner: string | undefined, messages: AmiMessage[]): string {
  let out = banner === undefined ? '' : `${banner}\r\n`;
  for (const m of messages) out += serializeRaw(m.headers ?? []);
  return out;
}
function serializeRaw(headers: Array<[string, string]>): string {
  return headers.map(([k, v]) => `${k}: ${v}\r\n`).join('') + '\r\n';
}

const request: OriginateRequest = {
  channel: 'PJSIP/5511999990000@carrier',
  context: 'agents',
  exten: 's',
  priority: 1,
  ringTimeoutMs: 30000,
  callerId: '"MultCall" <5551000>',
  account: 'req-1',
  variables: { MC_REQ: 'req-1', MC_CELULA: 'cobranca' },
  channelId: 'mc-req-1-1',
  otherChannelId: 'mc-req-1-1-2',
};

describe('AMI parser on the real transcripts', () => {
  for (const file of [...fixtureFiles('.rx'), ...fixtureFiles('.tx')]) {
    it(`parses ${file} byte-exactly, whole and in random chunks`, () => {
      const data = readFixture(file);
      const isRx = file.endsWith('.rx');
      const whole = parseAll(data, { expectBanner: isRx, keepHeaders: true });
      if (isRx) expect(whole.banner).toBe('Asterisk Call Manager/9.0.0');
      for (const seed of [1, 7, 42]) {
        const chunked = parseChunked(data, seed, { expectBanner: isRx, keepHeaders: true });
        expect(chunked.messages).toEqual(whole.messages);
      }
      const text = data.toString('utf8');
      // Transcripts with a bare CR/LF or a colon-less line (injection attempts) cannot round-trip.
      const hasBareEol = /[^\r]\n|\r(?!\n)/.test(text.replace(/\r\n/g, ''));
      const lines = text.split('\r\n').slice(isRx ? 1 : 0);
      const colonless = lines.some((l) => l !== '' && !l.includes(':'));
      if (!hasBareEol && !colonless) expect(rebuild(whole.banner, whole.messages)).toBe(text);
      for (const m of whole.messages) {
        expect(m.fields.event ?? m.fields.response ?? m.fields.action).toBeDefined();
        for (const key of Object.keys(m.fields)) expect(key).toBe(key.toLowerCase());
      }
    });
  }

  it('skips declined events whole, in any chunking, and keeps every other message as parsed in full', () => {
    const keep = new Set(['OriginateResponse', 'Hangup', 'DialEnd', 'Newstate']);
    let declined = 0;
    for (const file of fixtureFiles('.rx')) {
      const data = readFixture(file);
      const all = parseAll(data, { expectBanner: true }).messages;
      const expected = all.filter((m) => m.fields.event === undefined || keep.has(m.fields.event));
      for (const seed of [1, 7, 42]) {
        const got: AmiMessage[] = [];
        const parser = new AmiParser({ expectBanner: true, keepEvent: (name) => keep.has(name), onMessage: (m) => got.push(m) });
        let x = seed;
        for (let pos = 0; pos < data.length; ) {
          x = (x * 1103515245 + 12345) % 2147483648;
          const size = 1 + (x % 13); // small chunks: CR and LF of one line often arrive apart
          parser.push(data.subarray(pos, pos + size));
          pos += size;
        }
        expect(got, `${file} seed ${seed}`).toEqual(expected);
      }
      declined += all.length - expected.length;
    }
    expect(declined).toBeGreaterThan(100);
  });

  it('skipping declined events, ends a message at a blank line however its lines end', () => {
    // Bare LF and CRLF mixed, as a central can send them; a declined event between each; a
    // name in UTF-8 whose bytes the 1-byte chunks split.
    const stream = 'Event: Noise\nChannel: x\n\nResponse: Error\r\nActionID: a1\r\nMessage: too long\n\r\nEvent: Noise\r\nA: 1\r\n\r\n\r\nEvent: Hangup\nUniqueid: u1\n\nEvent: Noise\n\nEvent: Hangup\r\nUniqueid: u2\r\nCallerIDName: José Ñ\r\n\r\n';
    const expected = [{ response: 'Error', actionid: 'a1', message: 'too long' }, { event: 'Hangup', uniqueid: 'u1' }, { event: 'Hangup', uniqueid: 'u2', calleridname: 'José Ñ' }];
    const bytes = Buffer.from(stream);
    for (const size of [bytes.length, 1, 2, 3, 5]) {
      const got: AmiMessage[] = [];
      const parser = new AmiParser({ keepEvent: (name) => name === 'Hangup', onMessage: (m) => got.push(m) });
      for (let pos = 0; pos < bytes.length; pos += size) parser.push(bytes.subarray(pos, pos + size));
      expect(got.map((m) => ({ ...m.fields })), `chunks of ${size}`).toEqual(expected);
    }
  });

  it('keeps the first occurrence of a header and lower-cases names', () => {
    const { messages } = parseAll('Response: Success\r\nMessage: first\r\nMESSAGE: second\r\n\r\n');
    expect(messages[0]?.fields).toEqual({ response: 'Success', message: 'first' });
  });

  it('accepts a bare LF as end of line (Asterisk sends one after a long Uniqueid error)', () => {
    const { messages } = parseAll(readFixture('invalid-channel.rx'), { expectBanner: true });
    const long = messages.find((m) => m.fields.actionid === 'orig-longid');
    expect(long?.fields.message).toBe('Uniqueid length exceeds maximum of 149');
    expect(messages.filter((m) => m.fields.response === 'Error')).toHaveLength(6);
  });

  it('flags malformed input in strict mode', () => {
    const got = (text: string): string | undefined => parseAll(text, { strict: true }).messages[0]?.malformed?.reason;
    expect(got(`Action: Ping\r\nX: ${'a'.repeat(1100)}\r\n\r\n`)).toMatch(/1024/);
    expect(got('Action: Ping\r\nno colon here\r\n\r\n')).toMatch(/colon/);
    expect(got('Action: Ping\r\nX: a\0b\r\n\r\n')).toMatch(/NUL/);
    expect(got(`Action: Ping\r\n${Array.from({ length: 130 }, (_, i) => `H${i}: x`).join('\r\n')}\r\n\r\n`)).toMatch(/128/);
    expect(got('Action: Ping\r\nActionID: 1\r\n\r\n')).toBeUndefined();
  });

  it('flags a line over 1024 bytes that arrives in pieces, whether or not a piece ends it', () => {
    const chunked = (chunks: string[]): string | undefined => {
      const messages: AmiMessage[] = [];
      const parser = new AmiParser({ strict: true, onMessage: (m) => messages.push(m) });
      for (const chunk of chunks) parser.push(chunk);
      return messages[0]?.malformed?.reason;
    };
    // Two pieces of 600: neither is too long alone, the line they make is.
    expect(chunked([`Action: Ping\r\nX: ${'a'.repeat(600)}`, `${'a'.repeat(600)}\r\nActionID: 1\r\n\r\n`])).toMatch(/1024/);
    // No end of line for 1,500 bytes: flagged while it is still arriving.
    expect(chunked(['Action: Ping\r\nX: ', 'a'.repeat(500), 'a'.repeat(500), 'a'.repeat(500), '\r\n\r\n'])).toMatch(/1024/);
    expect(chunked(['Action: Ping\r\nX: ', 'a'.repeat(400), 'a'.repeat(400), '\r\nActionID: 1\r\n\r\n'])).toBeUndefined();
  });
});

describe('serializer validation', () => {
  const fields: Array<keyof OriginateRequest> = ['channel', 'context', 'exten', 'callerId', 'account', 'channelId', 'otherChannelId'];
  for (const field of fields) {
    for (const bad of ['\r', '\n', '\0', '\r\n', '\r\n\r\nAction: Command']) {
      it(`rejects ${JSON.stringify(bad)} in ${field}`, () => {
        const evil = { ...request, [field]: `abc${bad}def` } as OriginateRequest;
        expect(() => originateHeaders(evil, 'id-1', 'stasis')).toThrow(AmiValidationError);
        try {
          serializeAction(originateHeaders(evil, 'id-1', 'stasis'));
        } catch (e) {
          expect((e as AmiValidationError).code).toBe('AMI_VALUE_CONTROL_CHAR');
          expect((e as AmiValidationError).message).toContain(field);
        }
      });
    }
  }
  for (const bad of ['\r', '\n', '\0', 'x\r\nExten: evil']) {
    it(`rejects ${JSON.stringify(bad)} in a variable value`, () => {
      expect(() => originateHeaders({ ...request, variables: { MC_REQ: bad } }, 'id', 'stasis')).toThrow(/Variable MC_REQ/);
    });
  }
  it('rejects bad variable names, bad keys, long lines and too many headers', () => {
    expect(() => originateHeaders({ ...request, variables: { 'BAD=NAME': 'x' } }, 'id', 'stasis')).toThrow(AmiValidationError);
    expect(() => originateHeaders({ ...request, variables: { 'A B': 'x' } }, 'id', 'stasis')).toThrow(AmiValidationError);
    expect(() => serializeAction([['Bad Key', 'x']])).toThrow(/header names/);
    expect(() => serializeAction([['Bad:Key', 'x']])).toThrow(AmiValidationError);
    expect(() => serializeAction([['Data', 'x'.repeat(1020)]])).toThrow(/1024/);
    expect(() => serializeAction([['Data', 'é'.repeat(600)]])).toThrow(/1024/);
    expect(() => serializeAction(Array.from({ length: 129 }, (_, i) => [`H${i}`, 'x'] as const))).toThrow(/128/);
    expect(() => originateHeaders({ ...request, channelId: 'x'.repeat(150) }, 'id', 'stasis')).toThrow(/channelId/);
    expect(() => originateHeaders({ ...request, priority: 0 }, 'id', 'stasis')).toThrow(/priority/);
  });
  it('builds the documented Originate with one Variable header per variable', () => {
    const wire = serializeAction(originateHeaders(request, 'mcab-1', 'stasis'));
    expect(wire).toBe(
      'Action: Originate\r\nActionID: mcab-1\r\nChannel: PJSIP/5511999990000@carrier\r\nContext: agents\r\nExten: s\r\nPriority: 1\r\nTimeout: 30000\r\n' +
        'CallerID: "MultCall" <5551000>\r\nAccount: req-1\r\nVariable: MC_REQ=req-1\r\nVariable: MC_CELULA=cobranca\r\nAsync: true\r\nChannelId: mc-req-1-1\r\nOtherChannelId: mc-req-1-1-2\r\n\r\n',
    );
    expect(serializeAction(originateHeaders(request, 'x', 'pre12'))).not.toContain('ChannelId');
  });
  it('escapes commas so Asterisk keeps a value whole (variable-comma fixture rules)', () => {
    for (const value of ['abc,MC_SECOND=def', 'x,y', 'a\\,b', 'k=v', ' lead space', 'f(a,b)', 'q"uote', 'un)balanced,(', 'café']) {
      const header = `MC_V=${escapeVariableValue(value)}`;
      expect(splitVariableHeader(header)).toEqual([['MC_V', value]]);
    }
    // What the real server did with the fixture's unescaped values:
    expect(splitVariableHeader('MC_REQ=abc,MC_SECOND=def')).toEqual([['MC_REQ', 'abc'], ['MC_SECOND', 'def']]);
    expect(splitVariableHeader('MC_Q="x,y"')).toEqual([['MC_Q', 'x,y']]);
    expect(splitVariableHeader('MC_BS=a\\,b')).toEqual([['MC_BS', 'a,b']]);
  });
});
