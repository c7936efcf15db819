import { parseArgs } from 'node:util';
import { createLogger } from '../lib/log.js';
import { ConfigError, loadWorkerSettings } from '../worker/config.js';
import { startWorker } from '../worker/run.js';

const HELP = `usage: multcall worker --config FILE --celula NAME

Consumes the célula's Redis queue and places its calls on one central over AMI,
as the old run.sh <célula> did. FILE is YAML or JSON with the seed's settings
(LOG_LEVEL, LOG_FORMAT, LOG_LOCATION, redis_host, redis_port, Timeout_Command_Response,
Timeout_Command_ACK, Retries, Queues: [{nome, threads}]) plus central and originate;
see deploy/standalone/worker.yaml. Secrets come from the environment:
  AMI_SECRET or AMI_SECRET_FILE, REDIS_PASSWORD or REDIS_PASSWORD_FILE (optional).

SIGTERM/SIGINT: stop claiming, finish live calls (drain_timeout), hand off the rest, exit.`;

export async function run(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { config: { type: 'string', short: 'c' }, celula: { type: 'string' }, help: { type: 'boolean', short: 'h' } } });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  if (!values.config || !values.celula) {
    console.error(HELP);
    return 2;
  }
  let settings;
  try {
    settings = loadWorkerSettings(values.config, values.celula);
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(`multcall worker: ${error.message}`);
      return 2;
    }
    throw error;
  }
  const logger = createLogger({ level: settings.log.level, location: settings.log.location, name: 'multcall-worker' });
  const running = await startWorker(settings, logger);
  logger.info({ http: running.httpPort }, 'serving');
  await new Promise<void>((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      logger.info({ signal }, 'stopping');
      resolve();
    };
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
  });
  await running.stop();
  logger.flush();
  return 0;
}
