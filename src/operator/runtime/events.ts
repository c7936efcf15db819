/**
 * Kubernetes Events (core/v1) about the objects the operator manages, for `kubectl describe`.
 * A repeat of the same event within ten minutes bumps the count of the existing Event
 * instead of creating another, as kubelet and client-go's recorder do.
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from '../../lib/log.js';
import { systemClock, type Clock } from './clock.js';
import type { KubeClient, KubeObject } from './kube.js';

export type EventType = 'Normal' | 'Warning';

export interface EventRecorder {
  record(object: KubeObject, type: EventType, reason: string, message: string): void;
}

const REPEAT_WINDOW_MS = 10 * 60_000;
const COMPONENT = 'multcall-operator';

export class KubeEventRecorder implements EventRecorder {
  private readonly recent = new Map<string, { name: string; count: number; at: number }>();

  constructor(
    private readonly kube: KubeClient,
    private readonly logger: Logger,
    private readonly instance: string,
    private readonly clock: Clock = systemClock,
  ) {}

  record(object: KubeObject, type: EventType, reason: string, message: string): void {
    void this.send(object, type, reason, message).catch((error: unknown) => {
      this.logger.debug({ reason, err: (error as Error).message }, 'could not record an event');
    });
  }

  private async send(object: KubeObject, type: EventType, reason: string, message: string): Promise<void> {
    const ns = object.metadata.namespace ?? 'default';
    const now = this.clock.wall();
    const stamp = new Date(now).toISOString().replace(/\.\d{3}Z$/, 'Z');
    const key = `${object.metadata.uid ?? ''}|${type}|${reason}|${message}`;
    const seen = this.recent.get(key);
    const base = `/api/v1/namespaces/${ns}/events`;
    if (seen && now - seen.at < REPEAT_WINDOW_MS) {
      seen.count += 1;
      seen.at = now;
      await this.kube.mergePatch(`${base}/${seen.name}`, { count: seen.count, lastTimestamp: stamp });
      return;
    }
    for (const [k, v] of this.recent) if (now - v.at >= REPEAT_WINDOW_MS) this.recent.delete(k);
    const name = `${object.metadata.name}.${now.toString(16)}${randomBytes(2).toString('hex')}`;
    await this.kube.create(base, {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name, namespace: ns },
      involvedObject: {
        apiVersion: object.apiVersion,
        kind: object.kind,
        name: object.metadata.name,
        namespace: ns,
        uid: object.metadata.uid,
        resourceVersion: object.metadata.resourceVersion,
      },
      type,
      reason,
      message: message.slice(0, 1024),
      source: { component: COMPONENT },
      reportingComponent: COMPONENT,
      reportingInstance: this.instance,
      firstTimestamp: stamp,
      lastTimestamp: stamp,
      count: 1,
    });
    this.recent.set(key, { name, count: 1, at: now });
  }
}

/** Drops events; for tests and the standby. */
export const noEvents: EventRecorder = { record: () => undefined };
