/**
 * `multcall operator`: the Kubernetes operator. Flags override the environment the Helm
 * chart sets (WATCH_NAMESPACES, MULTCALL_LEADER_ELECTION, MULTCALL_LEASE_NAME,
 * POD_NAMESPACE, MULTCALL_WORKER_IMAGE, MULTCALL_WORKER_SERVICE_ACCOUNT, MULTCALL_QUEUE_POLL_MS,
 * LOG_LEVEL).
 */
import { existsSync, readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { LevelWithSilent } from 'pino';
import { createLogger } from '../lib/log.js';
import { startOperator } from '../operator/main.js';
import { KubeClient } from '../operator/runtime/kube.js';
import { DEFAULT_ELECTION } from '../operator/runtime/leader.js';

const USAGE = `usage: multcall operator [options]

  --kubeconfig FILE        kubeconfig to use (default: the pod's service account)
  --namespace NS[,NS…]     watch only these namespaces (default: all; env WATCH_NAMESPACES)
  --leader-elect BOOL      take part in leader election (default true; env MULTCALL_LEADER_ELECTION)
  --lease-namespace NS     namespace of the leader Lease (default: POD_NAMESPACE, the pod's namespace, or default)
  --lease-name NAME        name of the leader Lease (default multcall-operator; env MULTCALL_LEASE_NAME)
  --lease-duration SEC     seconds before a standby may take an unrenewed lease (default 15)
  --renew-deadline SEC     seconds a leader keeps acting without a renew (default 10)
  --retry-period SEC       seconds between lease renews and polls (default 2)
  --metrics-port PORT      /metrics (default 8080; 0 any free port; =-1 off)
  --health-port PORT       /healthz and /readyz (default 8081; =-1 off, e.g. --health-port=-1)
  --worker-image IMAGE     image of worker pods when a Celula names none (env MULTCALL_WORKER_IMAGE)
  --worker-service-account NAME   ServiceAccount of worker pods (env MULTCALL_WORKER_SERVICE_ACCOUNT)
  --queue-poll-ms MS       how often queue-mode células' Redis queues are read, 100-1000 (default 500; env MULTCALL_QUEUE_POLL_MS)
  --identity ID            this process's name in the Lease (default: POD_NAME, else hostname plus a random suffix)
  --log-level LEVEL        fatal, error, warn, info, debug, trace or silent (env LOG_LEVEL)
`;

const DEFAULT_WORKER_IMAGE = 'ghcr.io/zanc/multcall-operator:0.1.0';
const SA_NAMESPACE_FILE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';

function bool(text: string | undefined, fallback: boolean): boolean {
  if (text === undefined || text === '') return fallback;
  if (/^(true|1|yes)$/i.test(text)) return true;
  if (/^(false|0|no)$/i.test(text)) return false;
  throw new Error(`not a boolean: ${text}`);
}

function int(text: string | undefined, fallback: number, flag: string): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isInteger(n)) throw new Error(`${flag}: not an integer: ${text}`);
  return n;
}

export async function run(args: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        kubeconfig: { type: 'string' },
        namespace: { type: 'string' },
        'leader-elect': { type: 'string' },
        'lease-namespace': { type: 'string' },
        'lease-name': { type: 'string' },
        'lease-duration': { type: 'string' },
        'renew-deadline': { type: 'string' },
        'retry-period': { type: 'string' },
        'metrics-port': { type: 'string' },
        'health-port': { type: 'string' },
        'worker-image': { type: 'string' },
        'worker-service-account': { type: 'string' },
        identity: { type: 'string' },
        'queue-poll-ms': { type: 'string' },
        'log-level': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }));
  } catch (error) {
    console.error(`${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const env = process.env;
  const logger = createLogger({ name: 'multcall-operator', level: (values['log-level'] ?? env.LOG_LEVEL ?? 'info') as LevelWithSilent });
  try {
    const kube = values.kubeconfig ? KubeClient.fromFile(values.kubeconfig) : KubeClient.inCluster();
    const namespaces = (values.namespace ?? env.WATCH_NAMESPACES ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    const podNamespace = env.POD_NAMESPACE ?? (existsSync(SA_NAMESPACE_FILE) ? readFileSync(SA_NAMESPACE_FILE, 'utf8').trim() : undefined);
    const seconds = (flag: 'lease-duration' | 'renew-deadline' | 'retry-period', fallbackMs: number) => int(values[flag], fallbackMs / 1000, `--${flag}`) * 1000;
    const election = {
      leaseDurationMs: seconds('lease-duration', DEFAULT_ELECTION.leaseDurationMs),
      renewDeadlineMs: seconds('renew-deadline', DEFAULT_ELECTION.renewDeadlineMs),
      retryPeriodMs: seconds('retry-period', DEFAULT_ELECTION.retryPeriodMs),
    };
    if (!(election.retryPeriodMs < election.renewDeadlineMs && election.renewDeadlineMs < election.leaseDurationMs)) {
      throw new Error('need retry-period < renew-deadline < lease-duration');
    }
    const base = values.identity ?? env.POD_NAME;
    const queuePollMs = int(values['queue-poll-ms'] ?? (env.MULTCALL_QUEUE_POLL_MS || undefined), 500, '--queue-poll-ms');
    if (queuePollMs < 100 || queuePollMs > 1000) throw new Error(`--queue-poll-ms must be between 100 and 1000, not ${queuePollMs}`);
    const operator = await startOperator({
      kube,
      logger,
      namespaces,
      leaderElection: bool(values['leader-elect'] ?? env.MULTCALL_LEADER_ELECTION, true),
      leaseNamespace: values['lease-namespace'] ?? podNamespace ?? namespaces[0] ?? 'default',
      leaseName: values['lease-name'] ?? (env.MULTCALL_LEASE_NAME || 'multcall-operator'),
      ...(base ? { identity: base } : {}),
      election,
      queuePollMs,
      metricsPort: int(values['metrics-port'], 8080, '--metrics-port'),
      healthPort: int(values['health-port'], 8081, '--health-port'),
      workerImage: values['worker-image'] ?? (env.MULTCALL_WORKER_IMAGE || DEFAULT_WORKER_IMAGE),
      ...((values['worker-service-account'] ?? env.MULTCALL_WORKER_SERVICE_ACCOUNT) ? { workerServiceAccount: values['worker-service-account'] ?? env.MULTCALL_WORKER_SERVICE_ACCOUNT } : {}),
    });
    logger.info({ identity: operator.identity, ports: operator.ports }, 'operator started');
    await new Promise<void>((resolve) => {
      process.once('SIGTERM', resolve);
      process.once('SIGINT', resolve);
    });
    logger.info('shutting down');
    await operator.stop();
    return 0;
  } catch (error) {
    logger.fatal({ err: (error as Error).message }, 'operator failed');
    await new Promise((r) => setTimeout(r, 100));
    return 1;
  }
}
