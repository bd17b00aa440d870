import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ContidConfig, HealthResult } from '@contid/core';
import { Spool, spoolDirFromEnv } from './spool';

/** Older than this, a spool entry means nobody drains the spool. */
const STALE_MS = 60_000;

/**
 * `contid doctor`: how many hand-offs from the tagging step (contid-runc, contid-spawn) wait
 * for `contid serve`, whether they pile up (nobody drains), and entries that could not be
 * processed.
 */
export function spoolHealth(config: ContidConfig, env: NodeJS.ProcessEnv = process.env, now = Date.now()): HealthResult[] {
  const dir = env.CONTID_SPOOL_DIR ? spoolDirFromEnv(env) : join(config.stateDir, 'spool');
  if (!existsSync(dir)) return [];
  const spool = new Spool(dir);
  const waiting = spool.names();
  const stale = waiting.filter((n) => now - (spool.mtime(n) ?? now) > STALE_MS);
  const out: HealthResult[] = [
    stale.length
      ? {
          check: 'spool',
          status: 'warn',
          detail: `${waiting.length} hand-off(s) waiting in ${dir}, ${stale.length} of them for over ${STALE_MS / 1000} s`,
          fix: 'run contid serve (it binds them in order; or contid docker agent / contid docker sync)',
        }
      : { check: 'spool', status: 'ok', detail: waiting.length ? `${waiting.length} hand-off(s) being drained in ${dir}` : `${dir} is drained` },
  ];
  const failed = spool.failed();
  if (failed.length) {
    out.push({ check: 'spool failures', status: 'warn', detail: `${failed.length} hand-off(s) could not be processed`, fix: `read ${join(dir, 'failed')}/*.reason` });
  }
  return out;
}
