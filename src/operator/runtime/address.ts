/**
 * Where the operator connects for a host and port named in a spec (a Central's AMI, a
 * Celula's Redis). In a cluster that is the name itself, resolved by cluster DNS; an
 * operator run outside the cluster (development, the test plane) maps Service names to
 * addresses it can reach.
 */
import { lookup } from 'node:dns/promises';

export type AddressResolver = (namespace: string, host: string, port: number) => { host: string; port: number };
/** A spec's host and port, in the namespace of the object that names them → where to connect. */
export type SpecAddress = (namespace: string, host: string, port: number) => Promise<{ host: string; port: number }>;

/**
 * A host without a dot is a Service of the object's own namespace: that is how the workers,
 * which run there, resolve it. The operator runs in another namespace, where the same short
 * name would find another Service, or none.
 */
export function qualifiedHost(namespace: string, host: string): string {
  return host.includes('.') || host.includes(':') || host.toLowerCase() === 'localhost' ? host : `${host}.${namespace}.svc`;
}

/** How long what a short name turned out to be is reused. */
const KNOWN_FOR_MS = 30_000;
/** A lookup has no timeout of its own (and holds one of libuv's few threads): a DNS this slow says nothing. */
const LOOKUP_TIMEOUT_MS = 2000;

/**
 * `qualifiedHost`, then `outside` (if any) for an operator that is not in the cluster. In the
 * cluster, a short name that is no Service of the namespace is kept as written: the workers
 * find it as the operator then does, through the search domains the nodes give (`pbx01` of
 * the site's DNS).
 */
export function specAddress(outside?: AddressResolver, resolves: (host: string) => Promise<unknown> = (host) => lookup(host)): SpecAddress {
  const known = new Map<string, { at: number; host: string }>();
  /** Lookups not answered yet, by name: a hung DNS gets one per name, not one per reconcile. */
  const pending = new Map<string, Promise<string>>();
  const settle = (name: string, host: string): Promise<string> =>
    Promise.resolve(resolves(name)).then(
      () => name,
      // Only "no such name": a DNS that does not answer says nothing about the name.
      (error: unknown) => ((error as NodeJS.ErrnoException).code === 'ENOTFOUND' || (error as NodeJS.ErrnoException).code === 'ENODATA' ? host : name),
    );
  return async (namespace, host, port) => {
    const name = qualifiedHost(namespace, host);
    if (outside) return outside(namespace, name, port);
    if (name === host) return { host, port };
    const now = performance.now();
    const seen = known.get(name);
    if (seen && now - seen.at < KNOWN_FOR_MS) return { host: seen.host, port };
    let asked = pending.get(name);
    if (!asked) {
      asked = settle(name, host).finally(() => pending.delete(name));
      pending.set(name, asked);
    }
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<string>((resolve) => (timer = setTimeout(() => resolve(name), LOOKUP_TIMEOUT_MS)));
    const chosen = await Promise.race([asked, late]).finally(() => clearTimeout(timer));
    known.set(name, { at: now, host: chosen });
    return { host: chosen, port };
  };
}
