/**
 * Where the operator connects for a host and port named in a spec (a Central's AMI, a
 * Celula's Redis). In a cluster that is the name itself, resolved by cluster DNS; an
 * operator run outside the cluster (development, the test plane) maps Service names to
 * addresses it can reach.
 */
export type AddressResolver = (namespace: string, host: string, port: number) => { host: string; port: number };
