/**
 * The autoscaler against a real redis-server, without Kubernetes: what it reads, what it
 * decides, and what it does while Redis is away.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedis, type RedisServer } from '../support/redis.js';
import { Autoscaler, type AutoscaleTarget } from '../../src/operator/autoscale/autoscaler.js';
import { RedisPool } from '../../src/operator/redis/pool.js';
import { celulaKeys } from '../../src/protocol/keys.js';
import { silentLogger } from '../../src/lib/log.js';

let redis: RedisServer;

beforeAll(async () => {
  redis = await startRedis();
});

afterAll(async () => {
  await redis?.stop();
});

function target(queue: string, over: Partial<AutoscaleTarget> = {}): AutoscaleTarget {
  return {
    queue,
    redis: { host: '127.0.0.1', port: redis.port, db: 0, prefix: 'multcall' },
    threads: 10,
    bounds: { minReplicas: 1, maxReplicas: 8, scaleToZero: false },
    windowMs: 60_000,
    current: 1,
    ...over,
  };
}

describe('autoscaler on a real Redis', () => {
  it('counts queued and in-flight calls of every célula in one pipeline, scales up at once and holds through the window', async () => {
    const client = redis.client();
    const pool = new RedisPool();
    let clock = 1_000_000;
    const changed: string[] = [];
    const scaler = new Autoscaler({ pool, logger: silentLogger, onChange: (k) => changed.push(k), now: () => clock });
    scaler.track('ns/a', target('a'));
    scaler.track('ns/b', target('b', { threads: 5 }));
    await client.lpush(celulaKeys('a').dial, ...Array.from({ length: 25 }, (_, i) => `r${i}`));
    await client.hset(celulaKeys('a').calls, 'x1', '{}', 'x2', '{}');
    await client.lpush(celulaKeys('b').dial, ...Array.from({ length: 100 }, (_, i) => `r${i}`));
    await scaler.pollOnce();
    expect(scaler.view('ns/a')).toMatchObject({ desired: 3, queued: 25, inFlight: 2 });
    expect(scaler.view('ns/b')).toMatchObject({ desired: 8, queued: 100, inFlight: 0 });
    expect(scaler.view('ns/b')?.message).toContain('(20 wanted, capped at maxReplicas 8)');
    expect(new Set(changed)).toEqual(new Set(['ns/a', 'ns/b']));
    expect(scaler.takeDecisions('ns/a')).toEqual([{ from: 1, to: 3, message: expect.stringContaining('Scaled from 1 to 3 worker(s)') }]);
    expect(scaler.takeDecisions('ns/a')).toEqual([]);

    // The queue empties: the decision holds for the window, then drops to the floor.
    await client.del(celulaKeys('a').dial, celulaKeys('a').calls);
    clock += 30_000;
    await scaler.pollOnce();
    expect(scaler.view('ns/a')?.desired).toBe(3);
    expect(scaler.view('ns/a')?.message).toContain('holding 3 for the 60 s scale-down window');
    clock += 31_000;
    await scaler.pollOnce();
    expect(scaler.view('ns/a')?.desired).toBe(1);
    scaler.forget('ns/a');
    scaler.forget('ns/b');
    pool.closeAll();
    client.disconnect();
  });

  it('holds a rise right after a rise for 2 s, and applies a lowered maxReplicas at once', async () => {
    const client = redis.client();
    const pool = new RedisPool();
    let clock = 1_000_000;
    const scaler = new Autoscaler({ pool, logger: silentLogger, onChange: () => undefined, now: () => clock });
    scaler.track('ns/d', target('d'));
    await client.lpush(celulaKeys('d').dial, ...Array.from({ length: 30 }, (_, i) => `r${i}`));
    await scaler.pollOnce();
    expect(scaler.view('ns/d')?.desired).toBe(3);
    await client.lpush(celulaKeys('d').dial, ...Array.from({ length: 30 }, (_, i) => `s${i}`));
    clock += 500;
    await scaler.pollOnce();
    expect(scaler.view('ns/d')?.desired).toBe(3);
    clock += 1_600;
    await scaler.pollOnce();
    expect(scaler.view('ns/d')?.desired).toBe(6);
    scaler.track('ns/d', target('d', { bounds: { minReplicas: 1, maxReplicas: 2, scaleToZero: false } }));
    expect(scaler.view('ns/d')?.desired).toBe(2);
    expect(scaler.takeDecisions('ns/d').map((d) => d.to)).toEqual([3, 6, 2]);
    scaler.forget('ns/d');
    pool.closeAll();
    client.disconnect();
  });

  it('keeps its decision while Redis is away, says why, and resumes when it is back', async () => {
    let clock = 1_000_000;
    const pool = new RedisPool(() => clock);
    const changed: string[] = [];
    const scaler = new Autoscaler({ pool, logger: silentLogger, onChange: (k) => changed.push(k), now: () => clock });
    const client = redis.client();
    await client.lpush(celulaKeys('c').dial, ...Array.from({ length: 40 }, (_, i) => `r${i}`));
    scaler.track('ns/c', target('c'));
    await scaler.pollOnce();
    expect(scaler.view('ns/c')?.desired).toBe(4);
    changed.length = 0;

    const restarting = redis.restart('kill', 1500);
    await new Promise((r) => setTimeout(r, 300));
    await scaler.pollOnce();
    const away = scaler.view('ns/c');
    expect(away?.desired).toBe(4);
    expect(away?.error).toMatch(/does not answer/);
    expect(away?.message).toMatch(/^Queue not readable, keeping 4 worker\(s\)/);
    expect(changed).toEqual(['ns/c']);
    // Tracking again (a reconcile) keeps the error: only a poll that reads the queue clears it.
    scaler.track('ns/c', target('c'));
    expect(scaler.view('ns/c')?.error).toMatch(/does not answer/);
    await restarting;

    await client.del(celulaKeys('c').dial);
    await client.lpush(celulaKeys('c').dial, ...Array.from({ length: 70 }, (_, i) => `r${i}`));
    // For 5 s after a failed connect the endpoint answers with that failure, without trying.
    const quick = performance.now();
    await scaler.pollOnce();
    expect(performance.now() - quick).toBeLessThan(100);
    expect(scaler.view('ns/c')?.error).toMatch(/does not answer/);
    clock += 5_001;
    await scaler.pollOnce();
    expect(scaler.view('ns/c')).toMatchObject({ desired: 7, queued: 70 });
    expect(scaler.view('ns/c')?.error).toBeUndefined();
    scaler.forget('ns/c');
    pool.closeAll();
    client.disconnect();
  });
});
