/**
 * One resource as the operator sees it: an informer per watched namespace (or one for the
 * whole cluster) behind a single cache, so reconcilers never care which applies.
 */
import type { Logger } from '../../lib/log.js';
import { Informer, keyOf, type InformerHandlers } from './informer.js';
import { paths, type KubeClient, type KubeObject } from './kube.js';

export interface ResourceCacheOptions<T extends KubeObject = KubeObject> {
  resource: string;
  apiVersion: string;
  plural: string;
  /** Undefined or empty: every namespace. */
  namespaces?: readonly string[];
  labelSelector?: string;
  silenceMs?: number;
  logger: Logger;
  onRestart?: (resource: string, reason: string) => void;
  transform?: (obj: T) => T;
}

export class ResourceCache<T extends KubeObject> {
  private readonly informers: Array<Informer<T>>;

  constructor(kube: KubeClient, opts: ResourceCacheOptions<T>) {
    const namespaces = opts.namespaces && opts.namespaces.length > 0 ? opts.namespaces : [undefined];
    this.informers = namespaces.map(
      (ns) =>
        new Informer<T>(kube, {
          resource: opts.resource,
          path: paths.collection(opts.apiVersion, opts.plural, ns),
          labelSelector: opts.labelSelector,
          silenceMs: opts.silenceMs,
          logger: opts.logger,
          onRestart: opts.onRestart,
          ...(opts.transform ? { transform: opts.transform } : {}),
        }),
    );
  }

  on(handlers: InformerHandlers<T>): this {
    for (const i of this.informers) i.on(handlers);
    return this;
  }

  /** By `namespace/name`. */
  get(key: string): T | undefined {
    for (const i of this.informers) {
      const found = i.get(key);
      if (found) return found;
    }
    return undefined;
  }

  list(filter?: (obj: T) => boolean): T[] {
    return this.informers.flatMap((i) => i.list(filter));
  }

  keys(): string[] {
    return this.list().map(keyOf);
  }

  start(): void {
    for (const i of this.informers) i.start();
  }

  hasSynced(): boolean {
    return this.informers.every((i) => i.hasSynced());
  }

  async waitForSync(): Promise<void> {
    await Promise.all(this.informers.map((i) => i.waitForSync()));
  }

  async stop(): Promise<void> {
    await Promise.all(this.informers.map((i) => i.stop()));
  }
}

/** Drops managedFields, which only the API server reads. */
export function withoutManagedFields<T extends KubeObject>(obj: T): T {
  if (!('managedFields' in obj.metadata)) return obj;
  const { managedFields: _managed, ...metadata } = obj.metadata;
  return { ...obj, metadata };
}

/** Keeps what the operator reads of a child: metadata, `spec.replicas` and status. */
export function childSummary(obj: KubeObject): KubeObject {
  const { spec, status } = obj as { spec?: { replicas?: unknown }; status?: unknown };
  const { apiVersion, kind } = obj;
  return {
    ...(apiVersion ? { apiVersion } : {}),
    ...(kind ? { kind } : {}),
    metadata: withoutManagedFields(obj).metadata,
    ...(spec && 'replicas' in spec ? { spec: { replicas: spec.replicas } } : {}),
    ...(status !== undefined ? { status } : {}),
  };
}
