/**
 * The Redis ceiling for bench/worker.ts: a bare ioredis loop, in its own process like the
 * worker, doing per call exactly the worker's Redis operations — the central's channel slots
 * and Originate tokens (one round trip each per batch), claim (batched), mark originating,
 * record originated + push the ACK, take the ACK reply from the inbox, publish the result
 * with its CodLigacao — with no AMI and no PBX. Once the queue is empty it
 * waits for SIGTERM, so that its CPU time can still be read.
 *   node --import tsx bench/ceiling-loop.ts <redis port> <célula> <concurrency>
 */
import { BareCalls, CENTRAL } from './bare-calls.js';

const [port, celula, concurrencyArg] = process.argv.slice(2);
const concurrency = Number(concurrencyArg ?? 500);
const calls = new BareCalls(Number(port), celula ?? 'bench', 'ceiling');
const { store, central } = calls;

async function place(id: string): Promise<void> {
  const now = Date.now();
  await calls.originating(id, now);
  await calls.rest(id, now);
}

const inFlight = new Set<Promise<void>>();
for (;;) {
  const room = concurrency - inFlight.size;
  if (room > 0) await central.holdSlots(`${store.celula}/${calls.worker}`, inFlight.size, inFlight.size + room, CENTRAL.maxChannels, 20_000);
  const claimed = room > 0 ? await store.claim(calls.worker, 'c', room, Date.now()) : [];
  if (claimed.length > 0) await central.takeTokens(claimed.length, CENTRAL.rate, CENTRAL.burst);
  for (const { id } of claimed) {
    const p = place(id).finally(() => inFlight.delete(p));
    inFlight.add(p);
  }
  if (claimed.length === 0) {
    if (inFlight.size === 0) break;
    await Promise.race(inFlight);
  }
}
await calls.close();
const alive = setInterval(() => undefined, 60_000); // a signal listener alone keeps no process up
await new Promise((resolve) => process.once('SIGTERM', resolve));
clearInterval(alive);
