import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { readSnapshot, renderSnapshot, type Snapshot } from '../top/snapshot.js';

const HELP = `usage: multcall top [--redis HOST:PORT] [--interval SECONDS] [--prefix multcall] [--once]

Live view of every célula in a Redis server: queued, in flight, dead letters, results
waiting for Multcall, workers alive, results per second by status, and load per central.
The password, if any, comes from REDIS_PASSWORD.`;

export async function run(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      redis: { type: 'string', default: '127.0.0.1:6379' },
      interval: { type: 'string', default: '1' },
      prefix: { type: 'string', default: 'multcall' },
      once: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const [host, port] = values.redis.split(':');
  const interval = Number(values.interval);
  if (!host || !(Number(port) > 0) || !(interval > 0)) {
    console.error(HELP);
    return 2;
  }
  const redis = new Redis({ host, port: Number(port), ...(process.env.REDIS_PASSWORD ? { password: process.env.REDIS_PASSWORD } : {}), maxRetriesPerRequest: 1, lazyConnect: true });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
  } catch (error) {
    console.error(`cannot reach Redis at ${values.redis}: ${(error as Error).message}`);
    return 1;
  }
  if (values.once) {
    console.log(renderSnapshot(await readSnapshot(redis, values.prefix)));
    redis.disconnect();
    return 0;
  }
  let previous: Snapshot | undefined;
  let running = true;
  process.once('SIGINT', () => (running = false));
  process.once('SIGTERM', () => (running = false));
  while (running) {
    try {
      const current = await readSnapshot(redis, values.prefix);
      process.stdout.write(`\x1b[2J\x1b[H${renderSnapshot(current, previous)}\n\n(refresh ${interval}s · Ctrl-C to quit)\n`);
      previous = current;
    } catch (error) {
      process.stdout.write(`\x1b[2J\x1b[Hcannot read Redis: ${(error as Error).message}\n`);
    }
    await new Promise((r) => setTimeout(r, interval * 1000));
  }
  redis.disconnect();
  return 0;
}
