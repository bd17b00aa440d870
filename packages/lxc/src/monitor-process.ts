import { readFileSync, readdirSync, readlinkSync, statSync } from 'node:fs';

/**
 * LXC's monitor processes, found from /proc: LXC titles each `[lxc monitor] LXCPATH NAME`
 * (setproctitle) and runs it as root from before the container's init until after it. Any user
 * can give a process that title, so only root's count — and only in this pid namespace: root in
 * a Docker container is uid 0 in the host's /proc too, and could title a process of its own so
 * that doctor and ps list an LXC container that does not exist (outside attack 12, L1). Asking LXC itself (lxc-ls --running,
 * lxc-info) goes through each container's abstract command socket, which an unprivileged user
 * can squat so that the tool waits for ever.
 */

/** How LXC titles a container's monitor process. */
export const monitorTitle = (lxcPath: string, name: string): string => `[lxc monitor] ${lxcPath} ${name}`;

const PREFIX = '[lxc monitor] ';

/** PID is root's and is LXC's monitor of NAME under LXCPATH. */
export function isMonitorProcess(pid: number, lxcPath: string, name: string, procRoot = '/proc'): boolean {
  return monitoredName(pid, lxcPath, procRoot) === name;
}

/** The names of the containers under LXCPATH that have a monitor (running, or starting or stopping), sorted. */
export function monitoredContainers(lxcPath: string, procRoot = '/proc'): string[] {
  const names: string[] = [];
  let entries: string[];
  try {
    entries = readdirSync(procRoot);
  } catch {
    return names; // no procfs there: nothing runs
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    const name = monitoredName(Number(entry), lxcPath, procRoot);
    if (name !== null) names.push(name);
  }
  return names.sort();
}

/** The container under LXCPATH that root process PID is the monitor of, or null. */
function monitoredName(pid: number, lxcPath: string, procRoot: string): string | null {
  try {
    const title = readFileSync(`${procRoot}/${pid}/cmdline`, 'latin1').replace(/\0+$/, '');
    const head = `${PREFIX}${lxcPath} `;
    if (!title.startsWith(head) || title.includes('\0')) return null;
    const name = title.slice(head.length);
    if (!/^[A-Za-z0-9][A-Za-z0-9_.+-]*$/.test(name)) return null;
    if (readlinkSync(`${procRoot}/${pid}/ns/pid`) !== readlinkSync(`${procRoot}/self/ns/pid`)) return null;
    return statSync(`${procRoot}/${pid}`).uid === 0 ? name : null;
  } catch {
    return null;
  }
}
