/**
 * A whole célula on one machine: a real redis-server, the PBX simulator on TCP, workers
 * (in-process or as child processes) and the Multcall side. Used by the integration tests.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRedis, type RedisServer } from './redis.js';
import { startPbxSimulator, type PbxSimulator, type PbxSimulatorOptions } from '../../src/sim/pbx/index.js';
import { settingsFrom, type WorkerSettings } from '../../src/worker/config.js';
import { startWorker, type RunningWorker } from '../../src/worker/run.js';
import { MultcallSide, type MultcallSideOptions } from '../../src/sim/multcall/multcall-side.js';
import { silentLogger } from '../../src/lib/log.js';

export interface WorkerFileOverrides {
  /** The célula (queue) the worker serves; default `vendas`. */
  celula?: string;
  threads?: number;
  Retries?: number;
  Timeout_Command_Response?: number;
  Timeout_Command_ACK?: number;
  heartbeat?: number;
  lease?: number;
  ami_ping?: number;
  ami_down_after?: number;
  drain_timeout?: number;
  ack_timeout_policy?: 'report' | 'hangup';
  http_port?: number;
  central?: Record<string, unknown>;
  originate?: Record<string, unknown>;
}

export const CELULA = 'vendas';

export function workerFile(redisPort: number, pbx: PbxSimulator, o: WorkerFileOverrides = {}): Record<string, unknown> {
  return {
    LOG_LEVEL: 'warn',
    redis_host: '127.0.0.1',
    redis_port: redisPort,
    Timeout_Command_Response: o.Timeout_Command_Response ?? 2,
    Timeout_Command_ACK: o.Timeout_Command_ACK ?? 2,
    Retries: o.Retries ?? 2,
    Queues: [{ nome: o.celula ?? CELULA, threads: o.threads ?? 10 }],
    heartbeat: o.heartbeat ?? 0.5,
    lease: o.lease ?? 2,
    ...(o.ami_ping !== undefined ? { ami_ping: o.ami_ping } : {}),
    ...(o.ami_down_after !== undefined ? { ami_down_after: o.ami_down_after } : {}),
    drain_timeout: o.drain_timeout ?? 60,
    ack_timeout_policy: o.ack_timeout_policy ?? 'report',
    http_port: o.http_port ?? -1,
    central: { name: 'central-a', host: pbx.host, port: pbx.port, username: 'multcall', maxOriginatesPerSecond: 5000, maxChannels: 5000, ...o.central },
    originate: { channel: 'PJSIP/{number}@carrier', context: 'agents', exten: 's', callerId: '"Zanc" <1130000000>', ringTimeoutMs: 5000, ...o.originate },
  };
}

export function settingsFor(redisPort: number, pbx: PbxSimulator, o: WorkerFileOverrides = {}, workerId?: string): WorkerSettings {
  return settingsFrom(workerFile(redisPort, pbx, o), o.celula ?? CELULA, { AMI_SECRET: 'multcall', ...(workerId ? { MULTCALL_WORKER_ID: workerId } : {}) });
}

export interface Stack {
  redis: RedisServer;
  pbx: PbxSimulator;
  multcall: MultcallSide;
  workers: RunningWorker[];
  startWorker(o?: WorkerFileOverrides, id?: string): Promise<RunningWorker>;
  stop(): Promise<void>;
}

export async function startStack(options: { pbx?: PbxSimulatorOptions; aof?: boolean; multcall?: Partial<MultcallSideOptions> } = {}): Promise<Stack> {
  const redis = await startRedis({ aof: options.aof ?? false });
  const pbx = await startPbxSimulator({ profile: '20', timeScale: 0.05, ...options.pbx });
  const multcall = new MultcallSide({ redis: { host: '127.0.0.1', port: redis.port }, celula: CELULA, ...options.multcall });
  multcall.start();
  const workers: RunningWorker[] = [];
  let n = 0;
  return {
    redis,
    pbx,
    multcall,
    workers,
    async startWorker(o = {}, id) {
      const running = await startWorker(settingsFor(redis.port, pbx, o, id ?? `w${++n}`), silentLogger);
      workers.push(running);
      return running;
    },
    async stop() {
      await Promise.allSettled(workers.map((w) => w.stop()));
      await multcall.stop();
      await pbx.close();
      await redis.stop();
    },
  };
}

/** A worker as its own OS process (`multcall worker`), so it can be SIGKILLed or SIGTERMed. */
export function spawnWorker(redisPort: number, pbx: PbxSimulator, id: string, o: WorkerFileOverrides = {}): ChildProcess {
  const dir = mkdtempSync(join(tmpdir(), 'multcall-worker-'));
  const file = join(dir, 'worker.json');
  writeFileSync(file, JSON.stringify(workerFile(redisPort, pbx, o)));
  return spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'worker', '--config', file, '--celula', o.celula ?? CELULA], {
    env: { ...process.env, AMI_SECRET: 'multcall', MULTCALL_WORKER_ID: id },
    // Worker logs are noise in a passing run; MULTCALL_TEST_LOGS=1 shows them.
    stdio: ['ignore', 'ignore', process.env.MULTCALL_TEST_LOGS ? 'inherit' : 'ignore'],
  });
}

/** Waits until `condition` holds, polling every 25 ms; fails naming `what` after `timeoutMs`. */
export async function until(condition: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
