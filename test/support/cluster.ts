// A real Kubernetes control plane (etcd, kube-apiserver, kube-controller-manager,
// kube-scheduler, kwok for fake Nodes) for integration tests, run from the
// binaries that hack/cluster/build.sh builds. See hack/cluster/README.md.
//
//   const cluster = await startCluster();
//   afterAll(() => cluster.stop());
//   await cluster.kubectl(['apply', '-f', '-'], manifest);
//
// Pods are scheduled and reported Running/Ready by kwok, but no container runs.
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export interface CommandResult {
  stdout: string;
  stderr: string;
  /** Exit code; -1 when the process was killed by a signal. */
  code: number;
}

export interface StartClusterOptions {
  /** Number of fake Nodes (default 1). */
  nodes?: number;
  /** Taint the Nodes with kwok.x-k8s.io/node=fake:NoSchedule (default false). */
  nodeTaint?: boolean;
  /** Directory for the cluster's state and logs (default: a new temp dir). A given dir is never removed. */
  dir?: string;
  /**
   * Keep the temp directory (logs, certificates) after stop(). Also enabled by
   * MULTCALL_KEEP_CLUSTER=1, handy when a test fails.
   */
  keepDir?: boolean;
  /** Seconds up.sh waits for readiness (default 120). */
  readyTimeoutSeconds?: number;
}

export interface Cluster {
  /** Directory holding kubeconfig, env, pids, logs/ and pki/. */
  dir: string;
  /** Admin (system:masters) kubeconfig. */
  kubeconfigPath: string;
  /** API server URL, https://127.0.0.1:<port>. */
  server: string;
  /** Directory with kubectl, helm, kwok and the control plane binaries. */
  binDir: string;
  /** Environment for child processes that should use this cluster (KUBECONFIG, PATH, helm dirs). */
  env: NodeJS.ProcessEnv;
  /** Runs kubectl against the cluster; never rejects on a non-zero exit. */
  kubectl(args: string[], input?: string): Promise<CommandResult>;
  /** Runs helm against the cluster; never rejects on a non-zero exit. */
  helm(args: string[], input?: string): Promise<CommandResult>;
  /** Stops every process of the cluster; safe to call more than once. */
  stop(): Promise<void>;
}

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const scripts = path.join(repoRoot, 'hack', 'cluster');

/** Runs a command to completion, feeding `input` on stdin, collecting output. */
export function run(
  file: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; input?: string; cwd?: string } = {},
): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      cwd: opts.cwd ?? repoRoot,
      env: opts.env ?? process.env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', reject);
    child.on('close', (code) =>
      resolve({
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        code: code ?? -1,
      }),
    );
    // A command that exits without reading stdin closes the pipe early.
    child.stdin.on('error', () => undefined);
    child.stdin.end(opts.input ?? '');
  });
}

function failure(what: string, r: CommandResult): Error {
  return new Error(`${what} failed (exit ${r.code}):\n${r.stderr.trim()}\n${r.stdout.trim()}`.trim());
}

/** Parses the KEY='value' lines that up.sh writes to DIR/env. */
function parseEnvFile(text: string): Record<string, string> {
  const vars: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Z_][A-Z0-9_]*)='([^']*)'$/.exec(line.trim());
    if (m?.[1] !== undefined && m[2] !== undefined) vars[m[1]] = m[2];
  }
  return vars;
}

/**
 * Path of the cached binaries. Runs hack/cluster/build.sh, which returns at
 * once when everything is cached and otherwise builds (tens of minutes on two
 * cores: run it before the tests, e.g. in CI's setup step).
 */
export async function clusterBinDir(): Promise<string> {
  const r = await run('bash', [path.join(scripts, 'build.sh')]);
  if (r.code !== 0) throw failure('hack/cluster/build.sh', r);
  const bin = r.stdout.trim().split('\n').pop();
  if (!bin) throw failure('hack/cluster/build.sh printed no bin directory', r);
  return bin;
}

export async function startCluster(opts: StartClusterOptions = {}): Promise<Cluster> {
  const binDir = await clusterBinDir();
  const dir = opts.dir ?? (await mkdtemp(path.join(tmpdir(), 'multcall-cluster-')));
  const keepDir = opts.keepDir ?? process.env.MULTCALL_KEEP_CLUSTER === '1';

  const up = await run('bash', [path.join(scripts, 'up.sh'), dir], {
    env: {
      ...process.env,
      CLUSTER_BIN_DIR: binDir,
      NODES: String(opts.nodes ?? 1),
      NODE_TAINT: opts.nodeTaint ? '1' : '0',
      UP_TIMEOUT: String(opts.readyTimeoutSeconds ?? 120),
      // If this process dies without calling stop(), the cluster follows it.
      WATCH_PID: String(process.pid),
      WATCH_RM_DIR: !keepDir && opts.dir === undefined ? '1' : '0',
    },
  });
  if (up.code !== 0) {
    if (!keepDir && opts.dir === undefined) await rm(dir, { recursive: true, force: true });
    throw failure('hack/cluster/up.sh', up);
  }

  const vars = parseEnvFile(await readFile(path.join(dir, 'env'), 'utf8'));
  const kubeconfigPath = vars.KUBECONFIG ?? path.join(dir, 'kubeconfig');
  const server = vars.KUBE_APISERVER_URL;
  if (!server) throw new Error(`${dir}/env has no KUBE_APISERVER_URL`);

  const env: NodeJS.ProcessEnv = {
    ...process.env,
    KUBECONFIG: kubeconfigPath,
    PATH: `${binDir}${path.delimiter}${process.env.PATH ?? ''}`,
    // helm keeps repositories, plugins and caches under these; one set per
    // cluster keeps tests from seeing each other's (or the user's) state.
    HELM_CACHE_HOME: path.join(dir, 'helm', 'cache'),
    HELM_CONFIG_HOME: path.join(dir, 'helm', 'config'),
    HELM_DATA_HOME: path.join(dir, 'helm', 'data'),
  };

  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      const down = await run('bash', [path.join(scripts, 'down.sh'), dir]);
      if (down.code !== 0) throw failure('hack/cluster/down.sh', down);
      if (!keepDir && opts.dir === undefined) await rm(dir, { recursive: true, force: true });
    })();
    return stopped;
  };

  return {
    dir,
    kubeconfigPath,
    server,
    binDir,
    env,
    kubectl: (args, input) => run(path.join(binDir, 'kubectl'), args, { env, input }),
    helm: (args, input) => run(path.join(binDir, 'helm'), args, { env, input }),
    stop,
  };
}
