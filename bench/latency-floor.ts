/**
 * The latency floor for bench/worker.ts: what this machine gives enqueue → Originate on the
 * wire when nothing but the round trips themselves stands in between. A bare loop, in its
 * own process like the worker, does the worker's steps for each request at a trickle —
 * blocking move (wake), claim ∥ Originate token, mark originating, write the Originate to
 * the same simulator — then the rest of the call's Redis steps (ACK, its reply, result),
 * with no AMI parsing (what the simulator sends is read and dropped), no schema
 * checks, no call tracking, no metrics. Runs until SIGTERM.
 *   node --import tsx bench/latency-floor.ts <redis port> <célula> <simulator host:port>
 */
import { connect } from 'node:net';
import { Redis } from 'ioredis';
import { CelulaStore } from '../src/protocol/store.js';
import { originateHeaders } from '../src/ami/actions.js';
import { serializeAction } from '../src/ami/codec.js';
import type { DialRequest } from '../src/protocol/messages.js';
import { BareCalls, CENTRAL } from './bare-calls.js';

const [port, celula, address] = process.argv.slice(2);
const [host, amiPort] = (address ?? '').split(':');
const calls = new BareCalls(Number(port), celula ?? 'bench', 'floor');
const { store, central, worker } = calls;
const blocking = new Redis({ port: Number(port), host: '127.0.0.1' });

const ami = connect({ host: host ?? '127.0.0.1', port: Number(amiPort), noDelay: true });
ami.on('data', () => undefined); // events and replies: read, not parsed
await new Promise<void>((resolve) => ami.once('connect', resolve));
ami.write(serializeAction([['Action', 'Login'], ['ActionID', 'login'], ['Username', 'multcall'], ['Secret', 'multcall'], ['Events', 'call']]));

let running = true;
process.on('SIGTERM', () => {
  running = false;
  blocking.disconnect();
  void calls.close();
  setTimeout(() => process.exit(0), 200).unref();
});

async function place(id: string, raw: string): Promise<void> {
  const request = JSON.parse(raw) as DialRequest;
  const now = Date.now();
  await calls.originating(id, now);
  const originate = { channel: `PJSIP/${request.number}@carrier`, context: 'agents', exten: 's', priority: 1, ringTimeoutMs: 30_000, account: id, variables: { ...request.variables, MC_REQ: id } };
  ami.write(serializeAction(originateHeaders(originate, `${worker}/${id}/1`, 'stasis')));
  await calls.rest(id, now);
}

while (running) {
  const landed = await CelulaStore.waitForRequest(blocking, store.keys, worker, 1).catch(() => false);
  if (!landed) continue;
  const [claimed] = await Promise.all([store.claim(worker, 'c', 1000, Date.now()), central.takeTokens(1, CENTRAL.rate, CENTRAL.burst)]);
  for (const { id, raw } of claimed) void place(id, raw);
}
