/** `npm run gen`: every generated file (JSON Schemas of protocol v1, CRDs) from the zod schemas. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateSchemas } from './generate-schemas.js';
import { generateCrds } from './generate-crds.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
for (const [path, text] of Object.entries({ ...generateSchemas(), ...generateCrds() })) {
  const target = resolve(root, path);
  mkdirSync(dirname(target), { recursive: true });
  writeFileSync(target, text);
  console.log(`wrote ${path}`);
}
