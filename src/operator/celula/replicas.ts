/**
 * How many worker replicas a célula wants in total, before they are spread over centrals.
 * In `queue` mode this is where the queue-driven autoscaler's answer goes; until it exists
 * the célula runs at its floor.
 */
import type { Celula } from '../../api/index.js';

export function desiredTotal(celula: Celula): number {
  const { mode, minReplicas, maxReplicas } = celula.spec.scaling;
  switch (mode) {
    case 'fixed':
      return celula.spec.replicas ?? 0;
    case 'external':
      // An HPA or KEDA writes spec.replicas through the scale subresource; the bounds still hold.
      return Math.min(maxReplicas, Math.max(minReplicas, celula.spec.replicas ?? minReplicas));
    case 'queue':
      return minReplicas;
  }
}
