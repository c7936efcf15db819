/** The Central probe against the simulator: verdicts, and the Asterisk version with and without the rights to ask for it. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_PBX_USER, startPbxSimulator, type PbxSimulator } from '../../src/sim/pbx/index.js';
import { asteriskReleaseOf, probeAmi } from '../../src/operator/central/probe.js';

let pbx: PbxSimulator;
const admin = { username: 'admin', secret: 'admin', read: ['all'], write: ['system', 'call', 'originate'] };

beforeAll(async () => {
  pbx = await startPbxSimulator({ profile: '20', users: [DEFAULT_PBX_USER, admin] });
});

afterAll(async () => {
  await pbx?.close();
});

describe('central probe', () => {
  it("takes the Asterisk version from CoreSettings when the user may run it, else from the AMI version", async () => {
    const target = { host: pbx.host, port: pbx.port, timeoutMs: 2000 };
    const worker = await probeAmi({ ...target, username: DEFAULT_PBX_USER.username, secret: DEFAULT_PBX_USER.secret });
    expect(worker).toMatchObject({ ok: true, amiVersion: '9.0.0', asteriskVersion: '20.x' });
    const full = await probeAmi({ ...target, username: 'admin', secret: 'admin' });
    expect(full).toMatchObject({ ok: true, amiVersion: '9.0.0', asteriskVersion: '20.11.0' });
  });

  it('tells bad credentials, a silent central and a closed port apart', async () => {
    const target = { host: pbx.host, port: pbx.port, timeoutMs: 600 };
    // Asterisk answers a bad login after about a second, as the simulator does.
    expect(await probeAmi({ ...target, timeoutMs: 3000, username: 'multcall', secret: 'wrong' })).toMatchObject({ ok: false, reason: 'AuthenticationFailed' });
    pbx.faults.stall(1500);
    expect(await probeAmi({ ...target, username: 'multcall', secret: 'multcall' })).toMatchObject({ ok: false, reason: 'Timeout' });
    const closed = await startPbxSimulator({ profile: '20' });
    const port = closed.port;
    await closed.close();
    expect(await probeAmi({ ...target, port, username: 'multcall', secret: 'multcall' })).toMatchObject({ ok: false, reason: 'ConnectionRefused' });
  });

  it('maps AMI versions to the Asterisk releases that ship them', () => {
    expect(asteriskReleaseOf('1.1')).toBe('1.6.x or 1.8.x');
    expect(asteriskReleaseOf('1.3')).toBe('11.x');
    expect(asteriskReleaseOf('2.10.6')).toBe('12.x or 13.x');
    expect(asteriskReleaseOf('5.0.4')).toBe('16.x');
    expect(asteriskReleaseOf('11.0.0')).toBe('22.x');
    expect(asteriskReleaseOf('')).toBeUndefined();
    expect(asteriskReleaseOf('99.0.0')).toBeUndefined();
  });
});
