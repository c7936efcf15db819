/**
 * The latency floor for bench/worker.ts: what this machine gives enqueue → Originate on the
 * wire when nothing but the round trips themselves stands in between. A bare loop, in its
 * own process like the worker, does the worker's steps for each request at a trickle —
 * blocking move (wake), claim ∥ Originate token, mark originating, write the Originate to
 * the same simulator — then the rest of the call's Redis steps (ACK, its reply, CodLigacao,
 * result), with no AMI parsing (what the simulator sends is read and dropped), no schema
 * checks, no call tracking, no metrics. Runs until SIGTERM.
 *   node --import tsx bench/latency-floor.ts <redis port> <célula> <simulator host:port>
 */
import { connect } from 'node:net';
import { Redis } from 'ioredis';
import { CelulaStore } from '../src/protocol/store.js';
import { CentralStore, defaultBurst } from '../src/protocol/central-store.js';
import { originateHeaders } from '../src/ami/actions.js';
import { serializeAction } from '../src/ami/codec.js';
import type { DialRequest } from '../src/protocol/messages.js';

const [port, celula, address] = process.argv.slice(2);
const [host, amiPort] = (address ?? '').split(':');
const redis = new Redis({ port: Number(port), host: '127.0.0.1', enableAutoPipelining: true });
const blocking = new Redis({ port: Number(port), host: '127.0.0.1' });
const inboxConnection = new Redis({ port: Number(port), host: '127.0.0.1' });
const store = new CelulaStore(redis, { celula: celula ?? 'bench' });
const worker = 'floor';
// As bench/worker.ts configures the worker's central.
const central = new CentralStore(redis, { central: 'bench-central' });
const RATE = 10_000;
const BURST = defaultBurst(RATE);
const inbox = store.keys.inbox(worker);

const ami = connect({ host: host ?? '127.0.0.1', port: Number(amiPort), noDelay: true });
ami.on('data', () => undefined); // events and replies: read, not parsed
await new Promise<void>((resolve) => ami.once('connect', resolve));
ami.write(serializeAction([['Action', 'Login'], ['ActionID', 'login'], ['Username', 'multcall'], ['Secret', 'multcall'], ['Events', 'call']]));

const waiting = new Map<string, () => void>();
let running = true;
process.on('SIGTERM', () => {
  running = false;
  blocking.disconnect();
  inboxConnection.disconnect();
  setTimeout(() => process.exit(0), 200).unref();
});

const reader = (async () => {
  while (running) {
    const popped = await inboxConnection.blmpop(1, 1, inbox, 'RIGHT', 'COUNT', 256).catch(() => null);
    for (const raw of popped?.[1] ?? []) waiting.get((JSON.parse(raw) as { id: string }).id)?.();
  }
})();

let sequence = 0;
async function place(id: string, raw: string): Promise<void> {
  const request = JSON.parse(raw) as DialRequest;
  const attempt = 1;
  const now = Date.now();
  const actionId = `${worker}-${++sequence}`;
  await store.transition(id, worker, ['claimed'], 'originating', now, { a: attempt }, actionId);
  const originate = { channel: `PJSIP/${request.number}@carrier`, context: 'agents', exten: 's', priority: 1, ringTimeoutMs: 30_000, account: id, variables: { ...request.variables, MC_REQ: id } };
  ami.write(serializeAction(originateHeaders(originate, actionId, 'stasis')));
  const replied = new Promise<void>((resolve) => waiting.set(id, resolve));
  await store.originated(id, worker, { v: 1, id, celula: store.celula, worker, central: 'c', attempt, replyTo: inbox, at: now }, now);
  await replied;
  waiting.delete(id);
  await store.transition(id, worker, ['originated'], 'originated', Date.now(), { k: '1' });
  await store.complete({ v: 1, id, celula: store.celula, status: 'answered', reason: 4, cause: 16, causeTxt: 'Normal Clearing', central: 'c', worker, attempts: 1, codLigacao: '1', ack: 'replied', claimedAt: now, originatedAt: now, answeredAt: now, endedAt: now, billsec: 0 });
}

while (running) {
  const landed = await CelulaStore.waitForRequest(blocking, store.keys, worker, 1).catch(() => false);
  if (!landed) continue;
  const [claimed] = await Promise.all([store.claim(worker, 'c', 1000, Date.now()), central.takeTokens(1, RATE, BURST)]);
  for (const { id, raw } of claimed) void place(id, raw);
}
await reader;
