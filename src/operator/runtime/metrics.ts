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
  centralHealthy: Gauge<'namespace' | 'central'>;
  /** Channels the workers placed on a central can hold (replicas × threads over every célula) and its cap. */
  centralChannels: Gauge<'namespace' | 'central' | 'kind'>;
  celulaQueued: Gauge<'namespace' | 'celula'>;
  celulaInFlight: Gauge<'namespace' | 'celula'>;
  celulaReplicas: Gauge<'namespace' | 'celula' | 'kind'>;
  scaleDecisions: Counter<'direction'>;
  queuePollFailures: Counter;
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
    centralHealthy: new Gauge({
      name: 'multcall_operator_central_healthy',
      help: '1 while the central answers its AMI probe and may receive workers.',
      labelNames: ['namespace', 'central'],
      registers: [registry],
    }),
    centralChannels: new Gauge({
      name: 'multcall_operator_central_channels',
      help: 'kind=allocated: calls the workers placed on the central can hold (replicas × threads, all células); kind=max: spec.capacity.maxChannels.',
      labelNames: ['namespace', 'central', 'kind'],
      registers: [registry],
    }),
    celulaQueued: new Gauge({ name: 'multcall_operator_celula_queued', help: 'Calls waiting in the célula\'s Redis queue at the last poll.', labelNames: ['namespace', 'celula'], registers: [registry] }),
    celulaInFlight: new Gauge({ name: 'multcall_operator_celula_in_flight', help: 'Calls held by the célula\'s workers at the last poll.', labelNames: ['namespace', 'celula'], registers: [registry] }),
    celulaReplicas: new Gauge({
      name: 'multcall_operator_celula_replicas',
      help: 'kind=desired: worker replicas the operator aims for; kind=actual: worker pods that exist; kind=ready: ready ones.',
      labelNames: ['namespace', 'celula', 'kind'],
      registers: [registry],
    }),
    scaleDecisions: new Counter({ name: 'multcall_operator_scale_decisions_total', help: 'Autoscaler decisions by direction.', labelNames: ['direction'], registers: [registry] }),
    queuePollFailures: new Counter({ name: 'multcall_operator_queue_poll_failures_total', help: 'Polls of a Redis server that failed.', registers: [registry] }),
  };
}
