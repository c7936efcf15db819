/**
 * Worker settings. A file with the seed's own names (so `run.sh <célula>` users recognise
 * it), read once at start; threads, retries and timeouts then follow the célula's live
 * config in Redis. Secrets never live in the file: they come from the environment or from
 * files mounted from Kubernetes Secrets.
 */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { celulaName, checkVariables, describeIssues } from '../protocol/messages.js';
import { CENTRAL_NAME } from '../protocol/keys.js';
import { localKeepsPair, LOCAL_KEEPS_PAIR_MESSAGE } from '../ami/actions.js';

const seconds = z.number().positive().max(3600);

export const originateTemplate = z.object({
  /** Dial string with `{number}` where the number goes, e.g. `PJSIP/{number}@carrier`. */
  channel: z
    .string()
    .regex(/^[A-Za-z0-9_-]+\/[^\r\n\0]*\{number\}[^\r\n\0]*$/, { message: 'must be Tech/… containing {number}, e.g. PJSIP/{number}@carrier' }),
  context: z.string().regex(/^[A-Za-z0-9_.-]{1,79}$/),
  exten: z.string().regex(/^[A-Za-z0-9_*#+.-]{1,79}$/).default('s'),
  priority: z.number().int().min(1).default(1),
  callerId: z.string().regex(/^[^\r\n\0]{0,128}$/).optional(),
  ringTimeoutMs: z.number().int().min(1000).max(300_000).default(30_000),
  variables: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/), z.string().regex(/^[^\r\n\0]{0,512}$/)).superRefine(checkVariables).default({}),
});
export type OriginateTemplate = z.infer<typeof originateTemplate>;

/** What manager.conf accepts as a user section name, and no more: it goes into the Login action. */
const AMI_USERNAME = /^[A-Za-z0-9_.@-]{1,64}$/;

export const centralSettings = z.object({
  name: z.string().regex(CENTRAL_NAME, { message: 'must be a DNS-1123 name' }),
  host: z.string().min(1),
  port: z.number().int().min(1).max(65535).default(5038),
  /** The AMI user; AMI_USERNAME or AMI_USERNAME_FILE (mounted from a Secret) take precedence. */
  username: z.string().regex(AMI_USERNAME).optional(),
  /**
   * Most Originates per second the central receives from all workers of all células that
   * share this Redis (a token bucket in Redis; bursts up to a tenth of a second's worth).
   */
  maxOriginatesPerSecond: z.number().positive().max(10_000).default(50),
  /** Most calls the central carries at once for all workers of all células that share this Redis. */
  maxChannels: z.number().int().positive().max(100_000).default(500),
});

export const workerFile = z.object({
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  LOG_FORMAT: z.enum(['json']).default('json'),
  LOG_LOCATION: z.string().default('stderr'),
  redis_host: z.string().default('127.0.0.1'),
  redis_port: z.number().int().min(1).max(65535).default(6379),
  redis_db: z.number().int().min(0).max(15).default(0),
  redis_prefix: z.string().regex(/^[A-Za-z0-9_.-]{1,32}$/).default('multcall'),
  Timeout_Command_Response: seconds.default(5),
  Timeout_Command_ACK: seconds.default(10),
  Retries: z.number().int().min(0).max(10).default(2),
  Queues: z.array(z.object({ nome: celulaName, threads: z.number().int().min(1).max(1000) })).min(1),
  central: centralSettings,
  originate: originateTemplate,
  /** What to do with a placed call when Multcall never sends its CodLigacao: see docs/protocol.md. */
  ack_timeout_policy: z.enum(['report', 'hangup']).default('report'),
  /** Seconds between heartbeats; a worker silent for `lease` seconds is presumed dead (lease ≥ 2 × heartbeat + 1). */
  heartbeat: seconds.default(2),
  lease: seconds.default(10),
  /** Seconds between Pings to the central; and how long without any answer before it counts as down (no calls taken or sent). */
  ami_ping: seconds.default(1),
  ami_down_after: seconds.default(2),
  /** Seconds a stopping worker waits for its live calls before handing them to a peer. */
  drain_timeout: seconds.default(600),
  /** Port for /metrics, /healthz and /readyz; 0 picks a free one, -1 turns it off. */
  http_port: z.number().int().min(-1).max(65535).default(8080),
});
export type WorkerFile = z.infer<typeof workerFile>;

export interface WorkerSettings {
  celula: string;
  workerId: string;
  threads: number;
  retries: number;
  commandTimeoutMs: number;
  ackTimeoutMs: number;
  ackTimeoutPolicy: 'report' | 'hangup';
  heartbeatMs: number;
  leaseMs: number;
  amiPingMs: number;
  amiDownAfterMs: number;
  drainTimeoutMs: number;
  httpPort: number;
  log: { level: WorkerFile['LOG_LEVEL']; location: string };
  /**
   * `readPassword`, `readUsername`, `readSecret`: set when the value comes from a file (a
   * mounted Secret); they read it again, so a rotated credential is used at the next connect.
   */
  redis: { host: string; port: number; db: number; prefix: string; password?: string; username?: string; readPassword?: () => string };
  central: z.infer<typeof centralSettings> & { username: string; secret: string; readUsername?: () => string; readSecret?: () => string };
  originate: OriginateTemplate;
}

export class ConfigError extends Error {
  readonly code = 'MC_ERR_CONFIG';
}

/** Parses a settings file (YAML or JSON) and picks the célula's queue from `Queues`. */
export function loadWorkerSettings(path: string, celula: string, env: NodeJS.ProcessEnv = process.env): WorkerSettings {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError(`cannot read worker settings ${path}: ${(error as Error).message}`);
  }
  return settingsFrom(parseYaml(text) as unknown, celula, env, path);
}

