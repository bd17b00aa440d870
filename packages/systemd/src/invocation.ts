import { readFileSync } from 'node:fs';
import { ContidError, escapeText } from '@contid/core';

/** What systemd tells a process it starts: which unit, which run of it, which cgroup. */
export interface Invocation {
  /** systemd's 128-bit id of this start of the unit; new on every start and restart. */
  invocationId: string;
  /** Full unit name, e.g. `web.service` or `systemd-nspawn@box.service`. */
  unit: string;
  /** The unit's cgroup path as the caller sees it (`/system.slice/web.service`). */
  cgroup: string;
}

const UNIT_SUFFIX = /\.(service|scope|socket|mount|swap|timer|path|slice|target|device|automount)$/;

/**
 * Reads the invocation from what systemd gives every Exec*= process: $INVOCATION_ID and the
 * cgroup it placed the process in. `unit` overrides the name (drop-ins pass `%n`, exact even
 * after a Delegate=yes payload moved itself into a sub-cgroup).
 */
export function currentInvocation(env: NodeJS.ProcessEnv = process.env, unit?: string, procRoot = '/proc'): Invocation {
  const invocationId = env.INVOCATION_ID;
  if (!invocationId) {
    throw new ContidError('$INVOCATION_ID is not set: run this from a systemd unit (ExecStart=, ExecStartPost=, ExecStopPost=)', 2);
  }
  const cgroup = ownCgroup(procRoot);
  const name = unit ?? unitOfCgroup(cgroup);
  if (!name) throw new ContidError(`cannot tell the unit from cgroup "${cgroup}"; pass --unit %n`, 2);
  return checkedInvocation(invocationId, name, cgroup);
}

/** An invocation whose id and unit name are what systemd gives (refused otherwise, exit 2). */
export function checkedInvocation(invocationId: string, unit: string, cgroup: string): Invocation {
  if (!/^[0-9a-f]{32}$/.test(invocationId)) throw new ContidError(`$INVOCATION_ID is not a systemd invocation id: "${invocationId}"`, 2);
  if (!UNIT_SUFFIX.test(unit) || /[\s/]/.test(unit)) throw new ContidError(`"${unit}" is not a systemd unit name`, 2);
  return { invocationId, unit, cgroup };
}

function ownCgroup(procRoot: string): string {
  return cgroupOf('self', procRoot);
}

/** The cgroup v2 path of a process (`0::/…`), or the name=systemd v1 one. */
function cgroupOf(pid: number | 'self', procRoot: string): string {
  const lines = readFileSync(`${procRoot}/${pid}/cgroup`, 'utf8').split('\n');
  const line = lines.find((l) => l.startsWith('0::')) ?? lines.find((l) => l.includes(':name=systemd:'));
  return line ? line.slice(line.indexOf(':', line.indexOf(':') + 1) + 1) : '';
}

/**
 * $MAINPID is a process of the invocation's unit: its cgroup or one below it (Delegate=).
 * systemd lets a unit's own Environment= set $MAINPID (as $INVOCATION_ID) to any pid, and
 * binding that pid's session would give the unit another process's session — an
 * administrator's login, another unit's. The unit's cgroup is the binder's own, as systemd
 * placed it (a delegated unit's control processes run in its `.control` sub-cgroup).
 */
export function checkUnitProcess(pid: number, inv: Invocation, procRoot = '/proc'): void {
  let cgroup: string;
  try {
    cgroup = cgroupOf(pid, procRoot);
  } catch {
    throw new ContidError(`$MAINPID ${pid} of ${escapeText(inv.unit)} is gone`);
  }
  if (!inUnitCgroup(cgroup, inv)) {
    throw new ContidError(`$MAINPID ${pid} is not a process of ${escapeText(inv.unit)} (cgroup ${escapeText(cgroup)}, not in ${escapeText(unitCgroupOf(inv))}); not binding its session`);
  }
}

/** The unit's own cgroup, from the binder's (a delegated unit's control processes run in `.control`). */
export const unitCgroupOf = (inv: Invocation): string => inv.cgroup.replace(/\/\.control$/, '');

/** Whether a cgroup path is the invocation unit's cgroup or one below it (Delegate=). */
export function inUnitCgroup(cgroup: string, inv: Invocation): boolean {
  const unitCgroup = unitCgroupOf(inv);
  return unitCgroup !== '' && (cgroup === unitCgroup || cgroup.startsWith(`${unitCgroup}/`));
}

/** The innermost unit in a cgroup path: `/system.slice/a.service/payload` → `a.service`. */
export function unitOfCgroup(cgroup: string): string | undefined {
  return cgroup
    .split('/')
    .reverse()
    .find((part) => UNIT_SUFFIX.test(part) && !part.endsWith('.slice'));
}

/** Integer from $MAINPID (set by systemd for ExecStartPost=, ExecReload=, ExecStop=). */
export function mainPidFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  const text = env.MAINPID;
  if (!text) throw new ContidError('$MAINPID is not set: `contid systemd bind` belongs in ExecStartPost= of a unit with a main process', 2);
  if (!/^[1-9][0-9]*$/.test(text)) throw new ContidError(`$MAINPID is not a pid: "${text}"`, 2);
  return Number(text);
}

/** Why the unit stopped, from what systemd passes to ExecStopPost=. */
export function stopReason(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const parts = [
    ['service-result', env.SERVICE_RESULT],
    ['exit-code', env.EXIT_CODE],
    ['exit-status', env.EXIT_STATUS],
  ].filter(([, v]) => v);
  return parts.length ? parts.map(([k, v]) => `${k}:${v}`).join(',') : undefined;
}
