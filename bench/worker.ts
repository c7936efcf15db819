/**
 * `npm run bench:worker` — one worker process against the PBX simulator.
 *
 *  1. throughput: zero-length calls through one worker, next to the Redis ceiling: the same
 *     Redis operations per call driven by a bare ioredis loop in the same run. The two
 *     alternate BENCH_ROUNDS times (3): this machine's speed drifts within minutes, so the
 *     ratio is taken from each worker run and the ceiling run right after it, and the
 *     median round is reported;
 *  2. latency: enqueue → Originate on the wire at 1,000 calls/s offered (p50, p99), next to
 *     its floor: the same traffic through a bare loop doing only the round trips
 *     (bench/latency-floor.ts) in the same run;
 *  3. memory: the worker's RSS with 1,000 live calls.
 *
 * Ends with one JSON line of figures. Sizes can be reduced for a quick look:
 *   BENCH_CALLS=5000 BENCH_LATENCY_S=5 npm run bench:worker
 * The latency phase can be offered another rate (BENCH_LATENCY_RATE=250), and the worker run
 * with other node flags (BENCH_WORKER_NODE_OPTIONS='' for V8's defaults), the throughput phase with
 * another number of calls at once (BENCH_THREADS=1000; the worker allows up to 1,000).
 * The simulator sends the worker every call and system event, as a central without the
 * `eventfilter` lines of docs/ami.md does; BENCH_EVENT_FILTER=1 sends it only those it reads.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { Redis } from 'ioredis';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEmbeddedRedis, type EmbeddedRedis } from '../src/lib/embedded-redis.js';
import { DEFAULT_PBX_USER, startPbxSimulator, type PbxSimulator, type PbxSimulatorOptions } from '../src/sim/pbx/index.js';
import { MultcallSide } from '../src/sim/multcall/multcall-side.js';
import type { DialRequest } from '../src/protocol/messages.js';
import { WORKER_NODE_OPTIONS } from '../src/worker/node-options.js';
import { WORKER_EVENTS } from '../src/ami/index.js';

const CALLS = Number(process.env.BENCH_CALLS ?? 30_000);
const LATENCY_SECONDS = Number(process.env.BENCH_LATENCY_S ?? 10);
/** Calls per second offered in the latency phase; the target is stated at 1,000. */
const LATENCY_RATE = Number(process.env.BENCH_LATENCY_RATE ?? 1000);
/** Seconds of the same traffic, not measured, before the latency phase measures. */
const LATENCY_WARMUP_SECONDS = Number(process.env.BENCH_LATENCY_WARMUP_S ?? 3);
/** The worker's node flags, as its pod sets them; BENCH_WORKER_NODE_OPTIONS='' runs V8's defaults. */
const WORKER_NODE_OPTIONS_IN_BENCH = process.env.BENCH_WORKER_NODE_OPTIONS ?? WORKER_NODE_OPTIONS;
const LIVE = 1000;
/** Calls at once in the throughput phase, for the worker (its threads) and the ceiling loop alike. */
const THREADS = Number(process.env.BENCH_THREADS ?? 500);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
if (!Number.isInteger(ROUNDS) || ROUNDS < 1) throw new Error(`BENCH_ROUNDS must be a whole number of at least 1, got ${process.env.BENCH_ROUNDS}`);
if (!Number.isInteger(THREADS) || THREADS < 1 || THREADS > 1000) throw new Error(`BENCH_THREADS must be a whole number from 1 to 1000 (the worker's limit), got ${process.env.BENCH_THREADS}`);
const CELULA = 'bench';
/** The central's manager.conf lets only WORKER_EVENTS through to the worker's user (docs/ami.md). */
const EVENT_FILTER = process.env.BENCH_EVENT_FILTER === '1';
/**
 * BENCH_PIN=1: in the latency phases, the process under measure (the worker, or the floor
 * loop) runs on a core of its own and Redis, the simulator and the bench share the other, as
 * a worker pod with its own CPU would run beside a central and a Redis on other hosts.
 */
const PIN = process.env.BENCH_PIN === '1';
/** Cores this process may use, read before any pinning narrows them. */
const CORES = availableParallelism();

