/** The operator's Prometheus metrics, on one registry served at /metrics. */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface OperatorMetrics {
  registry: Registry;
  reconciles: Counter<'kind' | 'result'>;
  reconcileDuration: Histogram<'kind'>;
  queueDepth: Gauge<'kind'>;
  informerRestarts: Counter<'resource' | 'reason'>;
  kubeWrites: Counter<'verb' | 'resource'>;
  leader: Gauge;
  centralProbeLatency: Gauge<'namespace' | 'central'>;
}

export function createOperatorMetrics(withDefaults = true): OperatorMetrics {
  const registry = new Registry();
  if (withDefaults) collectDefaultMetrics({ register: registry, prefix: 'multcall_operator_' });
  return {
    registry,
    reconciles: new Counter({
      name: 'multcall_operator_reconciles_total',
      help: 'Reconciles by kind and result (success, requeue, error, terminal).',
      labelNames: ['kind', 'result'],
      registers: [registry],
    }),
    reconcileDuration: new Histogram({
      name: 'multcall_operator_reconcile_duration_seconds',
      help: 'Time one reconcile took.',
      labelNames: ['kind'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    queueDepth: new Gauge({ name: 'multcall_operator_queue_depth', help: 'Keys waiting in the work queue.', labelNames: ['kind'], registers: [registry] }),
    informerRestarts: new Counter({
      name: 'multcall_operator_informer_restarts_total',
      help: 'Times an informer relisted after an error, an expired watch or a silent connection.',
      labelNames: ['resource', 'reason'],
      registers: [registry],
    }),
    kubeWrites: new Counter({ name: 'multcall_operator_kube_writes_total', help: 'Writes sent to the API server.', labelNames: ['verb', 'resource'], registers: [registry] }),
    leader: new Gauge({ name: 'multcall_operator_leader', help: '1 while this process is the leader.', registers: [registry] }),
    centralProbeLatency: new Gauge({
      name: 'multcall_operator_central_probe_latency_ms',
      help: 'Duration of the last successful AMI probe of a central.',
      labelNames: ['namespace', 'central'],
      registers: [registry],
    }),
  };
}
