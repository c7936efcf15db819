/**
 * The one seam to the Kubernetes API: JSON over HTTPS with the credentials of a kubeconfig
 * or the pod's service account (credentials.ts). Verbs are the few the operator uses — get, list, watch,
 * server-side apply (also on /status), create, update, delete — addressed by path, so one
 * client serves Celulas, Deployments and Leases alike.
 */
import { request as httpsRequest, type RequestOptions } from 'node:https';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { credentialsFromKubeconfig, inClusterCredentials, type Credentials } from './credentials.js';

/** The operator's one field manager: every field it applies is owned under this name. */
export const FIELD_MANAGER = 'multcall-operator';

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    generation?: number;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences?: OwnerReference[];
    deletionTimestamp?: string;
    creationTimestamp?: string;
    [field: string]: unknown;
  };
  [field: string]: unknown;
}

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

export interface KubeList<T> {
  metadata: { resourceVersion?: string; continue?: string };
  items: T[];
}

export interface WatchEvent<T> {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: T;
}

export class KubeApiError extends Error {
  readonly code = 'MC_ERR_KUBE_API';
  constructor(
    readonly status: number,
    readonly reason: string,
    message: string,
    readonly verb: string,
    readonly path: string,
  ) {
    super(`${verb} ${path}: ${status} ${reason}: ${message}`);
    this.name = 'KubeApiError';
  }
}

/** Thrown instead of writing when this process may no longer act as the leader. */
export class NotLeaderError extends Error {
  readonly code = 'MC_ERR_NOT_LEADER';
  constructor(what: string) {
    super(`not writing ${what}: this operator is not (or no longer surely) the leader`);
    this.name = 'NotLeaderError';
  }
}

export const isNotFound = (e: unknown): boolean => e instanceof KubeApiError && e.status === 404;
export const isConflict = (e: unknown): boolean => e instanceof KubeApiError && e.status === 409;

/** Whether a write may go out now. The leader elector installs its fence here. */
export type WriteGuard = () => boolean;

export interface WriteCounter {
  (verb: string, path: string): void;
}

export class KubeClient {
  readonly server: string;
  /** Guard consulted before every write except Lease writes (those are how leadership is won). */
  writeGuard: WriteGuard = () => true;
  onWrite: WriteCounter = () => undefined;

  constructor(private readonly credentials: Credentials) {
    this.server = credentials.server;
  }

  static fromFile(path: string): KubeClient {
    return new KubeClient(credentialsFromKubeconfig(path));
  }

  static inCluster(): KubeClient {
    return new KubeClient(inClusterCredentials());
  }

  get<T>(path: string): Promise<T> {
    return this.json<T>('GET', path);
  }

  async list<T>(path: string, query: Record<string, string | undefined> = {}): Promise<KubeList<T>> {
    const items: T[] = [];
    let cont: string | undefined;
    let resourceVersion: string | undefined;
    do {
      const page = await this.json<KubeList<T>>('GET', withQuery(path, { ...query, limit: '500', continue: cont }));
      items.push(...page.items);
      cont = page.metadata.continue || undefined;
      resourceVersion = page.metadata.resourceVersion;
    } while (cont);
    return { metadata: { resourceVersion }, items };
  }

  /** Server-side apply of `object` at `path` (the object's own URL, or its /status). */
  apply<T>(path: string, object: unknown): Promise<T> {
    this.guard('PATCH', path);
    return this.json<T>('PATCH', withQuery(path, { fieldManager: FIELD_MANAGER, force: 'true' }), object, 'application/apply-patch+yaml');
  }

  /** JSON merge patch, for the few writes that are not whole-object applies (event counts). */
  mergePatch<T>(path: string, patch: unknown): Promise<T> {
    this.guard('PATCH', path);
    return this.json<T>('PATCH', path, patch, 'application/merge-patch+json');
  }

  create<T>(path: string, object: unknown, opts: { unguarded?: boolean } = {}): Promise<T> {
    if (!opts.unguarded) this.guard('POST', path);
    return this.json<T>('POST', withQuery(path, { fieldManager: FIELD_MANAGER }), object);
  }

  /** Update with optimistic concurrency (the body carries metadata.resourceVersion). */
  replace<T>(path: string, object: unknown, opts: { unguarded?: boolean } = {}): Promise<T> {
    if (!opts.unguarded) this.guard('PUT', path);
    return this.json<T>('PUT', withQuery(path, { fieldManager: FIELD_MANAGER }), object);
  }

