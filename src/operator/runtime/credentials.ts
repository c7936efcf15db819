/**
 * Where the API server is and how to prove who we are: a kubeconfig file (its current
 * context) or the pod's service account. Read through zod once, here.
 *
 * Written in-house rather than taken from @kubernetes/client-node: its KubeConfig module
 * imports the library's generated API clients, which held about 90 MB of the operator's heap
 * while the operator never calls them (docs/benchmarks.md, operator memory). Only what an
 * operator needs is supported: server URL, CA, client certificate, bearer token (inline or
 * from a file, re-read as projected tokens rotate), and insecure-skip-tls-verify.
 * Exec plugins and auth providers are refused with a clear message.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Agent as HttpsAgent } from 'node:https';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';

const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';
/** Projected service-account tokens rotate (kubelet refreshes them at 80 % of their life). */
const TOKEN_REREAD_MS = 60_000;

const kubeconfigSchema = z.object({
  'current-context': z.string().optional(),
  clusters: z
    .array(
      z.object({
        name: z.string(),
        cluster: z.object({
          server: z.url(),
          'certificate-authority': z.string().optional(),
          'certificate-authority-data': z.string().optional(),
          'insecure-skip-tls-verify': z.boolean().optional(),
          'tls-server-name': z.string().optional(),
        }),
      }),
    )
    .default([]),
  users: z
    .array(
      z.object({
        name: z.string(),
        user: z
          .object({
            'client-certificate': z.string().optional(),
            'client-certificate-data': z.string().optional(),
            'client-key': z.string().optional(),
            'client-key-data': z.string().optional(),
            token: z.string().optional(),
            tokenFile: z.string().optional(),
            exec: z.unknown().optional(),
            'auth-provider': z.unknown().optional(),
          })
          .nullish()
          .transform((u) => u ?? {}),
      }),
    )
    .default([]),
  contexts: z.array(z.object({ name: z.string(), context: z.object({ cluster: z.string(), user: z.string().optional(), namespace: z.string().optional() }) })).default([]),
});

/** Everything a request needs: the base URL, a TLS agent, and the Authorization header. */
export interface Credentials {
  server: string;
  agent: HttpsAgent;
  authorization(): string | undefined;
}

/** Reads a token file, keeping it for a while: projected tokens change under our feet. */
function tokenFrom(file: string): () => string {
  let token = '';
  let readAt = -Infinity;
  return () => {
    const now = performance.now();
    if (now - readAt > TOKEN_REREAD_MS) {
      token = readFileSync(file, 'utf8').trim();
      readAt = now;
    }
    return token;
  };
}

function agent(opts: { ca?: Buffer; cert?: Buffer; key?: Buffer; insecure?: boolean; servername?: string }): HttpsAgent {
  // keepAlive: watches and a steady stream of applies reuse a handful of TLS sessions.
  return new HttpsAgent({
    keepAlive: true,
    ...(opts.ca ? { ca: opts.ca } : {}),
    ...(opts.cert ? { cert: opts.cert } : {}),
    ...(opts.key ? { key: opts.key } : {}),
    ...(opts.servername ? { servername: opts.servername } : {}),
    rejectUnauthorized: !opts.insecure,
  });
}

/** The credentials of `file`'s current context. */
export function credentialsFromKubeconfig(file: string): Credentials {
  const parsed = kubeconfigSchema.safeParse(parseYaml(readFileSync(file, 'utf8')));
  if (!parsed.success) throw new Error(`kubeconfig ${file} is not valid: ${z.prettifyError(parsed.error)}`);
  const cfg = parsed.data;
  const contextName = cfg['current-context'];
  const context = cfg.contexts.find((c) => c.name === contextName)?.context;
  if (!context) throw new Error(`kubeconfig ${file} has no current context${contextName ? ` (current-context ${contextName} is not among its contexts)` : ''}`);
  const cluster = cfg.clusters.find((c) => c.name === context.cluster)?.cluster;
  if (!cluster) throw new Error(`kubeconfig ${file}: context ${contextName} names cluster ${context.cluster}, which it does not define`);
  const user = context.user === undefined ? {} : cfg.users.find((u) => u.name === context.user)?.user;
  if (!user) throw new Error(`kubeconfig ${file}: context ${contextName} names user ${context.user}, which it does not define`);
  if (user.exec !== undefined || user['auth-provider'] !== undefined) {
    throw new Error(`kubeconfig ${file}: user ${context.user} authenticates through an exec plugin or auth provider, which the operator does not run; use a client certificate or a token`);
  }
  // Relative paths in a kubeconfig are relative to the file, as kubectl reads them.
  const read = (p: string) => readFileSync(path.resolve(path.dirname(file), p));
  const pick = (data: string | undefined, ref: string | undefined) => (data !== undefined ? Buffer.from(data, 'base64') : ref !== undefined ? read(ref) : undefined);
  const ca = pick(cluster['certificate-authority-data'], cluster['certificate-authority']);
  const cert = pick(user['client-certificate-data'], user['client-certificate']);
  const key = pick(user['client-key-data'], user['client-key']);
  const tokenFile = user.tokenFile !== undefined ? tokenFrom(path.resolve(path.dirname(file), user.tokenFile)) : undefined;
  const token = user.token;
  return {
    server: cluster.server.replace(/\/$/, ''),
    agent: agent({
      ...(ca ? { ca } : {}),
      ...(cert ? { cert } : {}),
      ...(key ? { key } : {}),
      ...(cluster['insecure-skip-tls-verify'] ? { insecure: true } : {}),
      ...(cluster['tls-server-name'] ? { servername: cluster['tls-server-name'] } : {}),
    }),
    authorization: () => (token !== undefined ? `Bearer ${token}` : tokenFile ? `Bearer ${tokenFile()}` : undefined),
  };
}

/** The pod's service account: the API server from the environment, CA and token from the mounted volume. */
export function inClusterCredentials(dir = SERVICE_ACCOUNT_DIR): Credentials {
  const host = process.env.KUBERNETES_SERVICE_HOST;
  const port = process.env.KUBERNETES_SERVICE_PORT;
  if (!host || !port) throw new Error('not running in a pod (KUBERNETES_SERVICE_HOST/PORT unset): pass --kubeconfig');
  const token = tokenFrom(path.join(dir, 'token'));
  return {
    server: `https://${host.includes(':') ? `[${host}]` : host}:${port}`,
    agent: agent({ ca: readFileSync(path.join(dir, 'ca.crt')) }),
    authorization: () => `Bearer ${token()}`,
  };
}
