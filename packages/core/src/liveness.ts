import { readdirSync, readFileSync } from 'node:fs';
import { CAP_AUDIT_CONTROL, CAP_SYS_ADMIN, hasCap, heldCaps } from './privilege';
import { AUDIT_UNSET, processStartTime, readNamespaces } from './proc';
import { ContainerQueries, boundSessions } from './container-queries';
import { ContainerRecord } from './registry';
import type { Tagger } from './tagger';

/** One look at /proc: each process's audit session and start time. */
export interface ProcessTable {
  /** pid → start time (clock ticks since boot). */
  start: Map<number, number>;
  /** pid → audit session. */
  session: Map<number, number>;
  /** audit session → pids carrying it. */
  bySession: Map<number, number[]>;
}

export function scanProcesses(procRoot = '/proc'): ProcessTable {
  const table: ProcessTable = { start: new Map(), session: new Map(), bySession: new Map() };
  for (const entry of readdirSync(procRoot)) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    try {
      const session = Number(readFileSync(`${procRoot}/${pid}/sessionid`, 'utf8').trim());
      const start = processStartTime(pid, procRoot);
      if (start === null) continue;
      table.start.set(pid, start);
      table.session.set(pid, session);
      if (session !== AUDIT_UNSET) table.bySession.set(session, [...(table.bySession.get(session) ?? []), pid]);
    } catch {
      // The process exited while we looked.
    }
  }
  return table;
}

/** Is this pid still the process that was recorded (same start time)? */
export function sameProcess(pid: number | null, start: number | null, table: ProcessTable): boolean {
  return pid !== null && start !== null && table.start.get(pid) === start;
}

export type Liveness = 'alive' | 'gone' | 'unknown';

export interface ContainerLiveness {
  liveness: Liveness;
  /** Live processes carrying one of the container's sessions, plus its recorded init if alive. */
  pids: number[];
}

/**
 * A container lives while any process carries one of its sessions or its recorded init
 * (pid and start time) still runs. Without either (a procfs-path row from before start times
 * were kept) nobody can tell: 'unknown', never guessed as gone.
 */
export function containerLiveness(c: ContainerRecord, sessions: readonly number[], table: ProcessTable): ContainerLiveness {
  const pids = new Set<number>();
  if (sameProcess(c.initPid, c.initStart, table)) pids.add(c.initPid!);
  for (const s of sessions) for (const pid of table.bySession.get(s) ?? []) pids.add(pid);
  const liveness: Liveness = pids.size > 0 ? 'alive' : sessions.length > 0 || c.initStart !== null ? 'gone' : 'unknown';
  return { liveness, pids: [...pids] };
}

/**
 * What an orchestrator knows better than /proc (LXC's state, systemd's current invocation):
 * 'alive' or 'gone' settles it; undefined leaves the generic answer.
 */
export type LivenessProbe = (c: ContainerRecord, sessions: readonly number[], table: ProcessTable) => Liveness | undefined;

export const FOUND_GONE = 'found gone';

/**
 * Ends every open container whose processes are all gone (op=end reason="found gone"), through
 * the tagger so the audit trail records it. The registry (rows and their bindings) is read before /proc
 * is scanned: a container or binding registered after the scan is never judged against a table that predates it.
 */
export function reconcileLiveness(tagger: Tagger, probes: Readonly<Record<string, LivenessProbe>> = {}): ContainerRecord[] {
  const open = [...tagger.containers.list({ state: 'running' }), ...tagger.containers.list({ state: 'untagged' })].map((c) => ({
    c,
    sessions: tagger.boundSessions(c),
  }));
  if (open.length === 0) return [];
  const table = scanProcesses(tagger.procRoot);
  const ended: ContainerRecord[] = [];
  for (const { c, sessions } of open) {
    const verdict = probes[c.orchestrator]?.(c, sessions, table) ?? containerLiveness(c, sessions, table).liveness;
    if (verdict === 'gone') ended.push(tagger.end(c.contid, FOUND_GONE));
  }
  return ended;
}

