/**
 * The Kubernetes API of Multcall (`multcall.zanc.com.br/v1alpha1`): zod schemas that are
 * the single source of the CRDs, the types the operator works with, and the parsers that
 * validate objects where they enter the operator.
 */
export { API_VERSION, CATEGORY, CELULA_NAMES, CENTRAL_NAMES, GROUP, VERSION, type KindNames } from './group.js';
export {
  celula,
  celulaCentralStatus,
  celulaSpec,
  celulaStatus,
  MAX_REPLICAS,
  scalingMode,
  STATUS_CENTRALS_MAX,
  type Celula,
  type CelulaCentralStatus,
  type CelulaSpec,
  type CelulaStatus,
  type ScalingMode,
} from './celula.js';
export { central, centralSpec, centralStatus, type Central, type CentralSpec, type CentralStatus } from './central.js';
export { durationMs, type Condition, type LabelSelector, type ObjectMeta, type ResourceRequirements, type Toleration } from './common.js';
export { InvalidResourceError, parseCelula, parseCentral } from './parse.js';
export { customResourceDefinitions, celulaCrd, centralCrd, type CustomResourceDefinition } from './crds.js';
export { WORKER_HTTP_PORT, workerFileFor, type WorkerFileInput } from './worker-file.js';
