/**
 * Parses one large AMI event stream (events of the real `answer` transcript, repeated)
 * with `asterisk-manager`'s reader and with our codec, both fed from a local TCP socket,
 * and prints events/s for each; then our codec again as the worker runs it, building only
 * the events it reads.  Usage: npx tsx bench/ami-parse.ts [events]
 */
import { readFileSync } from 'node:fs';
import { createServer, connect, type AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import Manager from 'asterisk-manager';
import { AmiParser } from '../src/ami/codec.js';
import { READ_EVENTS } from '../src/ami/client.js';

const total = Number(process.argv[2] ?? 200_000);
const fixture = resolve(import.meta.dirname, '../../shared/fixtures/ami/asterisk-20.20.1/answer.rx');
const text = readFileSync(fixture, 'utf8');
const blocks = text
  .split('\r\n\r\n')
  .filter((b) => b.startsWith('Event: '))
  .map((b) => `${b}\r\n\r\n`);
let body = '';
for (let i = 0; i < total; i++) body += blocks[i % blocks.length];
const stream = Buffer.from(`Asterisk Call Manager/9.0.0\r\n${body}`);

async function serve(): Promise<{ port: number; close: () => void }> {
  const server = createServer((socket) => {
    socket.end(stream);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { port: (server.address() as AddressInfo).port, close: () => server.close() };
}

/** Our codec; `workerFilter`: only the events a worker reads are built, as its AMI client does. */
async function runOurs(workerFilter = false): Promise<number> {
  const { port, close } = await serve();
  const started = performance.now();
  let count = 0;
  let declined = 0;
  await new Promise<void>((done) => {
    const keepEvent = (name: string) => READ_EVENTS.has(name.toLowerCase()) || (declined++, false);
    const parser = new AmiParser({ expectBanner: true, onMessage: () => void count++, ...(workerFilter ? { keepEvent } : {}) });
    const socket = connect(port, '127.0.0.1');
    socket.on('data', (c: Buffer) => parser.push(c));
    socket.on('close', () => done());
  });
  close();
  if (count + declined !== total) throw new Error(`codec parsed ${count}/${total}, declined ${declined}`);
  return performance.now() - started;
}

async function runAsteriskManager(): Promise<number> {
  const { port, close } = await serve();
  const started = performance.now();
  let count = 0;
  const silence = console.log;
  console.log = () => undefined; // the package prints on its own
  await new Promise<void>((done) => {
    const ami = Manager();
    ami.on('managerevent', () => {
      count++;
      if (count === total) done();
    });
    ami.on('close', () => setTimeout(done, 200));
    ami.connect(port, '127.0.0.1');
  });
  console.log = silence;
  close();
  if (count !== total) throw new Error(`asterisk-manager parsed ${count}/${total}`);
  return performance.now() - started;
}

const ourMs = await runOurs();
const amMs = await runAsteriskManager();
const workerMs = await runOurs(true);
const ours = Math.round((total / ourMs) * 1000);
const theirs = Math.round((total / amMs) * 1000);
console.log(
  JSON.stringify({
    bench: 'ami-parse',
    events: total,
    bytes: stream.length,
    codecEventsPerSec: ours,
    asteriskManagerEventsPerSec: theirs,
    ratio: Number((ours / theirs).toFixed(2)),
    codecWorkerFilterEventsPerSec: Math.round((total / workerMs) * 1000),
    codecMs: Math.round(ourMs),
    asteriskManagerMs: Math.round(amMs),
    codecWorkerFilterMs: Math.round(workerMs),
  }),
);
