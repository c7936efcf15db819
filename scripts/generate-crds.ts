/**
 * Writes the CRD YAML into crds/ and charts/multcall-operator/crds/ from the zod schemas in
 * src/api (the single source). `npm run gen` writes them; a unit test fails
 * when the committed files drift from the schemas.
 */
import { stringify } from 'yaml';
import { customResourceDefinitions } from '../src/api/crds.js';

const HEADER = '# Generated from src/api by npm run gen. Do not edit: change the zod schemas and regenerate.\n';
const TARGETS = ['crds', 'charts/multcall-operator/crds'];

export function generateCrds(): Record<string, string> {
  const files: Record<string, string> = {};
  for (const crd of customResourceDefinitions()) {
    // lineWidth 0: never fold long descriptions or CEL rules, so diffs stay line-for-line.
    const text = HEADER + stringify(crd, { lineWidth: 0, aliasDuplicateObjects: false });
    for (const dir of TARGETS) files[`${dir}/${crd.spec.group}_${crd.spec.names.plural}.yaml`] = text;
  }
  return files;
}