/** Sets the CPU affinity of every thread of `pid` (`taskset`, util-linux). */
function pin(pid: number | undefined, cpus: string): void {
  if (pid === undefined) throw new Error('cannot pin a process that did not start');
  execFileSync('taskset', ['--all-tasks', '--cpu-list', '--pid', cpus, String(pid)], { stdio: 'ignore' });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function workerProcess(redis: EmbeddedRedis, pbx: PbxSimulator, threads: number): ChildProcess {
  const dir = mkdtempSync(join(tmpdir(), 'multcall-bench-'));
  const file = join(dir, 'worker.json');
  writeFileSync(
    file,
    JSON.stringify({
      LOG_LEVEL: 'error',
      redis_host: '127.0.0.1',
      redis_port: redis.port,
      Timeout_Command_Response: 5,
      Timeout_Command_ACK: 10,
      Retries: 0,
      Queues: [{ nome: CELULA, threads }],
      http_port: -1,
      central: { name: 'bench-central', host: pbx.host, port: pbx.port, username: 'multcall', maxOriginatesPerSecond: 10_000, maxChannels: 100_000 },
      originate: { channel: 'PJSIP/{number}@carrier', context: 'agents', exten: 's', ringTimeoutMs: 30_000 },
    }),
  );
  // BENCH_PROFILE=DIR writes a CPU profile of the worker there (and of the latency phase's
  // simulator in DIR/sim), to see where their time goes.
  const profile = process.env.BENCH_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE}`] : [];
  // The built artifact, as production runs it (`npm run bench:worker` builds first).
  return spawn(process.execPath, [...profile, 'dist/cli/main.js', 'worker', '--config', file, '--celula', CELULA], {
    env: { ...process.env, NODE_OPTIONS: WORKER_NODE_OPTIONS_IN_BENCH, AMI_SECRET: 'multcall', MULTCALL_WORKER_ID: `bench-${threads}` },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
}

/** CPU time a process has used so far (user + system), in ms. */
function cpuMs(pid: number | undefined): number {
  if (pid === undefined) return Number.NaN;
  // Fields 14 and 15 of /proc/<pid>/stat, in clock ticks (100 per second on Linux); the command name may hold spaces.
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

function rssMb(pid: number | undefined): number {
  if (pid === undefined) return Number.NaN;
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? Number.NaN) / 1024;
}

async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const done = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await Promise.race([done, sleep(10_000).then(() => child.kill('SIGKILL'))]);
}

async function setup(pbxOptions: PbxSimulatorOptions) {
  const redis = await startEmbeddedRedis();
  const pbx = await startPbxSimulator({ profile: '20', ...(EVENT_FILTER ? { users: [{ ...DEFAULT_PBX_USER, eventFilter: [...WORKER_EVENTS] }] } : {}), ...pbxOptions });
  const multcall = new MultcallSide({ redis: { host: '127.0.0.1', port: redis.port }, celula: CELULA });
  multcall.start();
  return {
    redis,
    pbx,
    multcall,
    async close() {
      await multcall.stop();
      await pbx.close();
      await redis.stop();
    },
  };
}

const request = (prefix: string, i: number): DialRequest => ({ v: 1, id: `${prefix}-${i}`, number: `5511${String(900_000_000 + i)}` });

async function fill(multcall: MultcallSide, prefix: string, n: number): Promise<void> {
  for (let i = 0; i < n; i += 1000) await multcall.enqueue(Array.from({ length: Math.min(1000, n - i) }, (_, k) => request(prefix, i + k)));
}

/** One section of the bench's Redis `INFO`, read on a connection of its own. */
async function redisInfo(port: number, section: string): Promise<string> {
  const client = new Redis({ port, lazyConnect: true });
  await client.connect();
  try {
    return await client.info(section);
  } finally {
    client.disconnect();
  }
}

/** Redis's own CPU time so far (user + system, all its threads), in ms. */
async function redisCpuMs(port: number): Promise<number> {
  const info = await redisInfo(port, 'cpu');
  return [...info.matchAll(/^used_cpu_(?:sys|user):([\d.]+)/gm)].reduce((sum, [, s]) => sum + Number(s) * 1000, 0);
}

/** CPU per call of the three parties of a throughput run: the consumer, Redis, and this process (simulator and Multcall side); µs. */
interface CpuSplit {
  consumer: number;
  redis: number;
  /** Of Redis's share, the time our script calls took (`INFO commandstats`: elapsed, not CPU; under load it includes waits for a core). */
  redisScripts: number;
  bench: number;
}

/** µs Redis has spent so far in script calls (EVALSHA, EVAL), the commands they ran included; elapsed time. */
async function redisScriptUs(port: number): Promise<number> {
  const info = await redisInfo(port, 'commandstats');
  return [...info.matchAll(/^cmdstat_(?:evalsha|eval):calls=\d+,usec=(\d+)/gm)].reduce((sum, [, us]) => sum + Number(us), 0);
}

/**
 * Results/s seen by the Multcall side from the first result on (process start-up is not
 * counted), and the CPU each party spent per call meanwhile.
 */
async function measureRun(env: Awaited<ReturnType<typeof setup>>, consumer: ChildProcess): Promise<{ callsPerS: number; cpu: CpuSplit }> {
  // A consumer that exits early (bad settings, a crash) ends the run instead of the wait.
  const exited = new Promise<never>((_, reject) => consumer.once('exit', (code) => reject(new Error(`the process under measure exited with code ${code}`))));
  exited.catch(() => undefined);
  const first = await Promise.race([env.multcall.waitForResults(1, 60_000).then(() => env.multcall.tally.results), exited]);
  const started = performance.now();
  const before = { consumer: cpuMs(consumer.pid), redis: await redisCpuMs(env.redis.port), redisScripts: await redisScriptUs(env.redis.port), bench: process.cpuUsage() };
  await Promise.race([env.multcall.waitForResults(CALLS, 600_000), exited]);
  const calls = CALLS - first;
  const callsPerS = (calls * 1000) / (performance.now() - started);
  const bench = process.cpuUsage(before.bench);
  const perCall = (ms: number) => Math.round((ms * 1000) / calls);
  const cpu = {
    consumer: perCall(cpuMs(consumer.pid) - before.consumer),
    redis: perCall((await redisCpuMs(env.redis.port)) - before.redis),
    redisScripts: perCall(((await redisScriptUs(env.redis.port)) - before.redisScripts) / 1000),
    bench: perCall((bench.user + bench.system) / 1000),
  };
  return { callsPerS, cpu };
}

/** Throughput of one worker process with zero-length calls. */
async function throughput(): Promise<{ callsPerS: number; rssMb: number; cpu: CpuSplit }> {
  const env = await setup({ outcome: () => ({ kind: 'answer', ringMs: 0, talkMs: 0 }) });
  await fill(env.multcall, 'tp', CALLS);
  const worker = workerProcess(env.redis, env.pbx, THREADS);
  const { callsPerS, cpu } = await measureRun(env, worker);
  const rss = rssMb(worker.pid);
  if (env.pbx.stats().duplicates.length > 0) throw new Error('a request was dialled twice');
  await stopProcess(worker);
  await env.close();
  return { callsPerS, rssMb: rss, cpu };
}

/**
 * The Redis ceiling: the same run with the worker process replaced by a bare ioredis loop
 * doing the worker's Redis operations per call (bench/ceiling-loop.ts), no AMI at all.
 */
async function ceiling(): Promise<{ callsPerS: number; cpu: CpuSplit }> {
  const env = await setup({});
  await fill(env.multcall, 'ce', CALLS);
  const loop = spawn(process.execPath, ['--import', 'tsx', 'bench/ceiling-loop.ts', String(env.redis.port), CELULA, String(THREADS)], { stdio: ['ignore', 'ignore', 'inherit'] });
  const measured = await measureRun(env, loop);
  await stopProcess(loop);
  await env.close();
  return measured;
}

/**
 * Enqueue → Originate on the wire, at 1,000 calls/s offered (BENCH_LATENCY_RATE). The simulator runs as its own
 * process and measures the delay itself (each request carries its queue time in a variable),
 * so the stalls of this busy bench process do not count.
 */
async function latency(consumer: 'worker' | 'floor' = 'worker'): Promise<{ p50: number; p99: number; max: number; samples: number; commands: Record<string, number>; cpu: CpuSplit & { sim: number }; rssMb: number }> {
  const redis = await startEmbeddedRedis();
  const profile = process.env.BENCH_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE}/sim`] : [];
  const sim = spawn(process.execPath, [...profile, 'dist/cli/main.js', 'sim', 'pbx', '--port', '0', '--profile', '20', '--mix', 'answer=1', '--time-scale', '0.001', '--latency-var', 'BENCH_T0', ...(EVENT_FILTER ? ['--event-filter', 'worker'] : [])], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines: string[] = [];
  let buffered = '';
  sim.stdout?.on('data', (chunk: Buffer) => {
    buffered += chunk.toString();
    const parts = buffered.split('\n');
    buffered = parts.pop() ?? '';
    lines.push(...parts.filter(Boolean));
  });
  while (lines.length === 0) await sleep(10);
  const address = (JSON.parse(lines[0] as string) as { address: string }).address;
  const [host, port] = address.split(':');
  const pbx = { host: host ?? '127.0.0.1', port: Number(port) } as PbxSimulator;
  const multcall = new MultcallSide({ redis: { host: '127.0.0.1', port: redis.port }, celula: CELULA });
  multcall.start();
  // The process under measure: the worker, or the floor loop in its place.
  const worker =
    consumer === 'worker'
      ? workerProcess(redis, pbx, 1000)
      : spawn(process.execPath, ['--import', 'tsx', 'bench/latency-floor.ts', String(redis.port), CELULA, `${pbx.host}:${pbx.port}`], { stdio: ['ignore', 'ignore', 'inherit'] });
  if (PIN) {
    if (CORES < 2) throw new Error('BENCH_PIN=1 needs two cores');
    const redisPid = Number(/process_id:(\d+)/.exec(await redisInfo(redis.port, 'server'))?.[1]);
    pin(worker.pid, '1');
    for (const pid of [redisPid, sim.pid, process.pid]) pin(pid, '0');
  }
  const stamped = (id: string): DialRequest => ({ ...request(id, 0), id, variables: { BENCH_T0: (performance.timeOrigin + performance.now()).toFixed(3) } });
  await multcall.enqueue([request('warm', 0)]); // unstamped: start-up is not latency
  await multcall.waitForResults(1, 30_000);
  const total = LATENCY_SECONDS * LATENCY_RATE;
  // The same rate, unstamped, first: what is measured is a worker that has been running
  // (code compiled, heap grown), not the first second after its start.
  const warm = LATENCY_WARMUP_SECONDS * LATENCY_RATE;
  let countsBefore = Promise.resolve(new Map<string, number>());
  let cpuBefore = { consumer: 0, redis: Promise.resolve(0), redisScripts: Promise.resolve(0), sim: 0, bench: process.cpuUsage() };
  const started = performance.now();
  for (let i = 0; i < warm + total; i++) {
    const wait = started + (i * 1000) / LATENCY_RATE - performance.now(); // evenly spaced
    if (wait > 1) await sleep(wait - 0.5);
    if (i === warm) {
      countsBefore = commandCounts(redis.port);
      cpuBefore = { consumer: cpuMs(worker.pid), redis: redisCpuMs(redis.port), redisScripts: redisScriptUs(redis.port), sim: cpuMs(sim.pid), bench: process.cpuUsage() };
    }
    void multcall.enqueue([i < warm ? request('warm', i + 1) : stamped(`lat-${i}`)]);
  }
  await multcall.waitForResults(warm + total + 1, 60_000);
  // Everyone's commands (worker, Multcall side, heartbeats): what Redis did per call.
  const commands = perCall(await countsBefore, await commandCounts(redis.port), total);
  const bench = process.cpuUsage(cpuBefore.bench);
  const us = (ms: number) => Math.round((ms * 1000) / total);
  const cpu = {
    consumer: us(cpuMs(worker.pid) - cpuBefore.consumer),
    redis: us((await redisCpuMs(redis.port)) - (await cpuBefore.redis)),
    redisScripts: us(((await redisScriptUs(redis.port)) - (await cpuBefore.redisScripts)) / 1000),
    sim: us(cpuMs(sim.pid) - cpuBefore.sim),
    bench: us((bench.user + bench.system) / 1000),
  };
  const rss = rssMb(worker.pid); // after seconds at a steady rate
  if (PIN) pin(process.pid, `0-${CORES - 1}`); // what it starts next may use every core
  await stopProcess(worker);
  const stopped = new Promise((r) => sim.once('exit', r));
  sim.kill('SIGTERM');
  await stopped;
  await multcall.stop();
  await redis.stop();
  const report = JSON.parse(lines.at(-1) ?? '{}') as { wireLatency?: { count: number; p50: number; p99: number; max: number } };
  const w = report.wireLatency;
  if (!w) throw new Error('the simulator reported no latency');
  return { p50: w.p50, p99: w.p99, max: w.max, samples: w.count, commands, cpu, rssMb: rss };
}

