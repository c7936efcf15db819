import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** The worker's Prometheus metrics, in their own registry so tests can run several workers in one process. */
export function workerMetrics(labels: { celula: string; central: string }) {
  const registry = new Registry();
  registry.setDefaultLabels(labels);
  collectDefaultMetrics({ register: registry });
  return {
    registry,
    calls: new Counter({ name: 'multcall_worker_calls_total', help: 'Results published, by status.', labelNames: ['status'], registers: [registry] }),
    claimToOriginate: new Histogram({
      name: 'multcall_worker_claim_to_originate_seconds',
      help: 'From claiming a request to the central accepting its Originate.',
      buckets: [0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
    inFlight: new Gauge({ name: 'multcall_worker_in_flight', help: 'Requests this worker holds (claimed and not yet reported).', registers: [registry] }),
    threads: new Gauge({ name: 'multcall_worker_threads', help: 'Calls this worker may hold at once (live parameter).', registers: [registry] }),
    amiReconnects: new Counter({ name: 'multcall_worker_ami_reconnects_total', help: 'AMI connections lost and re-established.', registers: [registry] }),
    deadLetters: new Counter({ name: 'multcall_worker_dead_letters_total', help: 'Requests this worker dead-lettered, by code.', labelNames: ['code'], registers: [registry] }),
    // Per central: sum by (central) (rate(multcall_worker_originates_total[1m])).
    originates: new Counter({ name: 'multcall_worker_originates_total', help: 'Originate actions the central answered, accepted or refused (retries included).', registers: [registry] }),
    originateRetries: new Counter({ name: 'multcall_worker_originate_retries_total', help: 'Originates retried after the central refused them.', registers: [registry] }),
    clockSkew: new Gauge({ name: 'multcall_worker_clock_skew_seconds', help: 'This worker\'s clock minus Redis\'s (TIME, corrected for half the round trip), at the last check.', registers: [registry] }),
    recovered: new Counter({ name: 'multcall_worker_recovered_total', help: 'Calls taken over from dead peers, by how they were resolved.', labelNames: ['how'], registers: [registry] }),
  };
}
export type WorkerMetrics = ReturnType<typeof workerMetrics>;
