/**
 * The CustomResourceDefinitions, built from the zod schemas of this directory. The YAML in
 * crds/ and in the Helm chart is written from these by scripts/generate-crds.ts.
 */
import { celulaSpec, celulaStatus } from './celula.js';
import { centralSpec, centralStatus } from './central.js';
import { CATEGORY, CELULA_NAMES, CENTRAL_NAMES, GROUP, VERSION, type KindNames } from './group.js';
import { toStructural, type JSONSchemaProps } from './structural.js';
import { NAME_MAX, NAME_TOO_LONG } from './common.js';

export interface PrinterColumn {
  name: string;
  type: 'string' | 'integer' | 'number' | 'boolean' | 'date';
  jsonPath: string;
  description: string;
  /** 1 = only with `-o wide`. */
  priority?: number;
}

export interface CustomResourceDefinition {
  apiVersion: 'apiextensions.k8s.io/v1';
  kind: 'CustomResourceDefinition';
  metadata: { name: string; labels: Record<string, string> };
  spec: {
    group: string;
    names: KindNames & { categories: string[] };
    scope: 'Namespaced';
    versions: {
      name: string;
      served: boolean;
      storage: boolean;
      schema: { openAPIV3Schema: JSONSchemaProps };
      subresources: { status: Record<string, never>; scale?: { specReplicasPath: string; statusReplicasPath: string; labelSelectorPath: string } };
      additionalPrinterColumns: PrinterColumn[];
    }[];
  };
}

function rootSchema(kind: string, description: string, spec: JSONSchemaProps, status: JSONSchemaProps): JSONSchemaProps {
  return {
    type: 'object',
    description,
    required: ['spec'],
    properties: {
      apiVersion: { type: 'string', description: `Versioned schema of this object: ${GROUP}/${VERSION}.` },
      kind: { type: 'string', description: `Kind of this object: ${kind}.` },
      // The API server owns metadata's schema and refuses anything here beyond the type.
      metadata: { type: 'object' },
      spec,
      status,
    },
    'x-kubernetes-validations': [{ rule: `self.metadata.name.size() <= ${NAME_MAX}`, message: NAME_TOO_LONG }],
  };
}

function crd(names: KindNames, description: string, spec: JSONSchemaProps, status: JSONSchemaProps, columns: PrinterColumn[], scale: boolean): CustomResourceDefinition {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${names.plural}.${GROUP}`, labels: { 'app.kubernetes.io/name': 'multcall-operator', 'app.kubernetes.io/part-of': 'multcall' } },
    spec: {
      group: GROUP,
      names: { ...names, categories: [CATEGORY] },
      scope: 'Namespaced',
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          schema: { openAPIV3Schema: rootSchema(names.kind, description, spec, status) },
          subresources: {
            status: {},
            ...(scale ? { scale: { specReplicasPath: '.spec.replicas', statusReplicasPath: '.status.replicas', labelSelectorPath: '.status.selector' } } : {}),
          },
          additionalPrinterColumns: columns,
        },
      ],
    },
  };
}

const condition = (type: string) => `.status.conditions[?(@.type=="${type}")]`;

export function celulaCrd(): CustomResourceDefinition {
  return crd(
    CELULA_NAMES,
    "A Multcall célula (campaign): its Redis queue, call parameters and the centrals that place its calls. The operator runs one worker Deployment per selected, healthy Central and scales the workers from the queue.",
    toStructural(celulaSpec),
    toStructural(celulaStatus),
    [
      { name: 'Queue', type: 'string', jsonPath: '.spec.queue', description: "The célula's name in Multcall." },
      { name: 'Mode', type: 'string', jsonPath: '.spec.scaling.mode', description: 'Scaling mode: queue, external or fixed.' },
      { name: 'Threads', type: 'integer', jsonPath: '.spec.threads', description: 'Calls at once per worker replica.' },
      { name: 'Desired', type: 'integer', jsonPath: '.status.desiredReplicas', description: 'Worker pods the operator is aiming for.', priority: 1 },
      { name: 'Replicas', type: 'integer', jsonPath: '.status.replicas', description: 'Worker pods over all centrals.' },
      { name: 'Ready', type: 'integer', jsonPath: '.status.readyReplicas', description: 'Ready worker pods over all centrals.' },
      { name: 'Queued', type: 'integer', jsonPath: '.status.queued', description: 'Calls waiting in the Redis queue.' },
      { name: 'In Flight', type: 'integer', jsonPath: '.status.inFlight', description: 'Calls held by workers.' },
      { name: 'Status', type: 'string', jsonPath: `${condition('Ready')}.status`, description: 'Status of the Ready condition.' },
      { name: 'Reason', type: 'string', jsonPath: `${condition('Ready')}.reason`, description: 'Reason of the Ready condition.', priority: 1 },
      { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp', description: 'Time since the object was created.' },
    ],
    true,
  );
}

export function centralCrd(): CustomResourceDefinition {
  return crd(
    CENTRAL_NAMES,
    'An Asterisk PBX reachable over AMI, with its capacity and weight. Células select Centrals; the operator probes each one and sends no new calls to a central that stops answering.',
    toStructural(centralSpec),
    toStructural(centralStatus),
    [
      { name: 'Host', type: 'string', jsonPath: '.spec.ami.host', description: 'AMI host.' },
      { name: 'Port', type: 'integer', jsonPath: '.spec.ami.port', description: 'AMI port.', priority: 1 },
      { name: 'Weight', type: 'integer', jsonPath: '.spec.weight', description: 'Share of worker replicas relative to other centrals.' },
      { name: 'Max Channels', type: 'integer', jsonPath: '.spec.capacity.maxChannels', description: 'Most calls at once.' },
      { name: 'Ready', type: 'string', jsonPath: `${condition('Ready')}.status`, description: 'Whether células place workers on it (Reachable, judged over the failure grace).' },
      { name: 'Reachable', type: 'string', jsonPath: `${condition('Reachable')}.status`, description: 'Whether the last AMI probe succeeded.', priority: 1 },
      { name: 'AMI', type: 'string', jsonPath: '.status.amiVersion', description: 'AMI version from the greeting banner.' },
      { name: 'Asterisk', type: 'string', jsonPath: '.status.asteriskVersion', description: 'Asterisk version (CoreSettings, else the release of the AMI version).' },
      { name: 'Latency', type: 'integer', jsonPath: '.status.latencyMs', description: 'Milliseconds the last probe took.', priority: 1 },
      { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp', description: 'Time since the object was created.' },
    ],
    false,
  );
}

export function customResourceDefinitions(): CustomResourceDefinition[] {
  return [celulaCrd(), centralCrd()];
}
