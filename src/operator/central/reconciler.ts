/**
 * The Central reconciler: reads the AMI credentials, probes the central (login + Ping) and
 * records what it found, then asks to run again after `spec.probe.interval`.
 *
 * `Reachable` is the last probe. `Ready` (the one Celulas act on) tolerates a short blip:
 * a central that was Ready stays Ready until `FAILURE_GRACE` probes in a row have failed
 * (or, for a leader that did not see them, until they have failed for as many intervals),
 * because taking a central away deletes its worker Deployments.
 */
import { API_VERSION, CENTRAL_NAMES, InvalidResourceError, durationMs, parseCentral, type Central } from '../../api/index.js';
import type { Logger } from '../../lib/log.js';
import type { ResourceCache } from '../runtime/cache.js';
import { findCondition, mergeConditions, type Condition, type ConditionInput } from '../runtime/conditions.js';
import { TerminalError, type Result } from '../runtime/controller.js';
import type { EventRecorder } from '../runtime/events.js';
import { isNotFound, paths, type KubeClient, type KubeObject } from '../runtime/kube.js';
import type { OperatorMetrics } from '../runtime/metrics.js';
import type { Prober, ProbeResult } from './probe.js';
import type { SpecAddress } from '../runtime/address.js';
import { stableJson } from '../celula/status.js';

/** Status is rewritten at least this often while nothing else in it changes (lastProbeTime, latencyMs). */
export const STATUS_REFRESH_MS = 60_000;

/** Failed probes in a row (or intervals of failing probes) before a Ready central stops being Ready. */
export const FAILURE_GRACE = 2;

export interface CentralReconcilerDeps {
  kube: KubeClient;
  centrals: ResourceCache<KubeObject>;
  probe: Prober;
  events: EventRecorder;
  logger: Logger;
  metrics?: OperatorMetrics;
  resolve?: SpecAddress;
  now?: () => Date;
}

const stamp = (d: Date) => d.toISOString().replace(/\.\d{3}Z$/, 'Z');

/** Reachable and Ready from one probe and the conditions before it. Pure. */
export function centralConditions(
  previous: readonly Condition[] | undefined,
  probe: ProbeResult | { ok: false; reason: string; message: string },
  intervalMs: number,
  now: Date,
  /** Failed probes in a row this process has seen, this one included. */
  failedInARow = 1,
): ConditionInput[] {
  if (probe.ok) {
    // No latency here: it changes every probe, and status.latencyMs carries it.
    const release = probe.asteriskVersion ? ` (Asterisk ${probe.asteriskVersion})` : '';
    const message = `AMI ${probe.amiVersion || '(unknown version)'}${release} answers login and Ping.`;
    return [
      { type: 'Ready', status: 'True', reason: 'Reachable', message: 'The central answers AMI; células may place calls on it.' },
      { type: 'Reachable', status: 'True', reason: 'ProbeSucceeded', message },
    ];
  }
  const reachable: ConditionInput = { type: 'Reachable', status: 'False', reason: probe.reason, message: probe.message };
  const wasReady = findCondition(previous, 'Ready')?.status === 'True';
  const lastReachable = findCondition(previous, 'Reachable');
  const failingSince = lastReachable?.status === 'False' ? Date.parse(lastReachable.lastTransitionTime) : now.getTime();
  const graceMs = FAILURE_GRACE * intervalMs;
  if (wasReady && failedInARow < FAILURE_GRACE && now.getTime() - failingSince < graceMs) {
    return [
      {
        type: 'Ready',
        status: 'True',
        reason: 'ProbeFailing',
        message: `AMI probes fail since ${stamp(new Date(failingSince))} (${probe.reason}); the central is taken out of service if the next one fails too.`,
      },
      reachable,
    ];
  }
  return [{ type: 'Ready', status: 'False', reason: probe.reason, message: `${probe.message} Células send no new calls here until it answers.` }, reachable];
}

export class CentralReconciler {
  /** Central key → failed probes in a row. */
  private readonly failures = new Map<string, number>();

  constructor(private readonly deps: CentralReconcilerDeps) {}

  /** Forgets the failure counts: a process that leads again has not seen the probes meanwhile. */
  reset(): void {
    this.failures.clear();
  }

