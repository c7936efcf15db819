/**
 * `multcall demo`: the whole path on one machine with embedded defaults — a local
 * redis-server on a free port, the PBX simulator, one worker for a sample célula and the
 * Multcall side — with a live summary, ending by itself or on Ctrl-C.
 */
import { parseArgs } from 'node:util';
import { startEmbeddedRedis } from '../lib/embedded-redis.js';
import { createLogger } from '../lib/log.js';
import { startPbxSimulator, parseMix } from '../sim/pbx/index.js';
import { MultcallSide } from '../sim/multcall/multcall-side.js';
import { settingsFrom } from '../worker/config.js';
import { startWorker } from '../worker/run.js';
import { formatSummary, SummaryMeter } from '../sim/multcall/report.js';

const HELP = `usage: multcall demo [--calls N] [--rate R] [--threads T] [--time-scale S] [--mix answer=60,busy=10,...]

Starts a local redis-server, the PBX simulator (Asterisk 20 profile), a worker for the
célula "demo" and the Multcall side; pushes N calls at R calls/s and prints a summary
every second until every call has its result (or Ctrl-C).`;

export async function run(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      calls: { type: 'string', default: '2000' },
      rate: { type: 'string', default: '200' },
      threads: { type: 'string', default: '100' },
      'time-scale': { type: 'string', default: '0.1' },
      mix: { type: 'string', default: 'answer=60,busy=12,noanswer=10,congestion=5,reject=5,unallocated=5,badchannel=3' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const calls = Number(values.calls);
  const rate = Number(values.rate);
  const threads = Number(values.threads);
  if (!(calls > 0 && rate > 0 && threads > 0)) {
    console.error('--calls, --rate and --threads must be positive numbers');
    return 2;
  }
  const logger = createLogger({ level: 'warn', name: 'multcall-demo' });
  const redis = await startEmbeddedRedis({ aof: true });
  const pbx = await startPbxSimulator({ profile: '20', mix: parseMix(values.mix), timeScale: Number(values['time-scale']), randomizeOrder: true, seed: 7 });
  console.log(`redis-server on 127.0.0.1:${redis.port} · PBX simulator (${pbx.banner}) on ${pbx.host}:${pbx.port}`);
  const settings = settingsFrom(
    {
      LOG_LEVEL: 'warn',
      redis_host: '127.0.0.1',
      redis_port: redis.port,
      Timeout_Command_Response: 5,
      Timeout_Command_ACK: 10,
      Retries: 2,
      Queues: [{ nome: 'demo', threads }],
      http_port: 0,
      central: { name: 'central-demo', host: pbx.host, port: pbx.port, username: 'multcall', maxOriginatesPerSecond: Math.max(rate * 2, 50), maxChannels: threads * 2 },
      originate: { channel: 'PJSIP/{number}@carrier', context: 'agents', exten: 's', callerId: '"Zanc" <1130000000>', ringTimeoutMs: 30_000 },
    },
    'demo',
    { AMI_SECRET: 'multcall', MULTCALL_WORKER_ID: 'demo-worker-1' },
  );
  const worker = await startWorker(settings, logger);
  console.log(`worker demo-worker-1 · threads ${threads} · metrics http://127.0.0.1:${worker.httpPort}/metrics`);
  const multcall = new MultcallSide({ redis: { host: '127.0.0.1', port: redis.port }, celula: 'demo' });
  multcall.start();

  const abort = new AbortController();
  const onSignal = () => abort.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  const meter = new SummaryMeter(multcall.tally);
  const feeding = multcall.enqueueAtRate((i) => ({ v: 1, id: `demo-${Date.now().toString(36)}-${i}`, number: `55119${String(10_000_000 + i).slice(-8)}`, createdAt: Date.now() }), calls, rate, abort.signal);
  while (!abort.signal.aborted && multcall.tally.results < calls) {
    await new Promise((r) => setTimeout(r, 1000));
    const depth = await multcall.depth();
    console.log(formatSummary(meter.sample(), depth));
  }
  await feeding.catch(() => undefined);
  console.log(abort.signal.aborted ? 'interrupted: draining the worker…' : 'all calls have their result: stopping…');
  await worker.stop();
  const depth = await multcall.depth();
  const final = meter.sample();
  console.log(formatSummary(final, depth));
  const dialledTwice = pbx.stats().duplicates.length;
  console.log(`results ${multcall.tally.results}/${multcall.tally.enqueued} · dialled twice: ${dialledTwice} · results twice: ${multcall.tally.duplicateResults.length}`);
  await multcall.stop();
  await pbx.close();
  await redis.stop();
  return dialledTwice === 0 && multcall.tally.duplicateResults.length === 0 ? 0 : 1;
}
