import { pino, type Logger, type LevelWithSilent } from 'pino';

export type { Logger };

export interface LogOptions {
  /** The seed's LOG_LEVEL; pino levels plus `silent`. */
  level?: LevelWithSilent;
  /** The seed's LOG_FORMAT: `json` (default, for collectors) or `pretty` is not bundled, so `json` only. */
  format?: 'json';
  /** The seed's LOG_LOCATION: a file path, or `stdout` / `stderr`. */
  location?: string;
  name?: string;
}

/**
 * One JSON logger per process. Secrets are redacted by path so a logged config or
 * AMI action can never print a password.
 */
export function createLogger(options: LogOptions = {}): Logger {
  const location = options.location ?? 'stderr';
  const fd = location === 'stdout' ? 1 : location === 'stderr' ? 2 : undefined;
  const destination = fd !== undefined ? pino.destination({ fd, sync: false }) : pino.destination({ dest: location, mkdir: true, sync: false });
  return pino(
    {
      name: options.name ?? 'multcall',
      level: options.level ?? (process.env.LOG_LEVEL as LevelWithSilent | undefined) ?? 'info',
      redact: { paths: ['secret', 'password', '*.secret', '*.password', 'redis.password', 'ami.secret'], censor: '[redacted]' },
      base: { pid: process.pid },
    },
    destination,
  );
}

/** A logger that drops everything, for tests and library defaults. */
export const silentLogger: Logger = pino({ level: 'silent' });
