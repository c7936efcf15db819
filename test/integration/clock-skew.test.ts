/**
 * Workers check their clocks against each other's, with Redis's TIME as a common ruler: a
 * worker whose clock is more than half a second from the median of the registered workers'
 * takes no new request, says why on /readyz and in /metrics, and goes back to work once it
 * agrees again. A Redis whose own clock is off stops nobody, nor does a worker alone.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startStack, settingsFor, until, type Stack } from '../support/stack.js';
import { startWorker, type RunningWorker } from '../../src/worker/run.js';
import { silentLogger } from '../../src/lib/log.js';
import { CelulaStore } from '../../src/protocol/store.js';
import { CELULA } from '../support/stack.js';

let stack: Stack | undefined;
let running: RunningWorker | undefined;
afterEach(async () => {
  await running?.stop();
  await stack?.stop();
  stack = undefined;
  running = undefined;
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function skewedWorker(s: Stack, offset: () => number): Promise<{ get: (path: string) => Promise<{ status: number; body: string }>; clockReady: () => Promise<boolean> }> {
  running = await startWorker(settingsFor(s.redis.port, s.pbx, { http_port: 0, heartbeat: 0.2, lease: 2 }, 'skewed'), silentLogger, { now: () => Date.now() + offset() });
  const get = async (path: string) => {
    const res = await fetch(`http://127.0.0.1:${running?.httpPort}${path}`);
    return { status: res.status, body: await res.text() };
  };
  const clockReady = async () => (JSON.parse((await get('/readyz')).body) as { clock?: boolean }).clock !== false;
  return { get, clockReady };
}

describe('a worker whose clock disagrees with its peers', () => {
  it('claims nothing and is not ready while it does, then resumes', async () => {
    stack = await startStack({ pbx: { timeScale: 1, outcome: () => ({ kind: 'answer', ringMs: 50, talkMs: 50 }) } });
    const s = stack;
    await s.startWorker({ heartbeat: 0.2, lease: 2 }, 'peer-1');
    await s.startWorker({ heartbeat: 0.2, lease: 2 }, 'peer-2');
    let offsetMs = 0;
    const { get, clockReady } = await skewedWorker(s, () => offsetMs);
    expect((await get('/readyz')).status).toBe(200);

    offsetMs = 5000;
    await until(async () => !(await clockReady()), 3000, 'not ready for the clock');
    expect(await get('/readyz')).toMatchObject({ status: 503 });
    expect((await get('/metrics')).body).toMatch(/multcall_worker_clock_skew_seconds\{celula="vendas",central="central-a"\} (4\.9|5\.0)/);
    const store = new CelulaStore(s.redis.client(), { celula: CELULA });
    expect(Object.keys(await s.redis.client().hgetall(store.keys.clocks)).sort()).toEqual(['peer-1', 'peer-2', 'skewed']);
    await s.multcall.enqueue([{ v: 1, id: 'while-skewed', number: '5511900000001' }]);
    await s.multcall.waitForResults(1, 10_000);
    expect(s.multcall.results.get('while-skewed')).toMatchObject({ status: 'answered' });
    expect(s.multcall.results.get('while-skewed')?.worker).not.toBe('skewed');

    offsetMs = 0;
    await until(async () => (await get('/readyz')).status === 200, 3000, 'ready again');
  }, 30_000);
});

describe('a worker whose clock disagrees with Redis only', () => {
  it('alone, keeps taking calls: Redis\'s clock is only a ruler', async () => {
    stack = await startStack({ pbx: { timeScale: 1, outcome: () => ({ kind: 'answer', ringMs: 50, talkMs: 50 }) } });
    const s = stack;
    // As if Redis's clock were 5 s behind: alone, nobody disagrees with this worker.
    const { get } = await skewedWorker(s, () => 5000);
    await sleep(1000);
    expect((await get('/readyz')).status).toBe(200);
    expect((await get('/metrics')).body).toMatch(/multcall_worker_clock_skew_seconds\{celula="vendas",central="central-a"\} (4\.9|5\.0)/);
    await s.multcall.enqueue([{ v: 1, id: 'redis-skewed', number: '5511900000002' }]);
    await s.multcall.waitForResults(1, 10_000);
    expect(s.multcall.results.get('redis-skewed')).toMatchObject({ status: 'answered', worker: 'skewed' });
  }, 30_000);
});
