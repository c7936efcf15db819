/** The API group and the names of its kinds, shared by the CRDs, the operator and the samples. */
export const GROUP = 'multcall.zanc.com.br';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;

export interface KindNames {
  kind: string;
  listKind: string;
  plural: string;
  singular: string;
  shortNames: string[];
}

export const CELULA_NAMES: KindNames = { kind: 'Celula', listKind: 'CelulaList', plural: 'celulas', singular: 'celula', shortNames: ['cel'] };
export const CENTRAL_NAMES: KindNames = { kind: 'Central', listKind: 'CentralList', plural: 'centrals', singular: 'central', shortNames: ['ctl'] };

/** `kubectl get multcall` lists both kinds. */
export const CATEGORY = 'multcall';