export function settingsFrom(input: unknown, celula: string, env: NodeJS.ProcessEnv = process.env, source = 'settings'): WorkerSettings {
  const parsed = workerFile.safeParse(input);
  if (!parsed.success) throw new ConfigError(`${source}: ${describeIssues(parsed.error)}`);
  const file = parsed.data;
  const queue = file.Queues.find((q) => q.nome === celula);
  if (!queue) throw new ConfigError(`${source}: no entry in Queues has nome ${JSON.stringify(celula)} (have: ${file.Queues.map((q) => q.nome).join(', ')})`);
  if (file.ami_down_after <= file.ami_ping) throw new ConfigError(`${source}: ami_down_after (${file.ami_down_after}) must be longer than ami_ping (${file.ami_ping})`);
  // Calls are sent only with more than a heartbeat left on the lease (Worker.leaseHeld), and a
  // heartbeat's answer may come a heartbeat and a round trip after the one before: the lease
  // must outlast two heartbeats and a second (Worker.mayStillSend).
  if (file.lease < 2 * file.heartbeat + 1) {
    throw new ConfigError(`${source}: lease (${file.lease} s) must be at least 2 × heartbeat + 1 s (${2 * file.heartbeat + 1} s with heartbeat ${file.heartbeat} s): calls are sent only while more than a heartbeat is left on the lease`);
  }
  const username = secretFrom(env, 'AMI_USERNAME') ?? file.central.username;
  if (username === undefined) throw new ConfigError(`${source}: the AMI user is missing: set central.username, or AMI_USERNAME or AMI_USERNAME_FILE (a file mounted from a Secret)`);
  if (!AMI_USERNAME.test(username)) throw new ConfigError(`the AMI user name from AMI_USERNAME(_FILE) must match ${AMI_USERNAME.source}`);
  const secret = secretFrom(env, 'AMI_SECRET');
  if (secret === undefined) throw new ConfigError('the AMI secret is missing: set AMI_SECRET or AMI_SECRET_FILE (a file mounted from a Secret)');
  const redisPassword = secretFrom(env, 'REDIS_PASSWORD');
  const readPassword = rereader(env, 'REDIS_PASSWORD', redisPassword);
  const readUsername = rereader(env, 'AMI_USERNAME', username, (u) => AMI_USERNAME.test(u));
  const readSecret = rereader(env, 'AMI_SECRET', secret);
  return {
    celula,
    workerId: env.MULTCALL_WORKER_ID ?? `${file.central.name}.${hostname()}.${process.pid}`.replace(/[^A-Za-z0-9._-]/g, '-').slice(0, 100),
    threads: queue.threads,
    retries: file.Retries,
    commandTimeoutMs: Math.round(file.Timeout_Command_Response * 1000),
    ackTimeoutMs: Math.round(file.Timeout_Command_ACK * 1000),
    ackTimeoutPolicy: file.ack_timeout_policy,
    heartbeatMs: Math.round(file.heartbeat * 1000),
    leaseMs: Math.round(file.lease * 1000),
    amiPingMs: Math.round(file.ami_ping * 1000),
    amiDownAfterMs: Math.round(file.ami_down_after * 1000),
    drainTimeoutMs: Math.round(file.drain_timeout * 1000),
    httpPort: file.http_port,
    log: { level: file.LOG_LEVEL, location: file.LOG_LOCATION },
    redis: {
      host: file.redis_host,
      port: file.redis_port,
      db: file.redis_db,
      prefix: file.redis_prefix,
      ...(redisPassword !== undefined ? { password: redisPassword } : {}),
      ...(readPassword ? { readPassword } : {}),
      ...(env.REDIS_USERNAME ? { username: env.REDIS_USERNAME } : {}),
    },
    central: { ...file.central, username, secret, ...(readUsername ? { readUsername } : {}), ...(readSecret ? { readSecret } : {}) },
    originate: file.originate,
  };
}

/**
 * When `NAME` comes from the file named by `NAME_FILE`: a function that reads it again (the
 * kubelet rewrites a mounted Secret in place when it changes). A file that cannot be read,
 * or holds a value `valid` refuses, leaves the last good value.
 */
function rereader(env: NodeJS.ProcessEnv, name: string, first: string | undefined, valid: (value: string) => boolean = () => true): (() => string) | undefined {
  const file = env[`${name}_FILE`];
  if (!file || first === undefined) return undefined;
  let last = first;
  return () => {
    try {
      const value = readSecretFile(file);
      if (value !== '' && valid(value)) last = value;
    } catch {
      // Mid-rotation, or gone: the value that worked before.
    }
    return last;
  };
}

/**
 * What the worker runs with but warns about at start. Not refused: a settings file written
 * before the check (a Celula admitted earlier, a pod restarting) must still start.
 */
export function configWarnings(settings: WorkerSettings): string[] {
  return localKeepsPair(settings.originate.channel) ? [] : [`originate.channel: ${LOCAL_KEEPS_PAIR_MESSAGE}`];
}

/** A mounted Secret's value: the file's contents without the final newline an editor adds. */
function readSecretFile(file: string): string {
  return readFileSync(file, 'utf8').replace(/\r?\n$/, '');
}

/** `NAME` from the environment, or the contents of the file named by `NAME_FILE`. */
function secretFrom(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const file = env[`${name}_FILE`];
  if (file) return readSecretFile(file);
  return env[name];
}
