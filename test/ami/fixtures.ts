import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';

/** The real Asterisk 20 transcripts (override with AMI_FIXTURES). */
export const FIXTURE_DIR = process.env.AMI_FIXTURES ?? resolve(import.meta.dirname, '../fixtures/ami/asterisk-20.20.1');
if (!existsSync(FIXTURE_DIR)) {
  throw new Error(`the Asterisk 20 transcripts are not at ${FIXTURE_DIR}: they live in test/fixtures/ami, or set AMI_FIXTURES`);
}

export function fixtureFiles(ext: '.rx' | '.tx'): string[] {
  return readdirSync(FIXTURE_DIR).filter((f) => f.endsWith(ext)).sort();
}

export function readFixture(name: string): Buffer {
  return readFileSync(resolve(FIXTURE_DIR, name));
}