  /** Deletes with background propagation; a missing object is not an error. */
  async delete(path: string, preconditionUid?: string): Promise<void> {
    this.guard('DELETE', path);
    const body = { kind: 'DeleteOptions', apiVersion: 'v1', propagationPolicy: 'Background', ...(preconditionUid ? { preconditions: { uid: preconditionUid } } : {}) };
    try {
      await this.json('DELETE', path, body);
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
  }

  /**
   * Streams watch events until the server ends the watch, the connection fails or `signal`
   * aborts. Resolves on a clean end; rejects on a transport error or an HTTP error status.
   */
  async watch<T>(path: string, query: Record<string, string | undefined>, onEvent: (event: WatchEvent<T>) => void, signal: AbortSignal): Promise<void> {
    const res = await this.send('GET', withQuery(path, { ...query, watch: 'true' }), undefined, undefined, signal);
    if ((res.statusCode ?? 0) >= 300) {
      const text = await readBody(res);
      throw apiError(res.statusCode ?? 0, text, 'WATCH', path);
    }
    await new Promise<void>((resolve, reject) => {
      let buffer = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buffer += chunk;
        let nl: number;
        while ((nl = buffer.indexOf('\n')) >= 0) {
          const line = buffer.slice(0, nl).trim();
          buffer = buffer.slice(nl + 1);
          if (line) onEvent(JSON.parse(line) as WatchEvent<T>);
        }
      });
      res.on('end', resolve);
      res.on('close', resolve);
      res.on('error', (e) => (signal.aborted ? resolve() : reject(e)));
      res.on('aborted', () => (signal.aborted ? resolve() : reject(new Error(`watch ${path} aborted by the server`))));
      signal.addEventListener('abort', () => {
        res.destroy();
        resolve();
      });
    });
  }

  private guard(verb: string, path: string): void {
    if (!this.writeGuard()) throw new NotLeaderError(`${verb} ${path}`);
    this.onWrite(verb, path);
  }

  private async json<T>(method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<T> {
    const res = await this.send(method, path, body === undefined ? undefined : JSON.stringify(body), contentType);
    const text = await readBody(res);
    const status = res.statusCode ?? 0;
    if (status >= 300) throw apiError(status, text, method, path);
    return (text ? JSON.parse(text) : {}) as T;
  }

  private async send(method: string, path: string, body?: string, contentType?: string, signal?: AbortSignal): Promise<IncomingMessage> {
    const url = new URL(this.server + path);
    const headers: Record<string, string> = { accept: 'application/json' };
    const authorization = this.credentials.authorization();
    if (authorization) headers.authorization = authorization;
    const opts: RequestOptions = { method, headers, timeout: signal ? 0 : 30_000, ...(url.protocol === 'https:' ? { agent: this.credentials.agent } : {}) };
    if (body !== undefined) {
      headers['content-type'] = contentType ?? 'application/json';
      headers['content-length'] = String(Buffer.byteLength(body));
    }
    const request = url.protocol === 'http:' ? httpRequest : httpsRequest;
    return new Promise((resolve, reject) => {
      const req = request(url, { ...opts, ...(signal ? { signal } : {}) }, resolve);
      req.on('error', reject);
      req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer from the API server within 30 s`)));
      if (body !== undefined) req.write(body);
      req.end();
    });
  }
}

function withQuery(path: string, query: Record<string, string | undefined>): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== '') params.set(k, v);
  const qs = params.toString();
  return qs ? `${path}${path.includes('?') ? '&' : '?'}${qs}` : path;
}

function readBody(res: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    res.on('error', reject);
  });
}

function apiError(status: number, text: string, verb: string, path: string): KubeApiError {
  let reason = 'Unknown';
  let message = text.slice(0, 500);
  try {
    const parsed = JSON.parse(text) as { reason?: string; message?: string };
    reason = parsed.reason ?? reason;
    message = parsed.message ?? message;
  } catch {
    // not a Status object
  }
  return new KubeApiError(status, reason, message, verb, path);
}

/** URL paths of the kinds the operator touches. */
export const paths = {
  collection(apiVersion: string, plural: string, namespace?: string): string {
    const base = apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
    return namespace ? `${base}/namespaces/${namespace}/${plural}` : `${base}/${plural}`;
  },
  object(apiVersion: string, plural: string, namespace: string, name: string): string {
    return `${paths.collection(apiVersion, plural, namespace)}/${encodeURIComponent(name)}`;
  },
};
