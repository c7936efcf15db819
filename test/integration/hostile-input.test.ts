/**
 * Hostile input: well over 1,000 bad messages mixed with good ones. Every bad one must be
 * dead-lettered with a reason, the worker must keep serving, and nothing malformed or
 * injected may reach the central.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type Stack } from '../support/stack.js';
import { deadLetter } from '../../src/protocol/messages.js';

let stack: Stack;

const CONTROL = ['\r', '\n', '\r\n', '\0', '\r\nAction: Command\r\nCommand: core stop now\r\n\r\n', '\n\nAction: Hangup\n'];
const good = (i: number) => ({ v: 1, id: `good-${i}`, number: `5511${String(800_000_000 + i)}`, callerId: '"Zanc" <1130000000>', variables: { CAMPANHA: 'abc, def' } });

function hostileMessages(): string[] {
  const out: string[] = [];
  const base = (i: number) => ({ v: 1, id: `bad-${i}`, number: '5511999990000' });
  let i = 0;
  // Malformed JSON.
  for (const text of ['{', '}', 'null', 'true', '"just a string"', '123', '[]', '[{"v":1}]', '{"v":1,"id":"x",}', '{v:1}', '\u0000', '']) {
    for (let k = 0; k < 10; k++) out.push(k === 0 ? text : `${text}${' '.repeat(k)}`);
  }
  // Unknown or missing versions.
  for (const v of [0, 2, 99, '1', null, undefined, 1.5, -1]) for (let k = 0; k < 10; k++) out.push(JSON.stringify({ ...base(i++), v }));
  // Wrong types in every field.
  const wrong: Array<Record<string, unknown>> = [
    { id: 42 }, { id: '' }, { id: 'x'.repeat(65) }, { id: 'a b' }, { id: 'a/b' }, { id: ['a'] },
    { number: 5511999990000 }, { number: '' }, { number: 'abc' }, { number: '55 11' }, { number: '1'.repeat(40) }, { number: null },
    { callerId: 123 }, { callerId: { name: 'x' } }, { callerId: 'x'.repeat(200) },
    { variables: ['a'] }, { variables: 'a=b' }, { variables: { 'bad key': 'v' } }, { variables: { MC_REQ: 'spoof' } }, { variables: { A: 1 } },
    { ringTimeoutMs: '30000' }, { ringTimeoutMs: -1 }, { ringTimeoutMs: 10 }, { deadline: 'tomorrow' }, { deadline: -5 },
  ];
  for (const w of wrong) for (let k = 0; k < 20; k++) out.push(JSON.stringify({ ...base(i++), ...w }));
  // CR, LF, NUL and injections in every field AMI could see.
  for (const c of CONTROL) {
    for (let k = 0; k < 12; k++) {
      out.push(JSON.stringify({ ...base(i++), id: `inj${i}${c}` }));
      out.push(JSON.stringify({ ...base(i++), number: `5511${c}9999` }));
      out.push(JSON.stringify({ ...base(i++), callerId: `"X${c}" <1234>` }));
      out.push(JSON.stringify({ ...base(i++), variables: { CAMPANHA: `abc${c}def` } }));
      out.push(JSON.stringify({ ...base(i++), variables: { [`K${c}EY`]: 'v' } }));
    }
  }
  // 1 MB payloads.
  for (let k = 0; k < 10; k++) out.push(JSON.stringify({ ...base(i++), padding: 'x'.repeat(1024 * 1024) }));
  return out;
}

beforeAll(async () => {
  stack = await startStack({ pbx: { timeScale: 0.01 } });
  await stack.startWorker({ threads: 50 });
});
afterAll(async () => {
  await stack.stop();
});

describe('hostile input', () => {
  it('dead-letters every bad message with a reason and keeps serving good ones', async () => {
    const bad = hostileMessages();
    expect(bad.length).toBeGreaterThanOrEqual(1000);
    const goods = Array.from({ length: 200 }, (_, i) => JSON.stringify(good(i)));
    // Interleave so the worker meets bad messages between good calls all along.
    const mixed: string[] = [];
    for (let i = 0; i < bad.length; i++) {
      mixed.push(bad[i] as string);
      if (i % 6 === 0 && goods.length > 0) mixed.push(goods.shift() as string);
    }
    mixed.push(...goods);
    for (let i = 0; i < mixed.length; i += 100) await stack.multcall.enqueue(mixed.slice(i, i + 100));

    await stack.multcall.waitForResults(200, 60_000);
    let letters: string[] = [];
    for (let t = 0; t < 100 && letters.length < bad.length; t++) {
      letters = await stack.multcall.deadLetters();
      await new Promise((r) => setTimeout(r, 100));
    }
    const parsed = letters.map((l) => deadLetter.parse(JSON.parse(l)));
    expect(parsed).toHaveLength(bad.length);
    expect(parsed.every((l) => l.reason.length > 0)).toBe(true);
    const codes = new Set(parsed.map((l) => l.code));
    expect(codes).toEqual(new Set(['invalid-json', 'unsupported-version', 'invalid-id', 'invalid-request', 'oversize']));
    // Messages are kept exactly as received, so nothing is lost.
    expect(parsed.map((l) => l.raw).sort()).toEqual([...bad].sort());
    // Reasons name the field at fault.
    expect(parsed.find((l) => l.raw.includes('"number":5511999990000'))?.reason).toMatch(/^number:/);
    expect(parsed.find((l) => l.raw.includes('MC_REQ'))?.reason).toMatch(/variables/);

    const stats = stack.pbx.stats();
    expect(stats.malformed).toEqual([]);
    expect(stats.originates).toBe(200);
    expect([...stats.originatesByRequest.keys()].every((id) => id.startsWith('good-'))).toBe(true);
    expect([...stack.multcall.results.values()].every((r) => r.id.startsWith('good-'))).toBe(true);
  }, 120_000);
});
