import type { EventItem } from './summary';

/** What the page's timeline draws, in columns (compact for 100,000 events). */
export interface TimelineData {
  t0: number;
  /** Per event: ms after t0, lane, kind (index into KINDS), and index into `strings` for exe and syscall. */
  t: number[];
  lane: number[];
  kind: number[];
  exe: number[];
  syscall: number[];
  pid: (number | null)[];
  serial: number[];
  success: (boolean | null)[];
  /** Lanes top to bottom: a process (pid and what it ran) at its depth in the process tree. */
  lanes: { label: string; depth: number }[];
  strings: string[];
}

export const KINDS: readonly EventItem['kind'][] = ['exec', 'file', 'network', 'failed', 'anomaly', 'other'];
/** Over this many processes, lanes become whole process trees (each root with its descendants). */
const MAX_PROCESS_LANES = 400;

/**
 * Lanes from the events' pid/ppid: processes in depth-first order of the process tree, so a
 * child sits under its parent; many processes collapse into one lane per tree.
 */
export function timelineData(events: EventItem[]): TimelineData {
  const strings: string[] = [];
  const stringIndex = new Map<string, number>();
  const intern = (s: string | null): number => {
    if (s === null) return -1;
    let i = stringIndex.get(s);
    if (i === undefined) {
      i = strings.length;
      strings.push(s);
      stringIndex.set(s, i);
    }
    return i;
  };
  const parentOf = new Map<number, number | null>();
  const firstExe = new Map<number, string | null>();
  for (const e of events) {
    if (e.pid === null) continue;
    if (!parentOf.has(e.pid) || parentOf.get(e.pid) === null) parentOf.set(e.pid, e.ppid);
    if (!firstExe.has(e.pid) || (e.kind === 'exec' && firstExe.get(e.pid) === null)) firstExe.set(e.pid, e.exe);
  }
  const children = new Map<number | null, number[]>();
  for (const [pid, ppid] of parentOf) {
    const parent = ppid !== null && parentOf.has(ppid) && ppid !== pid ? ppid : null;
    const list = children.get(parent) ?? [];
    list.push(pid);
    children.set(parent, list);
  }
  // depth-first, iteratively (a long chain of forks must not overflow the stack)
  const order: { pid: number; depth: number; root: number }[] = [];
  const visited = new Set<number>();
  const stack: { pid: number; depth: number; root: number }[] = (children.get(null) ?? []).sort((a, b) => b - a).map((pid) => ({ pid, depth: 0, root: pid }));
  while (stack.length > 0) {
    const n = stack.pop()!;
    if (visited.has(n.pid)) continue;
    visited.add(n.pid);
    order.push(n);
    for (const c of (children.get(n.pid) ?? []).sort((a, b) => b - a)) stack.push({ pid: c, depth: n.depth + 1, root: n.root });
  }
  // processes in a cycle of pid reuse have no root: each becomes a root of its own
  for (const pid of parentOf.keys()) if (!visited.has(pid)) order.push({ pid, depth: 0, root: pid });
  const byTree = order.length > MAX_PROCESS_LANES;
  const laneOf = new Map<number, number>();
  const lanes: TimelineData['lanes'] = [];
  for (const n of order) {
    if (byTree && n.depth > 0) {
      laneOf.set(n.pid, laneOf.get(n.root)!);
      continue;
    }
    laneOf.set(n.pid, lanes.length);
    const exe = firstExe.get(n.pid);
    lanes.push({ label: `${byTree ? 'tree ' : ''}${n.pid} ${exe ?? ''}`.trim(), depth: byTree ? 0 : n.depth });
  }
  const noPid = lanes.length;
  if (events.some((e) => e.pid === null)) lanes.push({ label: '(no process)', depth: 0 });
  const t0 = events.length > 0 ? events[0].timeMs : 0;
  const data: TimelineData = { t0, t: [], lane: [], kind: [], exe: [], syscall: [], pid: [], serial: [], success: [], lanes, strings };
  for (const e of events) {
    data.t.push(e.timeMs - t0);
    data.lane.push(e.pid === null ? noPid : laneOf.get(e.pid)!);
    data.kind.push(KINDS.indexOf(e.kind));
    data.exe.push(intern(e.exe));
    data.syscall.push(intern(e.syscall));
    data.pid.push(e.pid);
    data.serial.push(e.serial);
    data.success.push(e.success);
  }
  return data;
}