  readonly reconcile = async (key: string): Promise<Result> => {
    const { deps } = this;
    const raw = deps.centrals.get(key);
    if (!raw || raw.metadata.deletionTimestamp) {
      this.failures.delete(key);
      const [namespace = '', name = ''] = key.split('/');
      deps.metrics?.centralHealthy.remove({ namespace, central: name });
      deps.metrics?.centralProbeLatency.remove({ namespace, central: name });
      for (const kind of ['allocated', 'max']) deps.metrics?.centralChannels.remove({ namespace, central: name, kind });
      return {};
    }
    let central: Central;
    try {
      central = parseCentral(raw);
    } catch (error) {
      if (error instanceof InvalidResourceError) {
        await this.writeStatus(raw, { observedGeneration: raw.metadata.generation ?? 0 }, [
          { type: 'Ready', status: 'False', reason: 'InvalidSpec', message: `The Central is invalid: ${error.problems.join('; ')}.` },
          { type: 'Reachable', status: 'Unknown', reason: 'InvalidSpec', message: 'Not probed: the spec is invalid.' },
        ]);
        throw new TerminalError(error.message);
      }
      throw error;
    }
    const intervalMs = durationMs(central.spec.probe.interval);
    const timeoutMs = durationMs(central.spec.probe.timeout);
    const now = deps.now?.() ?? new Date();
    const started = performance.now();

    const credentials = await this.credentials(central);
    const result: ProbeResult | { ok: false; reason: string; message: string } =
      'error' in credentials
        ? { ok: false, reason: 'CredentialsUnavailable', message: credentials.error }
        : await deps.probe({
            ...((await deps.resolve?.(central.metadata.namespace ?? 'default', central.spec.ami.host, central.spec.ami.port)) ?? { host: central.spec.ami.host, port: central.spec.ami.port }),
            username: credentials.username,
            secret: credentials.secret,
            timeoutMs,
          });

    const failedInARow = result.ok ? 0 : (this.failures.get(key) ?? 0) + 1;
    this.failures.set(key, failedInARow);
    const previous = central.status?.conditions as Condition[] | undefined;
    const conditions = centralConditions(previous, result, intervalMs, now, failedInARow);
    const extra: Record<string, unknown> = { observedGeneration: central.metadata.generation ?? 0, lastProbeTime: stamp(now) };
    if (result.ok) {
      Object.assign(extra, { amiVersion: result.amiVersion.slice(0, 64), banner: result.banner.slice(0, 256), latencyMs: result.latencyMs });
      if (result.asteriskVersion) extra.asteriskVersion = result.asteriskVersion.slice(0, 64);
      deps.metrics?.centralProbeLatency.set({ namespace: central.metadata.namespace ?? '', central: central.metadata.name }, result.latencyMs);
    } else {
      // Keep what the last good probe learned about the central.
      if (central.status?.amiVersion) extra.amiVersion = central.status.amiVersion;
      if (central.status?.asteriskVersion) extra.asteriskVersion = central.status.asteriskVersion;
      if (central.status?.banner) extra.banner = central.status.banner;
    }
    await this.writeStatus(raw, extra, conditions);

    const wasReady = findCondition(previous, 'Ready');
    const isReady = conditions[0];
    deps.metrics?.centralHealthy.set({ namespace: central.metadata.namespace ?? '', central: central.metadata.name }, isReady?.status === 'True' ? 1 : 0);
    if (isReady && (wasReady?.status !== isReady.status || (isReady.status === 'False' && wasReady.reason !== isReady.reason))) {
      deps.events.record(raw, isReady.status === 'True' ? 'Normal' : 'Warning', isReady.status === 'True' ? 'CentralReady' : isReady.reason, isReady.message);
    }
    // Probes start an interval apart, however long each took (and never back to back).
    return { requeueAfterMs: Math.max(100, Math.round(intervalMs - (performance.now() - started))) };
  };

  private async credentials(central: Central): Promise<{ username: string; secret: string } | { error: string }> {
    const ref = central.spec.ami.credentialsSecretRef;
    const ns = central.metadata.namespace ?? 'default';
    try {
      const s = await this.deps.kube.get<{ data?: Record<string, string> }>(paths.object('v1', 'secrets', ns, ref.name));
      const read = (k: string) => (s.data?.[k] === undefined ? undefined : Buffer.from(s.data[k] ?? '', 'base64').toString('utf8').replace(/\r?\n$/, ''));
      const username = read(ref.usernameKey);
      const secret = read(ref.secretKey);
      if (username === undefined || secret === undefined) {
        return { error: `Secret ${ns}/${ref.name} lacks key ${username === undefined ? ref.usernameKey : ref.secretKey} (spec.ami.credentialsSecretRef).` };
      }
      return { username, secret };
    } catch (error) {
      if (isNotFound(error)) return { error: `Secret ${ns}/${ref.name} named by spec.ami.credentialsSecretRef does not exist.` };
      throw error;
    }
  }

  /**
   * Writes status when something a reader acts on changed (conditions, version, banner), and
   * otherwise at most every STATUS_REFRESH_MS: with a 1 s probe interval, a write per probe
   * would be a write per second per Central for nothing.
   */
  private async writeStatus(raw: KubeObject, fields: Record<string, unknown>, conditions: ConditionInput[]): Promise<void> {
    const ns = raw.metadata.namespace ?? 'default';
    const before = (raw as { status?: Record<string, unknown> & { conditions?: Condition[]; lastProbeTime?: string } }).status;
    const previous = before?.conditions;
    const now = this.deps.now?.() ?? new Date();
    const merged = mergeConditions(previous, conditions, raw.metadata.generation, now);
    const lasting = (st: Record<string, unknown> | undefined) => stableJson({ ...st, lastProbeTime: undefined, latencyMs: undefined });
    const fresh = before?.lastProbeTime !== undefined && now.getTime() - Date.parse(before.lastProbeTime) < STATUS_REFRESH_MS;
    if (fresh && lasting(before) === lasting({ ...fields, conditions: merged })) return;
    await this.deps.kube.apply(`${paths.object(API_VERSION, CENTRAL_NAMES.plural, ns, raw.metadata.name)}/status`, {
      apiVersion: API_VERSION,
      kind: 'Central',
      metadata: { name: raw.metadata.name, namespace: ns },
      status: { ...fields, conditions: merged },
    });
  }
}
