/**
 * Wires a worker process: logger, metrics, AMI client, HTTP endpoints, signals.
 * Shared by `multcall worker` and the demo.
 */
import { createAmiClient } from '../ami/client.js';
import type { Logger } from '../lib/log.js';
import { startHttp } from '../lib/http.js';
import { configWarnings, type WorkerSettings } from './config.js';
import { workerMetrics } from './metrics.js';
import { Worker } from './worker.js';

export interface RunningWorker {
  worker: Worker;
  httpPort: number | undefined;
  stop(): Promise<void>;
}

/** `now`: the worker's clock, Date.now unless a test drives it. */
export async function startWorker(settings: WorkerSettings, logger: Logger, options: { now?: () => number } = {}): Promise<RunningWorker> {
  for (const warning of configWarnings(settings)) logger.warn({ celula: settings.celula }, warning);
  const metrics = workerMetrics({ celula: settings.celula, central: settings.central.name });
  const ami = createAmiClient({
    host: settings.central.host,
    port: settings.central.port,
    username: settings.central.readUsername ?? settings.central.username,
    secret: settings.central.readSecret ?? settings.central.secret,
    logger: logger.child({ central: settings.central.name }),
  });
  ami.on('down', () => metrics.amiReconnects.inc());
  const worker = new Worker({ settings, ami, logger, metrics, ...(options.now ? { now: options.now } : {}) });
  metrics.threads.set(settings.threads);
  const http = settings.httpPort >= 0 ? await startHttp(settings.httpPort, metrics.registry, { ready: () => worker.ready }) : undefined;
  await worker.start();
  return {
    worker,
    httpPort: http?.port,
    async stop() {
      await worker.stop();
      await new Promise<void>((resolve) => (http ? http.server.close(() => resolve()) : resolve()));
    },
  };
}
