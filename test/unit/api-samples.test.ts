import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { parseCelula, parseCentral, workerFileFor } from '../../src/api/index.js';
import { loadWorkerSettings, settingsFrom } from '../../src/worker/config.js';

type Obj = Record<string, unknown>;

const repo = (path: string): string => fileURLToPath(new URL(`../../${path}`, import.meta.url));
const SAMPLES = 'deploy/samples';

function documents(path: string): Obj[] {
  return parseAllDocuments(readFileSync(repo(path), 'utf8')).map((d) => d.toJS() as Obj);
}

const manifests = readdirSync(repo(SAMPLES)).filter((f) => f.endsWith('.yaml'));

describe('deploy/samples', () => {
  it('has the expected samples', () => {
    expect(manifests.sort()).toEqual(['celula.yaml', 'central.yaml', 'pbx-simulator.yaml', 'redis.yaml', 'secret.yaml']);
  });

  it.each(manifests)('%s: Celulas and Centrals pass the operator\'s parsers', (file) => {
    for (const doc of documents(`${SAMPLES}/${file}`)) {
      if (doc.kind === 'Celula') expect(parseCelula(doc).spec.queue).toBe('vendas');
      if (doc.kind === 'Central') expect(parseCentral(doc).spec.ami.host).toBe('pbx-sim');
    }
  });

  it('the célula selects the central by label, and the central uses the sample Secret and simulator Service', () => {
    const [celula] = documents(`${SAMPLES}/celula.yaml`).map(parseCelula);
    const [central] = documents(`${SAMPLES}/central.yaml`).map(parseCentral);
    const secret = documents(`${SAMPLES}/secret.yaml`)[0] as { metadata: { name: string }; stringData: Record<string, string> };
    const services = [...documents(`${SAMPLES}/pbx-simulator.yaml`), ...documents(`${SAMPLES}/redis.yaml`)].filter((d) => d.kind === 'Service');
    const matchLabels = celula?.spec.centrals.selector?.matchLabels ?? {};
    expect(Object.keys(matchLabels).length).toBeGreaterThan(0);
    for (const [k, v] of Object.entries(matchLabels)) expect(central?.metadata.labels?.[k]).toBe(v);
    const ref = central?.spec.ami.credentialsSecretRef;
    expect(ref?.name).toBe(secret.metadata.name);
    expect(Object.keys(secret.stringData).sort()).toEqual([ref?.secretKey, ref?.usernameKey].sort());
    const serviceNames = services.map((s) => (s.metadata as { name: string }).name);
    expect(serviceNames).toContain(central?.spec.ami.host);
    expect(serviceNames).toContain(celula?.spec.redis.host);
  });

  it('the simulator listens on all addresses with the user from the Secret', () => {
    const deployment = documents(`${SAMPLES}/pbx-simulator.yaml`).find((d) => d.kind === 'Deployment') as {
      spec: { template: { spec: { containers: { args: string[]; env: { name: string; valueFrom?: { secretKeyRef?: { name: string } } }[] }[] } } };
    };
    const container = deployment.spec.template.spec.containers[0];
    expect(container?.args.slice(0, 2)).toEqual(['sim', 'pbx']);
    expect(container?.args.join(' ')).toContain('--host 0.0.0.0 --port 5038 --profile 20 --user multcall:$(AMI_SECRET)');
    expect(container?.env.find((e) => e.name === 'AMI_SECRET')?.valueFrom?.secretKeyRef?.name).toBe('pbx-sim-ami');
  });

  it('the demo Redis writes every command to its append-only file', () => {
    const deployment = documents(`${SAMPLES}/redis.yaml`).find((d) => d.kind === 'Deployment') as { spec: { template: { spec: { containers: { args: string[] }[] } } } };
    expect(deployment.spec.template.spec.containers[0]?.args.join(' ')).toContain('--appendonly yes --appendfsync always');
  });

  it('worker.yaml loads as worker settings for each of its queues', () => {
    const env = { AMI_SECRET: 'not-a-real-secret' };
    const vendas = loadWorkerSettings(repo('deploy/standalone/worker.yaml'), 'vendas', env);
    expect(vendas).toMatchObject({ celula: 'vendas', threads: 20, retries: 2, commandTimeoutMs: 5000, ackTimeoutMs: 10_000 });
    expect(vendas.central).toMatchObject({ name: 'pbx-01', username: 'multcall', secret: 'not-a-real-secret' });
    expect(loadWorkerSettings(repo('deploy/standalone/worker.yaml'), 'cobranca', env).threads).toBe(10);
  });

  it('the sample Celula and Central render a worker settings file the worker accepts', () => {
    const [celula] = documents(`${SAMPLES}/celula.yaml`).map(parseCelula);
    const [central] = documents(`${SAMPLES}/central.yaml`).map(parseCentral);
    if (!celula || !central) throw new Error('samples missing');
    const file = workerFileFor(celula, central);
    const settings = settingsFrom(file, 'vendas', { AMI_USERNAME: 'multcall', AMI_SECRET: 'x' });
    expect(settings).toMatchObject({
      celula: 'vendas',
      threads: 20,
      retries: 2,
      commandTimeoutMs: 5000,
      ackTimeoutMs: 10_000,
      ackTimeoutPolicy: 'report',
      drainTimeoutMs: 600_000,
      redis: { host: 'redis', port: 6379, db: 0, prefix: 'multcall' },
      central: { name: 'pbx-sim', host: 'pbx-sim', port: 5038, username: 'multcall', maxChannels: 200, maxOriginatesPerSecond: 50 },
      originate: { channel: 'PJSIP/{number}@carrier', context: 'multcall-answered', ringTimeoutMs: 30_000, variables: { CAMPAIGN: 'vendas' } },
    });
  });

  it('the AMI user comes from the Secret the pod mounts, and a worker without one says what is missing', () => {
    const [celula] = documents(`${SAMPLES}/celula.yaml`).map(parseCelula);
    const [central] = documents(`${SAMPLES}/central.yaml`).map(parseCentral);
    if (!celula || !central) throw new Error('samples missing');
    const file = workerFileFor(celula, central);
    expect(() => settingsFrom(file, 'vendas', { AMI_SECRET: 'x' })).toThrow(/AMI user is missing.*AMI_USERNAME_FILE/);
    expect(() => settingsFrom(file, 'vendas', { AMI_USERNAME: 'multcall\r\nAction: Command', AMI_SECRET: 'x' })).toThrow(/AMI user name/);
    // A standalone worker's file may name it; the mounted Secret wins.
    const standalone = { ...file, central: { ...file.central, username: 'from-file' } };
    expect(settingsFrom(standalone, 'vendas', { AMI_SECRET: 'x' }).central.username).toBe('from-file');
    expect(settingsFrom(standalone, 'vendas', { AMI_USERNAME: 'from-secret', AMI_SECRET: 'x' }).central.username).toBe('from-secret');
  });
});

/** Pod specs of every Deployment in the samples and in deploy/base. */
function podSpecs(): [string, Obj][] {
  const files = [...manifests.map((f) => `${SAMPLES}/${f}`), ...readdirSync(repo('deploy/base')).map((f) => `deploy/base/${f}`)];
  return files.flatMap((file) =>
    documents(file)
      .filter((d) => d.kind === 'Deployment')
      .map((d): [string, Obj] => [`${file}:${(d.metadata as { name: string }).name}`, (d.spec as { template: { spec: Obj } }).template.spec]),
  );
}

describe('pod security of the shipped Deployments', () => {
  it.each(podSpecs())('%s meets the restricted profile', (_name, pod) => {
    const podContext = pod.securityContext as Obj;
    expect(podContext.runAsNonRoot).toBe(true);
    expect(podContext.seccompProfile).toEqual({ type: 'RuntimeDefault' });
    for (const container of pod.containers as { securityContext: Obj }[]) {
      expect(container.securityContext).toMatchObject({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
    }
  });
});
