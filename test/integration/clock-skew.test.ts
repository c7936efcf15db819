/**
 * A worker whose clock disagrees with Redis's by more than a second takes no new request,
 * says why on /readyz and in /metrics, and goes back to work once the clocks agree.
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

describe('a worker whose clock disagrees with Redis', () => {
  it('claims nothing and is not ready while it does, then resumes', async () => {
    stack = await startStack({ pbx: { timeScale: 1, outcome: () => ({ kind: 'answer', ringMs: 50, talkMs: 50 }) } });
    const s = stack;
    let offsetMs = 0;
    running = await startWorker(settingsFor(s.redis.port, s.pbx, { http_port: 0, heartbeat: 0.2, lease: 2 }, 'skewed'), silentLogger, { now: () => Date.now() + offsetMs });
    const get = async (path: string) => {
      const res = await fetch(`http://127.0.0.1:${running?.httpPort}${path}`);
      return { status: res.status, body: await res.text() };
    };
    const clockReady = async () => (JSON.parse((await get('/readyz')).body) as { clock?: boolean }).clock !== false;
    expect((await get('/readyz')).status).toBe(200);

    offsetMs = 5000;
    await until(async () => !(await clockReady()), 3000, 'not ready for the clock');
    expect(await get('/readyz')).toMatchObject({ status: 503 });
    expect((await get('/metrics')).body).toMatch(/multcall_worker_clock_skew_seconds\{celula="vendas",central="central-a"\} (4\.9|5\.0)/);
    const store = new CelulaStore(s.redis.client(), { celula: CELULA });
    await s.multcall.enqueue([{ v: 1, id: 'while-skewed', number: '5511900000001' }]);
    await new Promise((r) => setTimeout(r, 1500));
    expect(await s.redis.client().llen(store.keys.dial)).toBe(1);
    expect(s.multcall.results.size).toBe(0);

    offsetMs = 0;
    await until(async () => (await get('/readyz')).status === 200, 3000, 'ready again');
    await s.multcall.waitForResults(1, 10_000);
    expect(s.multcall.results.get('while-skewed')).toMatchObject({ status: 'answered', worker: 'skewed' });
  }, 30_000);
});
