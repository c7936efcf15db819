/** The worker's HTTP surface: /metrics with the call figures, /healthz, and /readyz following Redis and AMI. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type Stack } from '../support/stack.js';
import type { RunningWorker } from '../../src/worker/run.js';

let stack: Stack;
let worker: RunningWorker;

beforeAll(async () => {
  stack = await startStack({ pbx: { timeScale: 0.05, outcome: (d) => (d.number.endsWith('2') ? { kind: 'busy' } : { kind: 'answer', ringMs: 20, talkMs: 100 }) } });
  worker = await stack.startWorker({ http_port: 0 });
});
afterAll(async () => {
  await stack.stop();
});

const get = async (path: string) => {
  const res = await fetch(`http://127.0.0.1:${worker.httpPort}${path}`);
  return { status: res.status, body: await res.text() };
};

describe('worker HTTP endpoints', () => {
  it('exports calls by status, claim→originate latency, in flight, dead letters and AMI reconnects', async () => {
    await stack.multcall.enqueue(['{bad json', ...Array.from({ length: 10 }, (_, i) => JSON.stringify({ v: 1, id: `m-${i}`, number: `551190000000${i % 3}` }))]);
    await stack.multcall.waitForResults(10, 10_000);
    const { status, body } = await get('/metrics');
    expect(status).toBe(200);
    expect(body).toMatch(/multcall_worker_calls_total\{status="answered",celula="vendas",central="central-a"\} 7/);
    expect(body).toMatch(/multcall_worker_calls_total\{status="busy",celula="vendas",central="central-a"\} 3/);
    expect(body).toMatch(/multcall_worker_claim_to_originate_seconds_count\{celula="vendas",central="central-a"\} 10/);
    expect(body).toMatch(/multcall_worker_originates_total\{celula="vendas",central="central-a"\} 10/);
    expect(body).toMatch(/multcall_worker_in_flight\{celula="vendas",central="central-a"\} 0/);
    expect(body).toMatch(/multcall_worker_ami_reconnects_total/);
    expect(body).toMatch(/multcall_worker_threads\{celula="vendas",central="central-a"\} 10/);
    expect(body).toMatch(/process_resident_memory_bytes/);
  });

  it('is healthy, and ready only while Redis and AMI answer', async () => {
    expect(await get('/healthz')).toMatchObject({ status: 200 });
    expect(await get('/readyz')).toMatchObject({ status: 200 });
    stack.pbx.faults.refuseLogins(true);
    stack.pbx.faults.dropConnections();
    await new Promise((r) => setTimeout(r, 200));
    const down = await get('/readyz');
    expect(down.status).toBe(503);
    expect(JSON.parse(down.body)).toMatchObject({ redis: true, ami: false });
    stack.pbx.faults.refuseLogins(false);
    const deadline = Date.now() + 15_000;
    while ((await get('/readyz')).status !== 200 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect((await get('/readyz')).status).toBe(200);
    expect((await get('/metrics')).body).toMatch(/multcall_worker_ami_reconnects_total\{celula="vendas",central="central-a"\} [1-9]/);
  }, 30_000);
});
