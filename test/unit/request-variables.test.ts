/**
 * A request's channel variables against what the central makes of them: Asterisk strips the
 * leading underscores of a name (they only mark it inherited), so `_MC_REQ` sets `MC_REQ`;
 * and a `Variable:` line longer than AMI's line limit cannot be sent. Both are refused by the
 * schema, where the dead letter names the field, never found out later on the wire.
 */
import { describe, expect, it } from 'vitest';
import { describeIssues, dialRequest } from '../../src/protocol/messages.js';
import { originateHeaders } from '../../src/ami/actions.js';
import { AMI_MAX_LINE_BYTES, serializeAction } from '../../src/ami/codec.js';
import { settingsFrom } from '../../src/worker/config.js';
import { buildOriginate } from '../../src/worker/originate.js';

const request = (variables: Record<string, string>) => ({ v: 1, id: 'req-1', number: '5511900000001', variables });

function refusal(variables: Record<string, string>): string | undefined {
  const parsed = dialRequest.safeParse(request(variables));
  return parsed.success ? undefined : describeIssues(parsed.error);
}

/** The Originate the worker would write for a request the schema accepted. */
function wire(variables: Record<string, string>): string {
  const parsed = dialRequest.parse(request(variables));
  const template = { channel: 'PJSIP/{number}@carrier', context: 'agents', exten: 's', priority: 1, ringTimeoutMs: 30_000, variables: {} };
  const originate = buildOriginate(template, parsed, 'vendas', 'w1', 1, 'stasis');
  return serializeAction(originateHeaders(originate, originate.actionId, 'stasis'));
}

const settings = (variables: Record<string, string>) =>
  settingsFrom(
    {
      Queues: [{ nome: 'vendas', threads: 1 }],
      central: { name: 'central-a', host: '127.0.0.1', username: 'multcall' },
      originate: { channel: 'PJSIP/{number}@carrier', context: 'agents', variables },
    },
    'vendas',
    { AMI_SECRET: 'x' },
  );

describe('reserved variable names', () => {
  it.each(['MC_REQ', '_MC_REQ', '__MC_REQ', 'mc_req', '_Mc_Celula'])('refuses %s in a request', (name) => {
    expect(refusal({ [name]: 'spoof' })).toMatch(new RegExp(`^variables\\.${name}: .*reserved`));
  });

  it.each(['MCX', '_MCREQ', 'X_MC_REQ', 'CAMPANHA'])('accepts %s in a request', (name) => {
    expect(refusal({ [name]: 'v' })).toBeUndefined();
  });

  it.each(['MC_REQ', '_MC_REQ', '__mc_celula'])('refuses %s in the célula\'s template', (name) => {
    expect(() => settings({ [name]: 'x' })).toThrow(/reserved/);
    expect(settings({ CAMPANHA: 'x' }).originate.variables).toEqual({ CAMPANHA: 'x' });
  });
});

describe('a variable\'s AMI line', () => {
  it('is refused by the schema, naming the field, when escaping makes it longer than an AMI line', () => {
    // 512 characters, each escaped to two.
    expect(refusal({ LISTA: ','.repeat(512) })).toMatch(/^variables\.LISTA: .*AMI line/);
  });

  it('is refused by the schema when its UTF-8 bytes make it longer than an AMI line', () => {
    expect(refusal({ NOME: '€'.repeat(400) })).toMatch(/^variables\.NOME: .*AMI line/);
  });

  it('is accepted up to the limit, and then goes on the wire', () => {
    // `Variable: LISTA=` (16) + 494 commas escaped (988) + 18 letters + CRLF (2): exactly the limit.
    const value = `${','.repeat(494)}${'a'.repeat(18)}`;
    expect(Buffer.byteLength(`Variable: LISTA=${value.replaceAll(',', '\\,')}\r\n`)).toBe(AMI_MAX_LINE_BYTES);
    expect(refusal({ LISTA: value })).toBeUndefined();
    expect(wire({ LISTA: value })).toContain(`Variable: LISTA=${value.replaceAll(',', '\\,')}\r\n`);
    expect(refusal({ LISTA: `${','.repeat(495)}${'a'.repeat(17)}` })).toMatch(/^variables\.LISTA: .*AMI line/);
  });
});
