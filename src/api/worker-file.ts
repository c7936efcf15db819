/**
 * Celula + Central → the worker settings file (src/worker/config.ts) that a worker on that
 * central reads. Kept next to the CRDs so that a field added to one side and not the other
 * shows up in a test, not in a crash-looping pod.
 *
 * What comes from Secrets stays out of the file, the AMI user name included: the worker reads
 * AMI_USERNAME_FILE, AMI_SECRET_FILE and REDIS_PASSWORD_FILE, mounted from the Secrets the
 * objects reference. The operator never reads those values to write them anywhere.
 */
import type { z } from 'zod';
import type { workerFile } from '../worker/config.js';
import type { Celula } from './celula.js';
import type { Central } from './central.js';
import { durationMs } from './common.js';

export type WorkerFileInput = z.input<typeof workerFile>;

/** Port of the worker's /metrics, /healthz and /readyz inside the pod. */
export const WORKER_HTTP_PORT = 8080;

const seconds = (text: string): number => durationMs(text) / 1000;

export function workerFileFor(celula: Celula, central: Central): WorkerFileInput {
  const { spec } = celula;
  // The Central's whole capacity: workers share it through Redis, so the file does not
  // depend on how many of them run (a scale restarts nobody).
  const limits = central.spec.capacity;
  return {
    LOG_LEVEL: spec.worker.logLevel,
    LOG_FORMAT: 'json',
    // Container logs are collected from stdout.
    LOG_LOCATION: 'stdout',
    redis_host: spec.redis.host,
    redis_port: spec.redis.port,
    redis_db: spec.redis.db,
    redis_prefix: spec.redis.prefix,
    Timeout_Command_Response: seconds(spec.timeouts.commandResponse),
    Timeout_Command_ACK: seconds(spec.timeouts.commandAck),
    Retries: spec.retries,
    Queues: [{ nome: spec.queue, threads: spec.threads }],
    central: {
      name: central.metadata.name,
      host: central.spec.ami.host,
      port: central.spec.ami.port,
      maxChannels: limits.maxChannels,
      maxOriginatesPerSecond: limits.maxOriginatesPerSecond,
    },
    originate: {
      channel: spec.originate.channel,
      context: spec.originate.context,
      exten: spec.originate.exten,
      priority: spec.originate.priority,
      ...(spec.originate.callerId !== undefined ? { callerId: spec.originate.callerId } : {}),
      ringTimeoutMs: durationMs(spec.originate.ringTimeout),
      variables: spec.originate.variables ?? {},
    },
    ack_timeout_policy: spec.worker.ackTimeoutPolicy,
    drain_timeout: seconds(spec.worker.drainTimeout),
    http_port: WORKER_HTTP_PORT,
  };
}
