import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { ContidError } from '@contid/core';

/**
 * How this host runs auditd, so that a restart is done the same way: by its systemd unit
 * (systemd is PID 1's init and auditd sits in auditd.service's cgroup), or — no systemd, or
 * auditd started outside it (by hand, by a script, in a container) — by stopping it with
 * SIGTERM and starting the same command line again.
 */
export type AuditdRunner = { kind: 'systemd'; unit: string } | { kind: 'process'; argv: string[] } | { kind: 'unknown'; why: string };

/** auditd(8)'s options: a restart passes on these and nothing else. */
const AUDITD_FLAGS = new Set(['-f', '-l', '-n']);
const AUDITD_VALUES: Record<string, (v: string) => boolean> = {
  '-s': (v) => ['disable', 'enable', 'nochange'].includes(v),
  '-c': (v) => v.startsWith('/'),
};

/**
 * Where auditd is installed (Debian and Red Hat alike put it in /sbin, merged with /usr/sbin).
 * A restart runs only one of these: a root-owned shell is root-owned too, and `dash -c CMD`
 * passes auditd's option check (`-c` is auditd's config directory) — outside attack 6 showed
 * that a user's process in a reused pid would then have had its command run as root.
 */
export const AUDITD_EXECUTABLES: readonly string[] = ['/usr/sbin/auditd', '/sbin/auditd'];

/**
 * The command line a restart runs as root. Its program is the daemon's own executable as the
 * kernel links it (`/proc/PID/exe`): auditd's installed executable, root-owned and writable by
 * root alone; its arguments are auditd's own options taken from `/proc/PID/cmdline` (which a
 * process can rewrite) and checked one by one. Anything else: no command line, and the reason.
 */
function restartArgv(pid: number, procRoot: string, executables: readonly string[]): string[] | string {
  let exe: string;
  let words: string[];
  try {
    exe = readlinkSync(`${procRoot}/${pid}/exe`);
    words = readFileSync(`${procRoot}/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  } catch {
    return `auditd (pid ${pid}) is gone or unreadable`;
  }
  if (!executables.includes(exe)) return `pid ${pid} runs ${JSON.stringify(exe)}, not auditd's installed executable (${executables.join(' or ')})`;
  let st;
  try {
    st = statSync(exe);
  } catch {
    return `auditd's executable ${JSON.stringify(exe)} is no longer there`;
  }
  if (!st.isFile() || st.uid !== 0 || (st.mode & 0o022) !== 0) return `auditd's executable ${JSON.stringify(exe)} is not a root-owned file only root can write`;
  const args = words.slice(1);
  for (let i = 0; i < args.length; i++) {
    const check = AUDITD_VALUES[args[i]];
    if (AUDITD_FLAGS.has(args[i])) continue;
    if (check && i + 1 < args.length && check(args[i + 1])) {
      i++;
      continue;
    }
    return `auditd (pid ${pid}) runs with arguments contid does not pass on (${JSON.stringify(args.join(' '))})`;
  }
  return [exe, ...args];
}

/** `pid` must be the kernel's audit daemon (auditdPid), never a process found by its name. */
export function auditdRunner(pid: number, procRoot = '/proc', systemdDir = '/run/systemd/system', executables = AUDITD_EXECUTABLES): AuditdRunner {
  let cgroup = '';
  try {
    cgroup = readFileSync(`${procRoot}/${pid}/cgroup`, 'utf8');
  } catch {
    // gone: treated as started by hand
  }
  const unit = /\/(auditd\.service)\s*$/m.exec(cgroup)?.[1];
  if (existsSync(systemdDir) && unit) return { kind: 'systemd', unit };
  const argv = restartArgv(pid, procRoot, executables);
  return typeof argv === 'string' ? { kind: 'unknown', why: argv } : { kind: 'process', argv };
}

const shellWord = (w: string): string => (/^[A-Za-z0-9_./=:,+-]+$/.test(w) ? w : `'${w.replace(/'/g, `'\\''`)}'`);

/** The command a person would type to restart auditd on this host. */
export function restartAdvice(r: AuditdRunner, pid: number): string {
  if (r.kind === 'systemd') return `systemctl restart ${r.unit}`;
  if (r.kind === 'unknown') return `restart auditd (pid ${pid}) the way this host started it (contid will not: ${r.why})`;
  return `kill -TERM ${pid}; ${r.argv.map(shellWord).join(' ')}`;
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/**
 * Restarts auditd the way the host runs it and returns the new auditd's pid (found by
 * `findPid`). The kernel keeps records in its backlog while auditd is down.
 */
export function restartAuditd(r: AuditdRunner, pid: number, findPid: () => number | null, waitMs = 10_000): number {
  if (r.kind === 'systemd') {
    const res = spawnSync('systemctl', ['restart', r.unit], { encoding: 'utf8' });
    if (res.status !== 0) throw new ContidError(`systemctl restart ${r.unit} failed: ${(res.stderr || '').trim().split('\n').pop() ?? ''}`);
  } else if (r.kind === 'unknown') {
    throw new ContidError(restartAdvice(r, pid));
  } else {
    process.kill(pid, 'SIGTERM');
    for (const deadline = Date.now() + waitMs; alive(pid) && Date.now() < deadline; ) sleepSync(100);
    if (alive(pid)) throw new ContidError(`auditd (pid ${pid}) did not stop within ${waitMs / 1000} s after SIGTERM`);
    if (r.argv.includes('-n')) {
      // Foreground mode: it stays our child unless detached.
      spawn(r.argv[0], r.argv.slice(1), { detached: true, stdio: 'ignore' }).unref();
    } else {
      const res = spawnSync(r.argv[0], r.argv.slice(1), { encoding: 'utf8' });
      if (res.status !== 0) throw new ContidError(`${r.argv.join(' ')} failed to start auditd again (exit ${res.status}): ${(res.stderr || '').trim().split('\n').pop() ?? ''}`);
    }
  }
  for (const deadline = Date.now() + waitMs; Date.now() < deadline; sleepSync(100)) {
    const now = findPid();
    if (now !== null && now !== pid) return now;
  }
  throw new ContidError(`auditd did not come back within ${waitMs / 1000} s after ${restartAdvice(r, pid)}`);
}
