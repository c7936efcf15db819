/**
 * Where the operator connects for a host and port named in a spec (a Central's AMI, a
 * Celula's Redis). In a cluster that is the name itself, resolved by cluster DNS; an
 * operator run outside the cluster (development, the test plane) maps Service names to
 * addresses it can reach.
 */
export type AddressResolver = (namespace: string, host: string, port: number) => { host: string; port: number };

/**
 * A host without a dot is a Service of the object's own namespace: that is how the workers,
 * which run there, resolve it. The operator runs in another namespace, where the same short
 * name would find another Service, or none.
 */
export function qualifiedHost(namespace: string, host: string): string {
  return host.includes('.') || host.includes(':') || host.toLowerCase() === 'localhost' ? host : `${host}.${namespace}.svc`;
}

/** `qualifiedHost`, then `outside` (if any) for an operator that is not in the cluster. */
export function specAddress(outside?: AddressResolver): AddressResolver {
  return (namespace, host, port) => {
    const name = qualifiedHost(namespace, host);
    return outside ? outside(namespace, name, port) : { host: name, port };
  };
}
