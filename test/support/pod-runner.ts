/**
 * The test plane's container runtime. kwok marks worker pods Running/Ready but runs nothing;
 * this runner plays the kubelet's other half: for every worker pod bound to a Node it starts
 * a real `multcall worker` process with the container's args, the pod's environment and the
 * files its volumes mount, and stops it the way a kubelet does (SIGTERM, then SIGKILL after
 * the grace period) once the pod is terminating or gone.
 *
 * The process runs `node --import tsx src/cli/main.ts` rather than dist/cli/main.js: the
 * tests then exercise the sources as they are, with no build step that could leave a stale
 * dist/ behind (the price is about a second of transpiling at start).
 *
 * kwok's fast stages delete a terminating pod object at once, long before a worker has
 * drained, so a process is tracked by pod uid and outlives its pod object: it is waited for
 * up to the grace period it had when deletion began, as a kubelet would.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { constants, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml, stringify as toYaml } from 'yaml';
import { freePort } from './redis.js';
import { silentLogger } from '../../src/lib/log.js';
import { Informer } from '../../src/operator/runtime/informer.js';
import { isNotFound, KubeClient, paths, type KubeObject } from '../../src/operator/runtime/kube.js';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const MAIN = path.join(repoRoot, 'src', 'cli', 'main.ts');
/** What a kubelet assumes when a pod does not say. */
const DEFAULT_GRACE_SECONDS = 30;
const RESTART_BACKOFF_MS = 1000;

interface KeyRef {
  name: string;
  key: string;
  optional?: boolean;
}
interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { fieldRef?: { fieldPath: string }; secretKeyRef?: KeyRef; configMapKeyRef?: KeyRef };
}
interface EnvFromSource {
  prefix?: string;
  configMapRef?: { name: string; optional?: boolean };
  secretRef?: { name: string; optional?: boolean };
}
interface KeyToPath {
  key: string;
  path: string;
  mode?: number;
}
interface Volume {
  name: string;
  configMap?: { name: string; items?: KeyToPath[]; defaultMode?: number; optional?: boolean };
  secret?: { secretName: string; items?: KeyToPath[]; defaultMode?: number; optional?: boolean };
  emptyDir?: Record<string, unknown>;
}
interface Container {
  name: string;
  command?: string[];
  args?: string[];
  env?: EnvVar[];
  envFrom?: EnvFromSource[];
  volumeMounts?: Array<{ name: string; mountPath: string; subPath?: string }>;
}
export interface Pod extends KubeObject {
  metadata: KubeObject['metadata'] & { deletionGracePeriodSeconds?: number };
  spec: { nodeName?: string; serviceAccountName?: string; terminationGracePeriodSeconds?: number; containers: Container[]; volumes?: Volume[] };
  status?: { podIP?: string; hostIP?: string };
}
interface DataObject {
  data?: Record<string, string>;
  binaryData?: Record<string, string>;
}

/** What the runner knows about one pod's process; a live view, updated as it runs. */
export interface PodProcess {
  namespace: string;
  name: string;
  uid: string;
  /** Pid of the current (or last) process. */
  pid: number | undefined;
  /** Port the worker serves /readyz and /metrics on (its settings file is edited to it). */
  httpPort: number | undefined;
  /** Processes started for this pod: 1 unless it was restarted. */
  started: number;
  /** Processes of this pod that have exited. */
  stopped: number;
  /** Exits while the pod was still meant to run (a kubelet would restart the container). */
  restarts: number;
  /** Exit code of every process that ended; 128 + signal number when killed by a signal. */
  exitCodes: number[];
  /** When the pod was seen terminating or gone (performance.now()). */
  terminatingAt: number | undefined;
  /** When the pod object left the API (kwok removes a terminating pod at once). */
  goneAt: number | undefined;
  /** When its last process exited (performance.now()). */
  exitedAt: number | undefined;
  running: boolean;
  logFile: string;
}

