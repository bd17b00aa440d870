import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ContidConfig, HealthResult } from '@contid/core';

/** Older than this, a spool entry means nobody drains the spool. */
const STALE_MS = 60_000;

/**
 * `contid doctor`: the shim's hand-offs must not pile up (agent down) and entries the agent
 * could not process must be looked at.
 */
export function dockerHealth(config: ContidConfig, env: NodeJS.ProcessEnv = process.env, now = Date.now()): HealthResult[] {
  const dir = env.CONTID_SPOOL_DIR || join(config.stateDir, 'spool');
  if (!existsSync(dir)) return [];
  const out: HealthResult[] = [];
  const stale = readdirSync(dir).filter((n) => n.endsWith('.entry') && now - statSync(join(dir, n)).mtimeMs > STALE_MS);
  out.push(
    stale.length
      ? {
          check: 'docker spool',
          status: 'warn',
          detail: `${stale.length} hand-off(s) from contid-runc waiting for over ${STALE_MS / 1000} s in ${dir}`,
          fix: 'run contid docker agent (or contid docker sync)',
        }
      : { check: 'docker spool', status: 'ok', detail: `${dir} is drained` },
  );
  const failedDir = join(dir, 'failed');
  const failed = existsSync(failedDir) ? readdirSync(failedDir).filter((n) => n.endsWith('.entry')) : [];
  if (failed.length) {
    out.push({ check: 'docker spool failures', status: 'warn', detail: `${failed.length} hand-off(s) could not be processed`, fix: `read ${failedDir}/*.reason` });
  }
  return out;
}
