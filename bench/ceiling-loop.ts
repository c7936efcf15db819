/**
 * The Redis ceiling for bench/worker.ts: a bare ioredis loop, in its own process like the
 * worker, doing per call exactly the worker's Redis operations — the central's channel slots
 * and Originate tokens (one round trip each per batch), claim (batched), mark originating,
 * record originated + push the ACK, take the ACK reply from the inbox, store the CodLigacao,
 * publish the result — with no AMI and no PBX. Exits when the queue is empty.
 *   node --import tsx bench/ceiling-loop.ts <redis port> <célula> <concurrency>
 */
import { Redis } from 'ioredis';
import { CelulaStore } from '../src/protocol/store.js';
import { CentralStore, defaultBurst } from '../src/protocol/central-store.js';

const [port, celula, concurrencyArg] = process.argv.slice(2);
const concurrency = Number(concurrencyArg ?? 500);
const redis = new Redis({ port: Number(port), host: '127.0.0.1', enableAutoPipelining: true });
const inboxConnection = new Redis({ port: Number(port), host: '127.0.0.1' });
const store = new CelulaStore(redis, { celula: celula ?? 'bench' });
const worker = 'ceiling';
// As bench/worker.ts configures the worker's central.
const central = new CentralStore(redis, { central: 'bench-central' });
const MAX_CHANNELS = 100_000;
const RATE = 10_000;
const BURST = defaultBurst(RATE);
const inbox = store.keys.inbox(worker);

const waiting = new Map<string, () => void>();
let reading = true;
const reader = (async () => {
  while (reading) {
    const popped = await inboxConnection.blmpop(1, 1, inbox, 'RIGHT', 'COUNT', 256);
    for (const raw of popped?.[1] ?? []) waiting.get((JSON.parse(raw) as { id: string }).id)?.();
  }
})();

async function place(id: string): Promise<void> {
  const now = Date.now();
  await store.transition(id, worker, ['claimed'], 'originating', now, { a: 1, ch: `mc1-${id}` }, `${worker}/${id}/1`);
  const replied = new Promise<void>((resolve) => waiting.set(id, resolve));
  await store.originated(id, worker, { v: 1, id, celula: store.celula, worker, central: 'c', attempt: 1, replyTo: inbox, channelId: `mc1-${id}`, at: now }, now);
  await replied;
  waiting.delete(id);
  await store.transition(id, worker, ['originated'], 'originated', Date.now(), { k: '1' });
  await store.complete({ v: 1, id, celula: store.celula, status: 'answered', reason: 4, cause: 16, causeTxt: 'Normal Clearing', central: 'c', worker, attempts: 1, codLigacao: '1', ack: 'replied', claimedAt: now, originatedAt: now, answeredAt: now, endedAt: now, billsec: 0 });
}

const inFlight = new Set<Promise<void>>();
for (;;) {
  const room = concurrency - inFlight.size;
  if (room > 0) await central.holdSlots(`${store.celula}/${worker}`, inFlight.size, inFlight.size + room, MAX_CHANNELS, 20_000);
  const claimed = room > 0 ? await store.claim(worker, 'c', room, Date.now()) : [];
  if (claimed.length > 0) await central.takeTokens(claimed.length, RATE, BURST);
  for (const { id } of claimed) {
    const p = place(id).finally(() => inFlight.delete(p));
    inFlight.add(p);
  }
  if (claimed.length === 0) {
    if (inFlight.size === 0) break;
    await Promise.race(inFlight);
  }
}
reading = false;
await reader;
redis.disconnect();
inboxConnection.disconnect();
