/**
 * Writes the CRD YAML into crds/ and charts/multcall-operator/crds/ from the zod schemas in
 * src/api (the single source). Run `npx tsx scripts/generate-crds.ts`; a unit test fails
 * when the committed files drift from the schemas.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { customResourceDefinitions } from '../src/api/crds.js';

const HEADER = '# Generated from src/api by scripts/generate-crds.ts. Do not edit: change the zod schemas and regenerate.\n';
const TARGETS = ['crds', 'charts/multcall-operator/crds'];

export function generateCrds(): Record<string, string> {
  const files: Record<string, string> = {};
  for (const crd of customResourceDefinitions()) {
    // lineWidth 0: never fold long descriptions or CEL rules, so diffs stay line-for-line.
    const text = HEADER + stringify(crd, { lineWidth: 0 });
    for (const dir of TARGETS) files[`${dir}/${crd.spec.group}_${crd.spec.names.plural}.yaml`] = text;
  }
  return files;
}

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  for (const [path, text] of Object.entries(generateCrds())) {
    mkdirSync(dirname(resolve(root, path)), { recursive: true });
    writeFileSync(resolve(root, path), text);
    console.log(`wrote ${path}`);
  }
}
