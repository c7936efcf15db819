/**
 * `Central`: one Asterisk PBX reachable over AMI. Células select Centrals; the operator
 * probes each one and sends no new calls to a central that stops answering.
 */
import { z } from 'zod';
import { withRules } from './cel.js';
import { conditions, duration, host, objectMeta, port, secretKey, secretName, timestamp, tryDurationMs } from './common.js';
import { API_VERSION } from './group.js';

export const centralAmi = z
  .object({
    host: host.describe('Host name or IP address of the Asterisk Manager Interface.'),
    port: port.default(5038).describe('TCP port of the Asterisk Manager Interface.'),
    credentialsSecretRef: z
      .object({
        name: secretName.describe('Name of the Secret, in the namespace of the Central.'),
        usernameKey: secretKey.default('username').describe('Key of the Secret holding the AMI user name.'),
        secretKey: secretKey.default('secret').describe('Key of the Secret holding the AMI secret (password).'),
      })
      .describe('Secret with the AMI user name and secret, as in manager.conf.'),
  })
  .describe('Where and how to log in to the central over AMI.');

export const centralCapacity = z
  .object({
    maxChannels: z.number().int().min(1).max(100_000).default(100).describe('Most calls the central carries at once for all células; replicas are apportioned by free capacity.'),
    maxOriginatesPerSecond: z.number().int().min(1).max(10_000).default(20).describe('Most Originate actions per second the central accepts from all workers together.'),
  })
  .prefault({})
  .describe('What the central can take.');

export const centralProbe = withRules(
  z
    .object({
      interval: duration({ description: 'Time between AMI probes.', default: '10s', min: '1s', max: '10m' }),
      timeout: duration({ description: 'How long a probe (connect, login, CoreSettings) may take before the central counts as unreachable.', default: '3s', max: '1m' }),
    })
    .prefault({})
    .describe('How the operator checks that the central answers AMI.'),
  [
    {
      rule: 'duration(self.timeout) < duration(self.interval)',
      message: 'probe.timeout must be shorter than probe.interval',
      fieldPath: '.timeout',
      check: (p) => (tryDurationMs(p.timeout) ?? Infinity) < (tryDurationMs(p.interval) ?? 0),
    },
  ],
);

export const centralSpec = z
  .object({
    ami: centralAmi,
    capacity: centralCapacity,
    weight: z.number().int().min(1).max(1000).default(100).describe('Share of worker replicas this central gets relative to the others, before capacity limits.'),
    probe: centralProbe,
  })
  .describe('An Asterisk PBX the workers place calls on.');
export type CentralSpec = z.infer<typeof centralSpec>;

export const centralStatus = z
  .object({
    observedGeneration: z.number().int().min(0).optional().describe('metadata.generation this status describes.'),
    conditions: conditions('Reachable: the last AMI probe succeeded. Ready: the central may receive calls.'),
    amiVersion: z.string().max(64).optional().describe('AMI protocol version from the greeting banner, e.g. 9.0.0.'),
    asteriskVersion: z
      .string()
      .max(64)
      .optional()
      .describe("Asterisk version: CoreSettings' AsteriskVersion when the AMI user may run it (write=system or reporting), else the release its AMI version ships with, e.g. 20.x for AMI 9.0.0."),
    banner: z.string().max(256).optional().describe('The greeting line the central sent, e.g. Asterisk Call Manager/9.0.0.'),
    lastProbeTime: timestamp.optional().describe('When the central was last probed, as of the last status write: written when a condition changes, else at least every minute.'),
    latencyMs: z.number().int().min(0).optional().describe('Milliseconds the probe of lastProbeTime took.'),
  })
  .describe('What the operator observed; written by the operator only.');
export type CentralStatus = z.infer<typeof centralStatus>;

export const central = z.object({
  apiVersion: z.literal(API_VERSION),
  kind: z.literal('Central'),
  metadata: objectMeta,
  spec: centralSpec,
  status: centralStatus.optional(),
});
export type Central = z.infer<typeof central>;
