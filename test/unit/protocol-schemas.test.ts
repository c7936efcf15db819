import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { generateSchemas } from '../../scripts/generate-schemas.js';

describe('docs/schemas', () => {
  it('are what the zod schemas generate (run `npm run gen` after changing them)', () => {
    for (const [path, text] of Object.entries(generateSchemas())) {
      expect(readFileSync(resolve(import.meta.dirname, '../..', path), 'utf8'), path).toBe(text);
    }
  });
});
