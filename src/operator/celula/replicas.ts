/**
 * How many worker replicas a célula wants in total, before they are spread over centrals.
 */
import type { Celula } from '../../api/index.js';
import type { ScaleView } from '../autoscale/autoscaler.js';

/** In queue mode `scale` is the autoscaler's decision; before its first one the célula keeps what its status shows, within bounds. */
export function desiredTotal(celula: Celula, scale?: Pick<ScaleView, 'desired'>): number {
  const { mode, minReplicas, maxReplicas, scaleToZero } = celula.spec.scaling;
  const clamp = (n: number, floor: number) => Math.min(maxReplicas, Math.max(floor, n));
  switch (mode) {
    case 'fixed':
      return celula.spec.replicas ?? 0;
    case 'external':
      // An HPA or KEDA writes spec.replicas through the scale subresource; the bounds still hold.
      return clamp(celula.spec.replicas ?? minReplicas, minReplicas);
    case 'queue':
      if (scale) return Math.min(maxReplicas, scale.desired);
      return clamp(celula.status?.desiredReplicas ?? minReplicas, scaleToZero ? 0 : minReplicas);
  }
}
