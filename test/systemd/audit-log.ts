import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

/**
 * `ausearch ARGS --raw` over the live log and the last rotated one: with max_log_file = 8 MB
 * and other suites running, auditd rotates within seconds, and a record written just before
 * a rotation would be missed by a search of audit.log alone.
 */
export function ausearchRecent(args: string[]): string[] {
  return ['/var/log/audit/audit.log.1', '/var/log/audit/audit.log']
    .filter((f) => existsSync(f))
    .flatMap((f) => {
      const r = spawnSync('ausearch', [...args, '--raw', '-if', f], { encoding: 'utf8', maxBuffer: 256 << 20 });
      return r.status === 0 ? r.stdout.split('\n').filter((l) => l && !l.startsWith('----')) : [];
    });
}

/** auditd writes asynchronously: poll until the records show up (or give up after `ms`). */
export async function waitForRecords(args: string[], predicate: (lines: string[]) => boolean, ms = 15_000): Promise<string[]> {
  const deadline = Date.now() + ms;
  for (;;) {
    const lines = ausearchRecent(args);
    if (predicate(lines) || Date.now() > deadline) return lines;
    await new Promise((r) => setTimeout(r, 200));
  }
}
