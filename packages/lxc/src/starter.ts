import { closeSync, readFileSync, readdirSync, writeSync } from 'node:fs';
import { copyProcessFd, readSessionId } from '@contid/core';

/** The container an lxc-start argument list names (-n NAME, -nNAME, --name NAME, --name=NAME). */
export function lxcStartName(argv: readonly string[]): string | null {
  for (let i = 1; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') break;
    if (a === '-n' || a === '--name') return argv[i + 1] ?? null;
    if (a.startsWith('--name=')) return a.slice('--name='.length);
    if (a.startsWith('-n') && a.length > 2 && !a.startsWith('--')) return a.slice(2);
  }
  return null;
}

function readOr(file: string): string | null {
  try {
    return readFileSync(file, 'latin1');
  } catch {
    return null;
  }
}

/**
 * The lxc-start processes that started container `name` and still wait for it: their stderr
 * is the starter's. A hook's own stderr never reaches the starter (measured, LXC 5.0.2): LXC
 * captures hook output into its log at DEBUG, and a daemonized monitor's stderr is /dev/null.
 * But lxc-start waits while the hooks run (daemonized: for the monitor to report RUNNING,
 * which comes after start-host; -F: it is the monitor itself). It is found as a process of the
 * lxc-start binary (comm), not a monitor ("[lxc monitor] PATH NAME"), whose arguments name the
 * container, in the hook's own audit session (inherited from lxc-start through the monitor).
 */
export function waitingStarters(name: string, procRoot = '/proc'): number[] {
  let session: number;
  try {
    session = readSessionId('self', procRoot);
  } catch {
    return [];
  }
  const out: number[] = [];
  for (const entry of readdirSync(procRoot)) {
    if (!/^[1-9][0-9]*$/.test(entry) || Number(entry) === process.pid) continue;
    if (readOr(`${procRoot}/${entry}/comm`)?.trim() !== 'lxc-start') continue;
    const argv = (readOr(`${procRoot}/${entry}/cmdline`) ?? '').replace(/\0$/, '').split('\0');
    if (argv.length === 0 || argv[0].startsWith('[lxc monitor]') || lxcStartName(argv) !== name) continue;
    if (Number(readOr(`${procRoot}/${entry}/sessionid`)) !== session) continue;
    out.push(Number(entry));
  }
  return out;
}

/**
 * Writes `line` to the stderr of whoever ran `lxc-start` for `name`: a copy of its fd 2
 * (pidfd_getfd), so a terminal, a pipe, a file and a socket (a Node parent's stdio) all work.
 * Returns the pids reached.
 */
export function tellStarter(name: string, line: string, procRoot = '/proc'): number[] {
  const reached: number[] = [];
  for (const pid of waitingStarters(name, procRoot)) {
    let fd: number | null = null;
    try {
      fd = copyProcessFd(pid, 2);
      if (fd === null) continue;
      writeSync(fd, line.endsWith('\n') ? line : `${line}\n`);
      reached.push(pid);
    } catch {
      // a closed stderr, a full pipe or a process gone since: the audit record remains
    } finally {
      if (fd !== null) closeSync(fd);
    }
  }
  return reached;
}
