import { existsSync, readFileSync, readlinkSync } from 'node:fs';

/** The kernel's "unset" value for loginuid and sessionid. */
export const AUDIT_UNSET = 4294967295;

export type Pid = number | 'self';

export function readLoginUid(pid: Pid = 'self', procRoot = '/proc'): number {
  return Number(readFileSync(`${procRoot}/${pid}/loginuid`, 'utf8').trim());
}

export function readSessionId(pid: Pid = 'self', procRoot = '/proc'): number {
  return Number(readFileSync(`${procRoot}/${pid}/sessionid`, 'utf8').trim());
}

/**
 * When a process started, in clock ticks since boot (/proc/PID/stat field 22): a pid plus
 * its start time names one process for the whole boot, even after the pid is reused.
 * Null when the process is gone.
 */
export function processStartTime(pid: Pid, procRoot = '/proc'): number | null {
  const path = `${procRoot}/${pid}/stat`;
  // A process already gone is the ordinary case for a probe's exec bound after it ended: told
  // by a look-up rather than by a failed read, whose exception costs more than the read.
  if (!existsSync(path)) return null;
  let stat: string;
  try {
    stat = readFileSync(path, 'utf8');
  } catch {
    return null;
  }
  // comm (field 2) may hold spaces and parentheses: count fields after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const start = Number(fields[22 - 3]);
  return Number.isFinite(start) ? start : null;
}

export const NAMESPACE_KINDS = ['cgroup', 'ipc', 'mnt', 'net', 'pid', 'user', 'uts'] as const;
export type NamespaceKind = (typeof NAMESPACE_KINDS)[number];
export type Namespaces = Partial<Record<NamespaceKind, number>>;

/** Namespace inodes of a process: containers sharing namespaces (pods) show equal inodes. */
export function readNamespaces(pid: Pid = 'self', procRoot = '/proc'): Namespaces {
  const out: Namespaces = {};
  for (const kind of NAMESPACE_KINDS) {
    try {
      const m = /\[(\d+)\]/.exec(readlinkSync(`${procRoot}/${pid}/ns/${kind}`));
      if (m) out[kind] = Number(m[1]);
    } catch {
      // A namespace kind the kernel lacks, or a process that is gone: leave it out.
    }
  }
  return out;
}

/**
 * The namespaces of the process PID names while it is the one that started at START, or null
 * when it no longer is: the start time is read again after the links, as a process that exits
 * and whose pid is reused between the two reads would otherwise lend its successor's links.
 */
export function readNamespacesOf(pid: number, start: number, procRoot = '/proc'): Namespaces | null {
  const namespaces = readNamespaces(pid, procRoot);
  return processStartTime(pid, procRoot) === start ? namespaces : null;
}

export function formatNamespaces(ns: Namespaces): string {
  const parts = NAMESPACE_KINDS.filter((k) => ns[k] !== undefined).map((k) => `${k}:${ns[k]}`);
  return parts.length ? parts.join(',') : '?';
}

export function parseNamespaces(text: string): Namespaces {
  const out: Namespaces = {};
  if (text === '?' || text === '') return out;
  for (const part of text.split(',')) {
    const [kind, inode] = part.split(':');
    if ((NAMESPACE_KINDS as readonly string[]).includes(kind) && /^\d+$/.test(inode ?? '')) {
      out[kind as NamespaceKind] = Number(inode);
    }
  }
  return out;
}

/** This boot's random id: audit session numbers are only unique within one boot. */
export function currentBootId(): string {
  return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
}
