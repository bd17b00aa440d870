import { readFileSync, readdirSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Where LXC writes the monitor pid of a start contid lxc start records itself (contid-lxc's
 * start_recorded: `lxc-start -p STATE_DIR/lxc/.monitor-SESSION`). The monitor writes its own
 * pid there once daemonized and removes the file when it exits normally; a monitor killed
 * (SIGKILL, a crash) leaves it behind, and before this nobody removed it.
 */
export const ownStartMonitorFile = (stateDir: string, session: number): string => join(stateDir, 'lxc', `.monitor-${session}`);

const MONITOR_FILE = /^\.monitor-(\d{1,10})$/;

/**
 * The file's monitor no longer runs in SESSION: its pid is gone, exited (a zombie its reaper has
 * not collected yet: this VM's init leaves them for seconds) or another session's process (a
 * reused pid). A file that names no pid is stale too. Only then is it of no use to anyone —
 * while the monitor runs, a reboot's new init is found through it (end-watcher's relearnInit).
 */
function stale(file: string, session: number, procRoot: string): boolean {
  let pid: number;
  try {
    pid = Number(readFileSync(file, 'utf8').trim());
  } catch {
    return false; // gone already (LXC removed it), or unreadable: nothing to decide from
  }
  if (!Number.isSafeInteger(pid) || pid <= 1) return true;
  try {
    const stat = readFileSync(`${procRoot}/${pid}/stat`, 'latin1');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    if (state === 'Z' || state === 'X') return true;
    return Number(readFileSync(`${procRoot}/${pid}/sessionid`, 'utf8').trim()) !== session;
  } catch {
    return true; // the pid is gone
  }
}

/** Removes SESSION's monitor file when its monitor no longer runs; true when it removed one. */
export function removeStaleMonitorFile(stateDir: string, session: number, procRoot = '/proc'): boolean {
  const file = ownStartMonitorFile(stateDir, session);
  if (!stale(file, session, procRoot)) return false;
  try {
    unlinkSync(file);
    return true;
  } catch {
    return false; // removed meanwhile (LXC, or another serve)
  }
}

/**
 * Every stale monitor file under STATE_DIR/lxc (left by monitors killed while serve was down,
 * or of rows ended elsewhere: `re-created`, `found gone`): how many were removed. Only names of
 * the form `.monitor-SESSION`; unlink never follows a link, and the directory is root's.
 */
export function removeStaleMonitorFiles(stateDir: string, procRoot = '/proc'): number {
  let names: string[];
  try {
    names = readdirSync(join(stateDir, 'lxc'));
  } catch {
    return 0;
  }
  let removed = 0;
  for (const name of names) {
    const m = MONITOR_FILE.exec(name);
    if (m && removeStaleMonitorFile(stateDir, Number(m[1]), procRoot)) removed++;
  }
  return removed;
}