export interface CapabilityHolder {
  container: ContainerRecord;
  pid: number;
}

/**
 * Open containers with a live process that holds CAP_AUDIT_CONTROL or can come to (heldCaps:
 * any of its capability sets): its recorded init (LXC's init, a unit's MAINPID) or any process
 * carrying one of its sessions. Such a process can renew its own session and leave the
 * container's identity.
 */
export function auditControlHolders(registry: ContainerQueries, procRoot = '/proc'): CapabilityHolder[] {
  return holders(registry, procRoot, (pid) => hasCap(CAP_AUDIT_CONTROL, heldCaps(pid, procRoot)));
}

/**
 * Open containers with a live process that can have the kernel start a program of its choosing
 * as host root (a usermode helper: `kernel.core_pattern`, `kernel.modprobe`, binfmt_misc), and
 * so leave its identity without CAP_AUDIT_CONTROL: CAP_SYS_ADMIN in any of its sets, in the
 * host's user namespace (uid 0 inside is uid 0 outside: a privileged container), with no
 * AppArmor confinement. It mounts a fresh procfs (LXC's `proc:mixed` makes only its own
 * /proc/sys read-only), sets `core_pattern` to a program in its root and crashes a process: the
 * kernel runs the program from kthreadd, in no audit session, whose loginuid it may then set
 * (outside attack 13, F8, measured on a privileged busybox LXC container). Containers that
 * also hold CAP_AUDIT_CONTROL are left to auditControlHolders.
 */
export function hostHelperHolders(registry: ContainerQueries, procRoot = '/proc'): CapabilityHolder[] {
  return holders(registry, procRoot, (pid) => {
    const caps = heldCaps(pid, procRoot);
    return hasCap(CAP_SYS_ADMIN, caps) && !hasCap(CAP_AUDIT_CONTROL, caps) && inHostUserNamespace(pid, procRoot) && !appArmorConfined(pid, procRoot);
  });
}

/** uid 0 of the process's user namespace is uid 0 of the host (the whole range mapped onto itself). */
export function inHostUserNamespace(pid: number, procRoot = '/proc'): boolean {
  return readFileSync(`${procRoot}/${pid}/uid_map`, 'utf8')
    .split('\n')
    .some((l) => /^\s*0\s+0\s+4294967295\s*$/.test(l));
}

/** Whether AppArmor enforces a profile on the process ("unconfined", complain mode or no AppArmor: not). */
export function appArmorConfined(pid: number, procRoot = '/proc'): boolean {
  let label: string;
  try {
    label = readFileSync(`${procRoot}/${pid}/attr/apparmor/current`, 'utf8').trim();
  } catch {
    return false; // no AppArmor in this kernel
  }
  return label !== '' && label !== 'unconfined' && !label.endsWith('(complain)') && !label.endsWith('(unconfined)');
}

/** Open containers with a live process `test` holds for (the first found is named). */
function holders(registry: ContainerQueries, procRoot: string, test: (pid: number) => boolean): CapabilityHolder[] {
  const open = [...registry.list({ state: 'running' }), ...registry.list({ state: 'untagged' })].map((c) => ({ c, sessions: boundSessions(registry, c) }));
  const table = scanProcesses(procRoot);
  const hostPidNs = readNamespaces('self', procRoot).pid;
  const found: CapabilityHolder[] = [];
  for (const { c, sessions } of open) {
    const pids = containerLiveness(c, sessions, table).pids;
    // Where the container has a pid namespace of its own, processes left in the host's
    // carrying its session are the orchestrator's helpers (LXC's monitor, lxc-attach, runc),
    // not the container; a plain process tree (contid exec, a unit) is all host processes.
    const inner = pids.filter((p) => readNamespaces(p, procRoot).pid !== hostPidNs);
    const pid = (inner.length ? inner : pids).find((p) => {
      try {
        return test(p);
      } catch {
        return false; // exited meanwhile
      }
    });
    if (pid !== undefined) found.push({ container: c, pid });
  }
  return found;
}
