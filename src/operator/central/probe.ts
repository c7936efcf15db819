/**
 * One AMI probe of a central: connect, log in, Ping, log off — all within a timeout.
 * Outcomes are classified into the reasons the Central's conditions carry.
 */
import { connect } from 'node:net';
import { AmiAuthError, AmiTimeoutError, createAmiClient, type AmiClient } from '../../ami/index.js';

export interface ProbeTarget {
  host: string;
  port: number;
  username: string;
  secret: string;
  timeoutMs: number;
}

export type ProbeResult =
  | { ok: true; banner: string; amiVersion: string; asteriskVersion?: string; latencyMs: number }
  | { ok: false; reason: 'AuthenticationFailed' | 'Timeout' | 'ConnectionRefused' | 'HostNotFound' | 'ProbeFailed'; message: string; latencyMs: number };

export type Prober = (target: ProbeTarget) => Promise<ProbeResult>;

export const probeAmi: Prober = async (target) => {
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  const client: AmiClient = createAmiClient({
    host: target.host,
    port: target.port,
    username: target.username,
    secret: target.secret,
    loginTimeoutMs: target.timeoutMs,
    heartbeatMs: 0,
    eventMask: 'off',
    reconnectMinMs: 60_000,
    reconnectMaxMs: 60_000,
  });
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new AmiTimeoutError('probe', target.timeoutMs)), target.timeoutMs);
  });
  try {
    await Promise.race([client.connect(), deadline]);
    const left = Math.max(100, target.timeoutMs - elapsed());
    await Promise.race([client.ping(left), deadline]);
    const info = client.info;
    const amiVersion = info?.amiVersion ?? '';
    const latencyMs = elapsed();
    // Best effort, after the verdict: CoreSettings needs rights a worker's user lacks.
    const settings = await Promise.race([client.coreSettings(Math.max(100, target.timeoutMs - elapsed())), deadline]).catch(() => undefined);
    const asteriskVersion = (settings?.ok ? settings.fields.asteriskversion : undefined) ?? asteriskReleaseOf(amiVersion);
    return { ok: true, banner: info?.banner ?? '', amiVersion, ...(asteriskVersion ? { asteriskVersion } : {}), latencyMs };
  } catch (error) {
    const latencyMs = elapsed();
    // The AMI client keeps retrying a refused connection until the deadline; a plain TCP
    // connect tells "nothing listens" and "unknown host" apart from a silent host.
    const tcp = error instanceof AmiTimeoutError ? await tcpError(target.host, target.port, 1000) : undefined;
    return { ok: false, ...classify(tcp ?? error, target), latencyMs };
  } finally {
    clearTimeout(timer);
    await client.close().catch(() => undefined);
  }
};

function classify(error: unknown, t: ProbeTarget): { reason: Extract<ProbeResult, { ok: false }>['reason']; message: string } {
  const where = `${t.host}:${t.port}`;
  const text = error instanceof Error ? error.message : String(error);
  const code = (error as { code?: string }).code;
  if (error instanceof AmiAuthError) return { reason: 'AuthenticationFailed', message: `AMI at ${where} refused the login: ${text}. Check the user and secret in the credentials Secret (spec.ami.credentialsSecretRef) and manager.conf.` };
  if (error instanceof AmiTimeoutError || /timed? ?out/i.test(text))
    return { reason: 'Timeout', message: `AMI at ${where} did not answer within ${t.timeoutMs} ms. Check that the host is reachable and the port is AMI's.` };
  if (code === 'ECONNREFUSED' || /ECONNREFUSED/.test(text)) return { reason: 'ConnectionRefused', message: `Nothing listens on ${where}. Check spec.ami.host/port and that Asterisk's manager is enabled.` };
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN' || /ENOTFOUND|EAI_AGAIN/.test(text)) return { reason: 'HostNotFound', message: `Host ${t.host} does not resolve. Check spec.ami.host.` };
  return { reason: 'ProbeFailed', message: `AMI probe of ${where} failed: ${text}` };
}

function tcpError(host: string, port: number, timeoutMs: number): Promise<Error | undefined> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (e: Error | undefined) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(e);
    };
    const timer = setTimeout(() => done(undefined), timeoutMs);
    socket.once('connect', () => done(undefined));
    socket.once('error', (e) => done(e));
  });
}

/**
 * The Asterisk release an AMI version ships with (main/manager.c's AMI_VERSION), for a user
 * that may not run CoreSettings: `20.x` for AMI 9.x. Undefined when the version is unknown.
 */
export function asteriskReleaseOf(amiVersion: string): string | undefined {
  const match = /^(\d+)\.(\d+)/.exec(amiVersion);
  if (!match) return undefined;
  const [major, minor] = [Number(match[1]), Number(match[2])];
  if (major === 1) return ({ 0: '1.4.x', 1: '1.6.x or 1.8.x', 2: '10.x', 3: '11.x' } as Record<number, string>)[minor];
  if (major === 2) return '12.x or 13.x';
  return major >= 3 && major <= 11 ? `${major + 11}.x` : undefined;
}
