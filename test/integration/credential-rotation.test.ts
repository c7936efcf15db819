/**
 * Credentials mounted from Secrets are rotated in place (the kubelet rewrites the file): a
 * running worker must log in with the new ones at its next connect, to Redis and to the
 * central, without a restart, and lose nothing meanwhile.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startRedis, type RedisServer } from '../support/redis.js';
import { CELULA, until, workerFile } from '../support/stack.js';
import { startPbxSimulator, type PbxSimulator } from '../../src/sim/pbx/index.js';
import { MultcallSide } from '../../src/sim/multcall/multcall-side.js';
import { settingsFrom } from '../../src/worker/config.js';
import { startWorker, type RunningWorker } from '../../src/worker/run.js';
import { silentLogger } from '../../src/lib/log.js';

let redis: RedisServer | undefined;
let pbx: PbxSimulator | undefined;
let multcall: MultcallSide | undefined;
let worker: RunningWorker | undefined;

afterAll(async () => {
  await worker?.stop();
  await multcall?.stop();
  await pbx?.close();
  await redis?.stop();
});

describe('credentials rotated while the worker runs', () => {
  it('the worker reconnects to Redis and to the central with the values now in its Secret files', async () => {
    redis = await startRedis();
    const admin = redis.client();
    // The worker has a Redis user of its own; Multcall's side uses the default one.
    await admin.call('ACL', 'SETUSER', 'worker', 'on', '>redis-old', '~*', '&*', '+@all');
    const amiUser = { username: 'multcall', secret: 'ami-old', read: ['call', 'system'], write: ['originate', 'call'] };
    pbx = await startPbxSimulator({ profile: '20', timeScale: 0.05, users: [amiUser] });
    multcall = new MultcallSide({ redis: { host: '127.0.0.1', port: redis.port }, celula: CELULA });
    multcall.start();

    const dir = mkdtempSync(join(tmpdir(), 'multcall-secrets-'));
    const files = { ami: join(dir, 'ami-secret'), redis: join(dir, 'redis-password') };
    writeFileSync(files.ami, 'ami-old\n');
    writeFileSync(files.redis, 'redis-old\n');
    const env = { AMI_SECRET_FILE: files.ami, REDIS_PASSWORD_FILE: files.redis, REDIS_USERNAME: 'worker', MULTCALL_WORKER_ID: 'w-rotate' };
    worker = await startWorker(settingsFrom(workerFile(redis.port, pbx, { threads: 4 }), CELULA, env), silentLogger);
    await multcall.enqueue([JSON.stringify({ v: 1, id: 'before', number: '5511900000001' })]);
    await multcall.waitForResults(1, 15_000);

    // Rotation: the new values in Redis and on the central, then in the mounted files.
    await admin.call('ACL', 'SETUSER', 'worker', 'resetpass', '>redis-new');
    amiUser.secret = 'ami-new';
    writeFileSync(files.ami, 'ami-new\n');
    writeFileSync(files.redis, 'redis-new\n');
    // Every connection of the worker drops (a Redis failover, a central restart).
    await admin.call('CLIENT', 'KILL', 'USER', 'worker');
    pbx.faults.dropConnections();
    const logins = pbx.stats().connections;
    await until(() => Object.values(worker?.worker.ready ?? {}).every(Boolean) && pbx!.stats().connections > logins, 15_000, 'the worker back up');

    await multcall.enqueue([JSON.stringify({ v: 1, id: 'after', number: '5511900000002' })]);
    await multcall.waitForResults(2, 15_000);
    expect(multcall.results.get('after')).toMatchObject({ status: 'answered', worker: 'w-rotate' });
    // Logged in again as the worker's user, with the new password.
    const clients = String(await admin.call('CLIENT', 'LIST'));
    expect(clients.split('\n').filter((line) => line.includes('user=worker')).length).toBeGreaterThanOrEqual(4);
    expect(pbx.stats().duplicates).toEqual([]);
  }, 60_000);
});
