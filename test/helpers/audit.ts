import { spawnSync } from 'node:child_process';
import { appendFileSync, closeSync, openSync, readFileSync, readSync, statSync, writeFileSync } from 'node:fs';
import { defaultLogFiles } from '@contid/audit';

/**
 * Real auditd helpers. Rules are global to the host, so every test adds rules under its own
 * key and deletes exactly those.
 */
export function addExecveRule(key: string): void {
  const r = spawnSync('auditctl', ['-a', 'always,exit', '-F', 'arch=b64', '-S', 'execve', '-k', key], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`auditctl -a failed: ${r.stderr}`);
}

export function deleteExecveRule(key: string): void {
  spawnSync('auditctl', ['-d', 'always,exit', '-F', 'arch=b64', '-S', 'execve', '-k', key], { encoding: 'utf8' });
}

/** `ausearch ARGS --raw` over auditd's log and its rotations ([] when nothing matches yet). */
export function ausearch(args: string[]): string[] {
  const r = spawnSync('ausearch', [...args, '--raw', '--input-logs'], { encoding: 'utf8', maxBuffer: 256 << 20 });
  return r.status === 0 ? r.stdout.split('\n').filter((l) => l && !l.startsWith('----')) : [];
}

/** auditd writes asynchronously: poll until the records show up (or give up after `ms`). */
export async function waitForAudit(args: string[], predicate: (lines: string[]) => boolean, ms = 15_000): Promise<string[]> {
  const deadline = Date.now() + ms;
  for (;;) {
    const lines = ausearch(args);
    if (predicate(lines) || Date.now() > deadline) return lines;
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The value of `key=` in a raw record line (kernel part or msg body, first match). */
export function field(line: string, key: string): string | undefined {
  const m = new RegExp(`(?:^|[ '])${key.replace(/-/g, '\\-')}=("[^"]*"|[^ ']*)`).exec(line);
  return m?.[1].replace(/^"(.*)"$/, '$1');
}

/** The serial of a record: audit(TIME:SERIAL). */
export function serial(line: string): string | undefined {
  return /audit\([0-9.]+:(\d+)\)/.exec(line)?.[1];
}

const AUDIT_LOG = '/var/log/audit/audit.log';

/** Where auditd is writing now: the test's records all come after this point. */
export function logMark(): { ino: number; size: number } {
  const st = statSync(AUDIT_LOG);
  return { ino: st.ino, size: st.size };
}

/**
 * Copies the log from `mark` to now into `dest`, across any rotation since (auditd keeps
 * 256 MB files: copying them whole would make ausearch and the test slow), starting at a
 * line boundary.
 */
export function freezeSince(mark: { ino: number; size: number }, dest: string): void {
  const files = defaultLogFiles();
  const at = files.findIndex((f) => statSync(f).ino === mark.ino);
  writeFileSync(dest, '');
  files.forEach((f, i) => {
    if (i < at) return;
    let data = readFileSync(f);
    if (i === at && mark.size > 0) {
      const fd = openSync(f, 'r');
      const before = Buffer.alloc(1);
      readSync(fd, before, 0, 1, mark.size - 1);
      closeSync(fd);
      const from = before[0] === 0x0a ? mark.size : data.indexOf(0x0a, mark.size) + 1;
      data = data.subarray(from);
    }
    appendFileSync(dest, data);
  });
}