export interface PodRunnerOptions {
  /** An admin kubeconfig: the runner reads pods, ConfigMaps and Secrets as a kubelet would. */
  kubeconfigPath: string;
  namespaces: string[];
  labelSelector?: string;
  /** Where pod files and logs go; else a new temp dir that stop() removes (kept with MULTCALL_KEEP_CLUSTER=1). */
  dir?: string;
}

export interface PodRunner {
  readonly dir: string;
  /** Every pod that got a process, in the order they were started. */
  processes(): PodProcess[];
  process(name: string): PodProcess | undefined;
  /** Unexpected exits over all pods. */
  readonly restarts: number;
  /** Resolves with the processes of pods not terminating once exactly `count` of them exist and answer /readyz. */
  waitForReady(count: number, timeoutMs: number): Promise<PodProcess[]>;
  /** Resolves when every process of the named pods has exited. */
  waitForExit(names: readonly string[], timeoutMs: number): Promise<void>;
  /** Prints the tail of every process log (for a failed test). */
  printLogs(lines?: number): void;
  /** SIGTERM to every process, SIGKILL after `graceMs` (default 10 s), then stops watching. */
  stop(opts?: { graceMs?: number }): Promise<void>;
}

interface Entry {
  info: PodProcess;
  pod: Pod;
  child: ChildProcess | undefined;
  terminating: boolean;
  graceSeconds: number;
  killTimer: NodeJS.Timeout | undefined;
  exited: Promise<void>;
  markExited: () => void;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function exitCode(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  return signal ? 128 + (constants.signals[signal] ?? 0) : -1;
}

/** Grace period of a pod being deleted; kwok's own final delete (grace 0) does not shorten it. */
function graceOf(pod: Pod): number {
  const requested = pod.metadata.deletionGracePeriodSeconds;
  if (pod.metadata.deletionTimestamp && requested !== undefined && requested > 0) return requested;
  return pod.spec.terminationGracePeriodSeconds ?? DEFAULT_GRACE_SECONDS;
}

export async function startPodRunner(opts: PodRunnerOptions): Promise<PodRunner> {
  const kube = KubeClient.fromFile(opts.kubeconfigPath);
  const ownDir = opts.dir === undefined;
  const dir = opts.dir ?? mkdtempSync(path.join(tmpdir(), 'multcall-pods-'));
  mkdirSync(path.join(dir, 'logs'), { recursive: true });
  const entries = new Map<string, Entry>();
  let stopping = false;
  let restarts = 0;

  const read = async (kind: 'configmaps' | 'secrets', namespace: string, name: string, optional: boolean | undefined): Promise<DataObject | undefined> => {
    try {
      return await kube.get<DataObject>(paths.object('v1', kind, namespace, name));
    } catch (error) {
      if (optional && isNotFound(error)) return undefined;
      throw error;
    }
  };
  /** Key → bytes of a ConfigMap or Secret (Secret data is base64). */
  const contents = (obj: DataObject | undefined, secret: boolean): Map<string, Buffer> => {
    const out = new Map<string, Buffer>();
    for (const [k, v] of Object.entries(obj?.data ?? {})) out.set(k, secret ? Buffer.from(v, 'base64') : Buffer.from(v, 'utf8'));
    for (const [k, v] of Object.entries(obj?.binaryData ?? {})) out.set(k, Buffer.from(v, 'base64'));
    return out;
  };
  const keyRef = async (kind: 'configmaps' | 'secrets', namespace: string, ref: KeyRef): Promise<string | undefined> => {
    const value = contents(await read(kind, namespace, ref.name, ref.optional), kind === 'secrets').get(ref.key);
    if (value === undefined && !ref.optional) throw new Error(`${kind}/${ref.name} has no key ${ref.key}`);
    return value?.toString('utf8');
  };

  const field = (pod: Pod, fieldPath: string): string => {
    const m = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(fieldPath);
    if (m?.[1] && m[2]) return (m[1] === 'labels' ? pod.metadata.labels : pod.metadata.annotations)?.[m[2]] ?? '';
    const simple: Record<string, string | undefined> = {
      'metadata.name': pod.metadata.name,
      'metadata.namespace': pod.metadata.namespace,
      'metadata.uid': pod.metadata.uid,
      'spec.nodeName': pod.spec.nodeName,
      'spec.serviceAccountName': pod.spec.serviceAccountName,
      'status.podIP': pod.status?.podIP,
      'status.hostIP': pod.status?.hostIP,
    };
    if (!(fieldPath in simple)) throw new Error(`fieldRef ${fieldPath} is not supported by the pod runner`);
    return simple[fieldPath] ?? '';
  };

  /** Writes the pod's volumes under its own dir; returns mount path → host path. */
  const materialise = async (pod: Pod, container: Container, podDir: string): Promise<Array<[string, string]>> => {
    const namespace = pod.metadata.namespace ?? 'default';
    const volumeDirs = new Map<string, string>();
    for (const volume of pod.spec.volumes ?? []) {
      const target = path.join(podDir, 'volumes', volume.name);
      mkdirSync(target, { recursive: true });
      volumeDirs.set(volume.name, target);
      const source = volume.configMap ?? volume.secret;
      if (!source) {
        if (volume.emptyDir) continue;
        throw new Error(`volume ${volume.name}: only configMap, secret and emptyDir volumes are supported`);
      }
      const secret = volume.secret !== undefined;
      const name = volume.secret?.secretName ?? volume.configMap?.name ?? '';
      const data = contents(await read(secret ? 'secrets' : 'configmaps', namespace, name, source.optional), secret);
      const items: KeyToPath[] = source.items ?? [...data.keys()].map((key) => ({ key, path: key }));
      for (const item of items) {
        const bytes = data.get(item.key);
        if (bytes === undefined) throw new Error(`volume ${volume.name}: ${name} has no key ${item.key}`);
        const file = path.join(target, item.path);
        mkdirSync(path.dirname(file), { recursive: true });
        writeFileSync(file, bytes);
        chmodSync(file, item.mode ?? source.defaultMode ?? 0o644);
      }
    }
    return (container.volumeMounts ?? []).map((m) => {
      const host = volumeDirs.get(m.name);
      if (!host) throw new Error(`volumeMount ${m.mountPath}: no volume ${m.name}`);
      return [m.mountPath.replace(/\/+$/, ''), m.subPath ? path.join(host, m.subPath) : host];
    });
  };

  /** A path inside a mount, moved to where that mount's files really are. */
  const rewriter = (mounts: Array<[string, string]>) => {
    const longestFirst = [...mounts].sort((a, b) => b[0].length - a[0].length);
    return (value: string): string => {
      for (const [mount, host] of longestFirst) if (value === mount || value.startsWith(`${mount}/`)) return host + value.slice(mount.length);
      return value;
    };
  };

  const environment = async (pod: Pod, container: Container, rewrite: (v: string) => string): Promise<Record<string, string>> => {
    const namespace = pod.metadata.namespace ?? 'default';
    const env: Record<string, string> = {};
    for (const from of container.envFrom ?? []) {
      const ref = from.configMapRef ?? from.secretRef;
      if (!ref) continue;
      const secret = from.secretRef !== undefined;
      for (const [k, v] of contents(await read(secret ? 'secrets' : 'configmaps', namespace, ref.name, ref.optional), secret)) env[`${from.prefix ?? ''}${k}`] = v.toString('utf8');
    }
    for (const e of container.env ?? []) {
      let value: string | undefined;
      const from = e.valueFrom;
      if (from?.fieldRef) value = field(pod, from.fieldRef.fieldPath);
      else if (from?.secretKeyRef) value = await keyRef('secrets', namespace, from.secretKeyRef);
      else if (from?.configMapKeyRef) value = await keyRef('configmaps', namespace, from.configMapKeyRef);
      // $(VAR) refers to a variable defined earlier, as the kubelet expands it.
      else value = (e.value ?? '').replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (whole, name: string) => env[name] ?? whole);
      if (value !== undefined) env[e.name] = rewrite(value);
    }
    return env;
  };

