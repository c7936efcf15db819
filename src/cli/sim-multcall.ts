import { parseArgs } from 'node:util';
import { MultcallSide } from '../sim/multcall/multcall-side.js';
import { formatSummary, SummaryMeter } from '../sim/multcall/report.js';

const HELP = `usage: multcall sim multcall --celula NAME [--redis HOST:PORT] [--calls N] [--rate R]
                              [--ack-delay MS] [--ack-drop FRACTION] [--prefix multcall]

Plays Multcall's side of protocol v1 against a Redis server: pushes N dial requests at R
calls/s, answers each ACK with a CodLigacao, takes the results, and prints a summary every
second until every call has its result (or Ctrl-C). The password, if any, comes from REDIS_PASSWORD.`;

export async function run(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      celula: { type: 'string' },
      redis: { type: 'string', default: '127.0.0.1:6379' },
      calls: { type: 'string', default: '1000' },
      rate: { type: 'string', default: '100' },
      'ack-delay': { type: 'string', default: '0' },
      'ack-drop': { type: 'string', default: '0' },
      prefix: { type: 'string', default: 'multcall' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const [host, port] = values.redis.split(':');
  const calls = Number(values.calls);
  const rate = Number(values.rate);
  if (!values.celula || !host || !(Number(port) > 0) || !(calls > 0) || !(rate > 0)) {
    console.error(HELP);
    return 2;
  }
  const side = new MultcallSide({
    redis: { host, port: Number(port), ...(process.env.REDIS_PASSWORD ? { password: process.env.REDIS_PASSWORD } : {}) },
    celula: values.celula,
    prefix: values.prefix,
    ackDelayMs: Number(values['ack-delay']),
    ackDropRate: Number(values['ack-drop']),
  });
  side.start();
  const abort = new AbortController();
  process.once('SIGINT', () => abort.abort());
  process.once('SIGTERM', () => abort.abort());
  const meter = new SummaryMeter(side.tally);
  const run = `${Date.now().toString(36)}`;
  const feeding = side.enqueueAtRate((i) => ({ v: 1, id: `sim-${run}-${i}`, number: `55119${String(10_000_000 + (i % 90_000_000)).slice(-8)}`, createdAt: Date.now() }), calls, rate, abort.signal);
  while (!abort.signal.aborted && side.tally.results < calls) {
    await new Promise((r) => setTimeout(r, 1000));
    console.log(formatSummary(meter.sample(), await side.depth()));
  }
  await feeding.catch(() => undefined);
  console.log(formatSummary(meter.sample(), await side.depth()));
  await side.stop();
  return side.tally.duplicateResults.length === 0 ? 0 : 1;
}
