/**
 * Lease and heartbeat: a call is sent only with more than a heartbeat left on the lease, and
 * a heartbeat's answer may come a heartbeat and a round trip after the last one, so the lease
 * must be at least two heartbeats and a second.
 */
import { describe, expect, it } from 'vitest';
import { ConfigError, configWarnings, settingsFrom } from '../../src/worker/config.js';

const settings = (o: Record<string, unknown>) =>
  settingsFrom(
    {
      Queues: [{ nome: 'vendas', threads: 1 }],
      central: { name: 'central-a', host: '127.0.0.1', username: 'multcall' },
      originate: { channel: 'PJSIP/{number}@carrier', context: 'agents' },
      ...o,
    },
    'vendas',
    { AMI_SECRET: 'x' },
  );

describe('lease and heartbeat', () => {
  it('accepts the defaults and lease = 2 × heartbeat + 1 s', () => {
    expect(settings({})).toMatchObject({ heartbeatMs: 2000, leaseMs: 10_000 });
    expect(settings({ heartbeat: 0.5, lease: 2 })).toMatchObject({ heartbeatMs: 500, leaseMs: 2000 });
  });

  it('refuses a lease shorter than 2 × heartbeat + 1 s, saying so', () => {
    expect(() => settings({ heartbeat: 0.25, lease: 1 })).toThrow(ConfigError);
    expect(() => settings({ heartbeat: 2, lease: 4.5 })).toThrow(/lease \(4\.5 s\) must be at least 2 × heartbeat \+ 1 s \(5 s with heartbeat 2 s\)/);
    expect(() => settings({ heartbeat: 2, lease: 3 })).toThrow(/2 × heartbeat \+ 1 s/);
  });
});

describe('the dial string', () => {
  it('warns of a Local channel Asterisk would optimise away mid-call, naming the field, and still starts', () => {
    const local = (channel: string) => configWarnings(settings({ originate: { channel, context: 'agents' } }));
    expect(local('Local/{number}@outbound')).toEqual([expect.stringMatching(/^originate\.channel: a Local channel must end in \/n/)]);
    expect(local('Local/{number}@outbound/n')).toEqual([]);
    expect(local('PJSIP/{number}@carrier')).toEqual([]);
  });
});