  /** Points the worker's HTTP server at a free port: every pod wants 8080, and they share one host. */
  const assignPort = async (args: string[]): Promise<number | undefined> => {
    const at = args.findIndex((a) => a === '--config' || a === '-c');
    const file = at >= 0 ? args[at + 1] : undefined;
    if (!file || !existsSync(file)) return undefined;
    const settings = parseYaml(readFileSync(file, 'utf8')) as Record<string, unknown>;
    const port = await freePort();
    settings.http_port = port;
    chmodSync(file, 0o644);
    writeFileSync(file, toYaml(settings));
    return port;
  };

  const launch = async (entry: Entry): Promise<void> => {
    const { pod, info } = entry;
    const container = pod.spec.containers[0];
    if (!container) throw new Error('pod has no container');
    if (container.command?.length) throw new Error('container.command is not supported: the image entrypoint is `multcall`');
    const podDir = path.join(dir, 'pods', `${info.namespace}_${info.name}_${info.started}`);
    rmSync(podDir, { recursive: true, force: true });
    const rewrite = rewriter(await materialise(pod, container, podDir));
    const env = await environment(pod, container, rewrite);
    const args = (container.args ?? []).map(rewrite);
    info.httpPort = await assignPort(args);
    if (entry.terminating || stopping) return;
    const log = openSync(info.logFile, 'a');
    try {
      // A container's environment is its own: nothing of the test process leaks in but PATH and HOME.
      const child = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], {
        cwd: repoRoot,
        env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? podDir, ...env },
        stdio: ['ignore', log, log],
      });
      entry.child = child;
      info.pid = child.pid;
      info.started += 1;
      info.running = true;
      info.exitedAt = undefined;
      child.once('error', (error) => writeFileSync(info.logFile, `pod-runner: ${error.message}\n`, { flag: 'a' }));
      child.once('exit', (code, signal) => onExit(entry, exitCode(code, signal)));
    } finally {
      closeSync(log);
    }
  };

  const start = async (entry: Entry): Promise<void> => {
    // Like a kubelet with a missing ConfigMap or Secret: keep trying while the pod exists.
    while (!entry.terminating && !stopping) {
      try {
        await launch(entry);
        break;
      } catch (error) {
        writeFileSync(entry.info.logFile, `pod-runner: cannot start: ${(error as Error).message}\n`, { flag: 'a' });
        await sleep(500);
      }
    }
    if (!entry.child) entry.markExited();
  };

  const onExit = (entry: Entry, code: number): void => {
    const { info } = entry;
    info.running = false;
    info.stopped += 1;
    info.exitCodes.push(code);
    info.exitedAt = performance.now();
    entry.child = undefined;
    if (entry.killTimer) clearTimeout(entry.killTimer);
    if (entry.terminating || stopping) {
      entry.markExited();
      return;
    }
    // restartPolicy Always: the container comes back, and the test sees the restart.
    info.restarts += 1;
    restarts += 1;
    setTimeout(() => void start(entry), RESTART_BACKOFF_MS);
  };

  const terminate = (entry: Entry, graceSeconds: number): void => {
    if (entry.terminating) return;
    entry.terminating = true;
    entry.graceSeconds = graceSeconds;
    entry.info.terminatingAt = performance.now();
    const child = entry.child;
    if (!child) return; // start() sees the flag and does not launch
    child.kill('SIGTERM');
    entry.killTimer = setTimeout(() => child.kill('SIGKILL'), graceSeconds * 1000);
  };
  /** Cuts the grace period of a process already told to stop (the runner itself is stopping). */
  const hurry = (entry: Entry, graceMs: number): void => {
    const child = entry.child;
    if (!child) return;
    if (entry.killTimer) clearTimeout(entry.killTimer);
    entry.killTimer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  };

  const observe = (pod: Pod): void => {
    const uid = pod.metadata.uid ?? '';
    const existing = entries.get(uid);
    if (existing) {
      existing.pod = pod;
      if (pod.metadata.deletionTimestamp) terminate(existing, graceOf(pod));
      return;
    }
    if (stopping || !pod.spec.nodeName || pod.metadata.deletionTimestamp) return;
    const namespace = pod.metadata.namespace ?? 'default';
    let markExited: () => void = () => undefined;
    const exited = new Promise<void>((resolve) => (markExited = resolve));
    const entry: Entry = {
      pod,
      child: undefined,
      terminating: false,
      graceSeconds: graceOf(pod),
      killTimer: undefined,
      exited,
      markExited,
      info: {
        namespace,
        name: pod.metadata.name,
        uid,
        pid: undefined,
        httpPort: undefined,
        started: 0,
        stopped: 0,
        restarts: 0,
        exitCodes: [],
        terminatingAt: undefined,
        goneAt: undefined,
        exitedAt: undefined,
        running: false,
        logFile: path.join(dir, 'logs', `${namespace}_${pod.metadata.name}.log`),
      },
    };
    entries.set(uid, entry);
    void start(entry);
  };

  const informers = opts.namespaces.map((namespace) =>
    new Informer<Pod>(kube, {
      resource: `pods/${namespace}`,
      path: paths.collection('v1', 'pods', namespace),
      labelSelector: opts.labelSelector ?? 'app.kubernetes.io/name=multcall-worker',
      logger: silentLogger,
    }).on({
      add: observe,
      update: (_old, pod) => observe(pod),
      delete: (pod) => {
        const entry = entries.get(pod.metadata.uid ?? '');
        if (!entry) return;
        entry.info.goneAt = performance.now();
        // The last pod seen before the delete holds the grace period the deletion asked for.
        terminate(entry, graceOf(entry.pod));
      },
    }),
  );
  for (const informer of informers) informer.start();
  await Promise.all(informers.map((i) => i.waitForSync()));

  const ready = async (info: PodProcess): Promise<boolean> => {
    if (!info.running || info.httpPort === undefined) return false;
    try {
      const res = await fetch(`http://127.0.0.1:${info.httpPort}/readyz`, { signal: AbortSignal.timeout(1000) });
      return res.ok;
    } catch {
      return false;
    }
  };
  const processes = () => [...entries.values()].map((e) => e.info);

  return {
    dir,
    processes,
    process: (name) => processes().findLast((p) => p.name === name),
    get restarts() {
      return restarts;
    },
    async waitForReady(count, timeoutMs) {
      const deadline = performance.now() + timeoutMs;
      for (;;) {
        const live = [...entries.values()].filter((e) => !e.terminating).map((e) => e.info);
        const up = (await Promise.all(live.map(async (p) => ((await ready(p)) ? p : undefined)))).filter((p) => p !== undefined);
        if (live.length === count && up.length === count) return up;
        if (performance.now() > deadline) throw new Error(`${up.length} of ${count} worker processes ready after ${timeoutMs} ms (${live.length} started)`);
        await sleep(100);
      }
    },
    async waitForExit(names, timeoutMs) {
      const waits = [...entries.values()].filter((e) => names.includes(e.info.name)).map((e) => e.exited);
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`processes of ${names.join(', ')} still running after ${timeoutMs} ms`)), timeoutMs);
      });
      try {
        await Promise.race([Promise.all(waits), timeout]);
      } finally {
        clearTimeout(timer);
      }
    },
    printLogs(lines = 80) {
      const logDir = path.join(dir, 'logs');
      if (!existsSync(logDir)) return;
      for (const file of readdirSync(logDir)) {
        const text = readFileSync(path.join(logDir, file), 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
        console.log(`──── ${file} (last ${lines} lines) ────\n${text}`);
      }
    },
    async stop({ graceMs = 10_000 } = {}) {
      stopping = true;
      await Promise.all(informers.map((i) => i.stop()));
      for (const entry of entries.values()) {
        terminate(entry, graceMs / 1000);
        hurry(entry, graceMs);
      }
      await Promise.all([...entries.values()].map((e) => e.exited));
      if (ownDir && process.env.MULTCALL_KEEP_CLUSTER !== '1') rmSync(dir, { recursive: true, force: true });
    },
  };
}