/** Commands Redis has run so far, by name (`INFO commandstats`). */
async function commandCounts(port: number): Promise<Map<string, number>> {
  const info = await redisInfo(port, 'commandstats');
  const counts = new Map<string, number>();
  for (const [, name, calls] of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) counts.set(name as string, Number(calls));
  return counts;
}

/** Commands per call between two readings, every kind with at least 0.05 per call. */
function perCall(before: Map<string, number>, after: Map<string, number>, calls: number): Record<string, number> {
  const out: Record<string, number> = {};
  let total = 0;
  for (const [name, n] of after) {
    const d = (n - (before.get(name) ?? 0)) / calls;
    total += d;
    if (d >= 0.05) out[name] = Number(d.toFixed(2));
  }
  return { total: Number(total.toFixed(2)), ...out };
}

/** Worker RSS with 1,000 calls up at once. */
async function memory(): Promise<{ idleMb: number; liveMb: number }> {
  const env = await setup({ outcome: () => ({ kind: 'answer', ringMs: 100, talkMs: 120_000 }) });
  const worker = workerProcess(env.redis, env.pbx, LIVE);
  await env.multcall.enqueue([{ ...request('mem-warm', 0) }]);
  await sleep(3000);
  const idleMb = rssMb(worker.pid);
  await fill(env.multcall, 'mem', LIVE);
  while (env.pbx.stats().liveChannels < LIVE) await sleep(50);
  await sleep(2000);
  const liveMb = rssMb(worker.pid);
  worker.kill('SIGKILL');
  await env.close();
  return { idleMb, liveMb };
}

