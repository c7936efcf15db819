/**
 * A throwaway redis-server on a free loopback port, for the demo and the tests: the
 * "embedded default" when no Redis is configured. Needs `redis-server` on PATH.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';

export interface EmbeddedRedis {
  port: number;
  url: string;
  /** A client that waits through restarts; closed by `stop()`. */
  client(): Redis;
  /** Stops the server (SIGTERM = clean shutdown with AOF flushed, or SIGKILL) and starts it again on the same port and data. */
  restart(how?: 'shutdown' | 'kill', downMs?: number): Promise<void>;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

async function waitForPing(port: number, child: ChildProcess, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`redis-server exited with code ${child.exitCode} before answering on port ${port}`);
    const probe = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    probe.on('error', () => undefined);
    try {
      await probe.connect();
      if ((await probe.ping()) === 'PONG') return;
    } catch {
      if (Date.now() > deadline) throw new Error(`redis-server on port ${port} did not answer within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 50));
    } finally {
      probe.disconnect();
    }
  }
}

export async function startEmbeddedRedis(options: { aof?: boolean; binary?: string } = {}): Promise<EmbeddedRedis> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'multcall-redis-'));
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--daemonize', 'no', '--loglevel', 'warning'];
  // appendfsync always: a claimed (maybe dialled) request must survive a crash of Redis itself.
  args.push(...(options.aof ? ['--appendonly', 'yes', '--appendfsync', 'always'] : ['--appendonly', 'no']));
  let child: ChildProcess | undefined;
  const clients: Redis[] = [];
  const launch = async () => {
    const started = spawn(options.binary ?? 'redis-server', args, { stdio: ['ignore', 'ignore', 'inherit'] });
    child = started;
    await new Promise<void>((resolve, reject) => {
      started.once('spawn', () => resolve());
      started.once('error', (error) => reject(new Error(`cannot start redis-server (${error.message}); install it, e.g. apt-get install redis-server`)));
    });
    await waitForPing(port, started);
  };
  const halt = async (how: 'shutdown' | 'kill') => {
    const c = child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => c.once('exit', () => resolve()));
    c.kill(how === 'kill' ? 'SIGKILL' : 'SIGTERM');
    await exited;
  };
  await launch();
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    client() {
      const client = new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: null });
      client.on('error', () => undefined);
      clients.push(client);
      return client;
    },
    async restart(how = 'shutdown', downMs = 200) {
      await halt(how);
      await new Promise((r) => setTimeout(r, downMs));
      await launch();
    },
    async stop() {
      for (const c of clients) c.disconnect();
      await halt('kill');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
