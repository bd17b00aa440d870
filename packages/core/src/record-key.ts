import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const RECORD_KEY_FILE = 'record.key';

/** The host's record-signing key (root-only); created on first use. */
export function loadOrCreateRecordKey(stateDir: string): Buffer {
  const file = join(stateDir, RECORD_KEY_FILE);
  try {
    return readFileSync(file);
  } catch {
    try {
      // 'wx' so two first-time taggers racing keep one key: the loser reads the winner's.
      writeFileSync(file, randomBytes(32), { mode: 0o600, flag: 'wx' });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    return readFileSync(file);
  }
}

/** The key if this caller may read it (attribution on another machine may not have it). */
export function readRecordKey(stateDir: string): Buffer | null {
  try {
    return readFileSync(join(stateDir, RECORD_KEY_FILE));
  } catch {
    return null;
  }
}