const phase = (name: string) => process.stderr.write(`bench:worker ${name}…\n`);
/** BENCH_ONLY=throughput,latency … runs a subset (figures of skipped phases are null). */
const only = new Set((process.env.BENCH_ONLY ?? 'throughput,ceiling,latency,floor,memory').split(','));
const run = async <T>(name: string, f: () => Promise<T>): Promise<T | null> => {
  if (!only.has(name)) return null;
  phase(name);
  const value = await f();
  process.stderr.write(`bench:worker ${name}: ${JSON.stringify(value)}\n`);
  return value;
};
/** Worker and ceiling runs in alternation; the round whose ratio is the median stands for all. */
const rounds: Array<{ tp: Awaited<ReturnType<typeof throughput>> | null; ceil: Awaited<ReturnType<typeof ceiling>> | null }> = [];
for (let i = 0; i < ROUNDS; i++) rounds.push({ tp: await run('throughput', throughput), ceil: await run('ceiling', ceiling) });
const ratioOf = (r: (typeof rounds)[number]) => (r.tp && r.ceil ? r.tp.callsPerS / r.ceil.callsPerS : (r.tp?.callsPerS ?? r.ceil?.callsPerS ?? 0));
const median = [...rounds].sort((a, b) => ratioOf(a) - ratioOf(b))[Math.floor((rounds.length - 1) / 2)];
const tp = median?.tp ?? null;
const ceil = median?.ceil ?? null;
const lat = await run('latency', () => latency('worker'));
const floor = await run('floor', () => latency('floor'));
const mem = await run('memory', memory);
const round = (v: number | undefined, digits = 0) => (v === undefined || Number.isNaN(v) ? null : Number(v.toFixed(digits)));
console.log(
  JSON.stringify({
    bench: 'worker',
    calls: CALLS,
    calls_per_s: round(tp?.callsPerS),
    ceiling_calls_per_s: round(ceil?.callsPerS),
    ceiling_ratio: tp && ceil ? round(tp.callsPerS / ceil.callsPerS, 2) : null,
    // Every round, in order: worker calls/s, ceiling calls/s.
    rounds: rounds.map((r) => [round(r.tp?.callsPerS), round(r.ceil?.callsPerS)]),
    // CPU µs per call at full load: the worker (the ceiling loop), Redis, the simulator and Multcall side.
    cpu_us_per_call_throughput: tp?.cpu ?? null,
    cpu_us_per_call_ceiling: ceil?.cpu ?? null,
    p50_ms: round(lat?.p50, 2),
    p99_ms: round(lat?.p99, 2),
    max_ms: round(lat?.max, 2),
    floor_p50_ms: round(floor?.p50, 2),
    floor_p99_ms: round(floor?.p99, 2),
    p99_floor_ratio: lat && floor ? round(lat.p99 / floor.p99, 2) : null,
    latency_samples: lat?.samples ?? null,
    latency_rate: LATENCY_RATE,
    latency_warmup_s: LATENCY_WARMUP_SECONDS,
    redis_commands_per_call: lat?.commands.total ?? null,
    // CPU µs per call at the latency phase's rate: the worker (the floor loop), Redis and its scripts' share, the simulator, the Multcall side.
    cpu_us_per_call_latency: lat?.cpu ?? null,
    cpu_us_per_call_floor: floor?.cpu ?? null,
    worker_node_options: WORKER_NODE_OPTIONS_IN_BENCH,
    event_filter: EVENT_FILTER,
    pinned: PIN,
    rss_mb_throughput: round(tp?.rssMb, 1),
    rss_mb_latency: round(lat?.rssMb, 1),
    rss_mb_idle: round(mem?.idleMb, 1),
    rss_mb: round(mem?.liveMb, 1),
  }),
);
process.exit(0);
