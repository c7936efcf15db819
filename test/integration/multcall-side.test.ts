/**
 * The reference client's result taking (docs/protocol.md §6) on a real Redis: what a
 * predecessor took but never stored is stored on start, every result once, and nothing
 * stays in the processing list.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedis, type RedisServer } from '../support/redis.js';
import { MultcallSide } from '../../src/sim/multcall/multcall-side.js';
import { celulaKeys } from '../../src/protocol/keys.js';
import type { CallResult } from '../../src/protocol/messages.js';

const result = (id: string): CallResult => ({
  v: 1,
  id,
  celula: 'vendas',
  status: 'busy',
  reason: 5,
  cause: 17,
  causeTxt: 'User busy',
  central: 'central-a',
  worker: 'w-1',
  attempts: 1,
  codLigacao: '1001',
  ack: 'replied',
  claimedAt: 1,
  originatedAt: 2,
  answeredAt: null,
  endedAt: 3,
  billsec: 0,
});

let redis: RedisServer;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis.stop();
});

describe('the Multcall side takes results reliably', () => {
  it('stores what a predecessor left in its processing list, then every new result once, and empties the list', async () => {
    const keys = celulaKeys('vendas');
    const processing = `${keys.results}:processing:multcall-1`;
    const client = redis.client();
    // A predecessor under the same name moved two results and died before storing them.
    await client.lpush(processing, JSON.stringify(result('left-1')), JSON.stringify(result('left-2')));
    await client.lpush(keys.results, ...Array.from({ length: 300 }, (_, i) => JSON.stringify(result(`new-${i}`))));
    const multcall = new MultcallSide({ redis: { host: '127.0.0.1', port: redis.port }, celula: 'vendas', consumer: 'multcall-1' });
    multcall.start();
    try {
      await multcall.waitForResults(302, 10_000);
      // Results that keep arriving one at a time are taken and dropped from the list too.
      for (let i = 0; i < 5; i++) {
        await client.lpush(keys.results, JSON.stringify(result(`late-${i}`)));
        await multcall.waitForResults(303 + i, 5_000);
      }
      await new Promise((r) => setTimeout(r, 100));
      expect(multcall.results.has('left-1') && multcall.results.has('left-2')).toBe(true);
      expect(multcall.tally.results).toBe(307);
      expect(multcall.tally.duplicateResults).toEqual([]);
      expect(await client.llen(keys.results)).toBe(0);
      expect(await client.exists(processing)).toBe(0);
    } finally {
      await multcall.stop();
      client.disconnect();
    }
  });
});
