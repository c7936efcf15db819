/** Reading a kubeconfig: the current context's server, TLS material and token, and clear refusals. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { credentialsFromKubeconfig, inClusterCredentials } from '../../src/operator/runtime/credentials.js';

const dir = mkdtempSync(path.join(tmpdir(), 'kubeconfig-'));
const write = (name: string, content: unknown) => {
  const file = path.join(dir, name);
  writeFileSync(file, typeof content === 'string' ? content : stringify(content));
  return file;
};

const base = {
  apiVersion: 'v1',
  kind: 'Config',
  'current-context': 'ops',
  clusters: [
    { name: 'other', cluster: { server: 'https://other:6443' } },
    { name: 'main', cluster: { server: 'https://127.0.0.1:6443/', 'certificate-authority': 'ca.crt' } },
  ],
  users: [{ name: 'operator', user: { tokenFile: 'token' } }],
  contexts: [{ name: 'ops', context: { cluster: 'main', user: 'operator', namespace: 'x' } }],
};

describe('kubeconfig', () => {
  it('uses the current context, files relative to the kubeconfig, and a token file', () => {
    write('ca.crt', 'CA-PEM');
    write('token', 'tok-1\n');
    const creds = credentialsFromKubeconfig(write('a.yaml', base));
    expect(creds.server).toBe('https://127.0.0.1:6443');
    expect(creds.agent.options.ca).toEqual(Buffer.from('CA-PEM'));
    expect(creds.authorization()).toBe('Bearer tok-1');
  });

  it('takes inline base64 data and a literal token', () => {
    const cfg = {
      ...base,
      clusters: [{ name: 'main', cluster: { server: 'https://k:6443', 'certificate-authority-data': Buffer.from('CA').toString('base64') } }],
      users: [{ name: 'operator', user: { token: 'abc', 'client-certificate-data': Buffer.from('CERT').toString('base64'), 'client-key-data': Buffer.from('KEY').toString('base64') } }],
    };
    const creds = credentialsFromKubeconfig(write('b.yaml', cfg));
    expect(creds.agent.options.cert).toEqual(Buffer.from('CERT'));
    expect(creds.agent.options.key).toEqual(Buffer.from('KEY'));
    expect(creds.authorization()).toBe('Bearer abc');
  });

  it('refuses exec plugins and broken references with a message that says what is wrong', () => {
    const exec = { ...base, users: [{ name: 'operator', user: { exec: { command: 'aws' } } }] };
    expect(() => credentialsFromKubeconfig(write('c.yaml', exec))).toThrow(/exec plugin/);
    expect(() => credentialsFromKubeconfig(write('d.yaml', { ...base, 'current-context': 'nope' }))).toThrow(/current-context nope/);
    expect(() => credentialsFromKubeconfig(write('e.yaml', { ...base, contexts: [{ name: 'ops', context: { cluster: 'gone' } }] }))).toThrow(/cluster gone/);
    expect(() => credentialsFromKubeconfig(write('f.yaml', { ...base, clusters: [{ name: 'main', cluster: { server: 'not a url' } }] }))).toThrow(/not valid/);
  });

  it('in a pod, reads the service account volume and the service environment', () => {
    const sa = mkdtempSync(path.join(tmpdir(), 'sa-'));
    writeFileSync(path.join(sa, 'ca.crt'), 'POD-CA');
    writeFileSync(path.join(sa, 'token'), 'pod-token');
    const saved = { host: process.env.KUBERNETES_SERVICE_HOST, port: process.env.KUBERNETES_SERVICE_PORT };
    try {
      delete process.env.KUBERNETES_SERVICE_HOST;
      expect(() => inClusterCredentials(sa)).toThrow(/--kubeconfig/);
      process.env.KUBERNETES_SERVICE_HOST = 'fd00::1';
      process.env.KUBERNETES_SERVICE_PORT = '443';
      const creds = inClusterCredentials(sa);
      expect(creds.server).toBe('https://[fd00::1]:443');
      expect(creds.authorization()).toBe('Bearer pod-token');
    } finally {
      if (saved.host === undefined) delete process.env.KUBERNETES_SERVICE_HOST;
      else process.env.KUBERNETES_SERVICE_HOST = saved.host;
      if (saved.port === undefined) delete process.env.KUBERNETES_SERVICE_PORT;
      else process.env.KUBERNETES_SERVICE_PORT = saved.port;
    }
  });
});
