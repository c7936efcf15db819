import { readdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';

/** The real Asterisk 20 transcripts (override with AMI_FIXTURES). */
export const FIXTURE_DIR = process.env.AMI_FIXTURES ?? resolve(import.meta.dirname, '../../../shared/fixtures/ami/asterisk-20.20.1');

export function fixtureFiles(ext: '.rx' | '.tx'): string[] {
  return readdirSync(FIXTURE_DIR).filter((f) => f.endsWith(ext)).sort();
}

export function readFixture(name: string): Buffer {
  return readFileSync(resolve(FIXTURE_DIR, name));
}
