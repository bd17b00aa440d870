import { closeSync, openSync, readSync } from 'node:fs';
import { ContainerId, LifecycleRecord, formatContainerId } from '@contid/core';
import type { Attributor } from './attributor';
import type { AuditRecord } from './record';

/**
 * Entries into a container that bypass contid: a process that joins a container's mount
 * namespace (setns: `lxc-attach`, `nsenter`) or a container init that pivots into its root
 * (pivot_root: a plain `lxc-start`), in a session no binding ties to that container.
 *
 * What the kernel logs (Linux 6.18, LXC 5.0.2, measured): lxc-attach joins with a pidfd
 * (`setns(pidfd, 0x6e020000)`), so no record names a namespace inode; but entering a mount
 * namespace looks up its root, and the event's PATH item 0 is that directory (name="/",
 * `dev=` and `inode=` of the container's rootfs). An init's pivot_root has the same directory
 * as PATH item 0 (name="."). So the root directory (dev:inode) is what ties an entry to a
 * container: learned from the pivot_root of an instance contid knows (its session bound to
 * the container, or its pid the init an op=untagged / op=update record names).
 */
export type EntryKind = 'attach' | 'start';

export interface UntaggedEntry {
  kind: EntryKind;
  contid: ContainerId;
  name: string;
  timeMs: number;
  node: string | null;
  pid: number;
  auid: number;
  session: number;
  /** The root directory entered, `DEV:INODE` as the PATH record spells it. */
  root: string;
}

/** The arch and syscall numbers of setns / pivot_root (x86_64 and i386). */
const ENTRY_SYSCALLS: Record<string, Record<string, EntryKind>> = {
  c000003e: { '308': 'attach', '155': 'start' },
  '40000003': { '346': 'attach', '217': 'start' },
};

const num = (v: string | undefined): number | null => (v !== undefined && /^\d+$/.test(v) ? Number(v) : null);

/** A successful setns / pivot_root SYSCALL record, taken apart; null for any other record. */
export function entrySyscall(rec: AuditRecord): { kind: EntryKind; pid: number; auid: number; session: number } | null {
  if (rec.type !== 'SYSCALL' || rec.fields.get('success') !== 'yes') return null;
  const kind = ENTRY_SYSCALLS[rec.fields.get('arch') ?? '']?.[rec.fields.get('syscall') ?? ''];
  const pid = num(rec.fields.get('pid'));
  const auid = num(rec.fields.get('auid'));
  const session = num(rec.fields.get('ses'));
  if (!kind || pid === null || auid === null || session === null) return null;
  return { kind, pid, auid, session };
}

/** The log file and position holding a global input offset. */
function locate(bases: readonly { file: string; base: number; size: number }[], offset: number): { file: string; at: number } | null {
  for (const b of bases) if (offset >= b.base && offset < b.base + b.size) return { file: b.file, at: offset - b.base };
  return null;
}

/** How far after a SYSCALL line its PATH records are looked for (an event's records are written together). */
const PATH_WINDOW = 16 << 10;

/**
 * PATH item 0 of the SYSCALL record's event, as `DEV:INODE`: read from the log just after the
 * SYSCALL line, so the first pass needs to decode only the rare SYSCALL lines.
 */
export function entryRoot(bases: readonly { file: string; base: number; size: number }[], rec: AuditRecord): string | null {
  const stamp = /msg=audit\([^)]*\)/.exec(rec.raw)?.[0];
  const where = locate(bases, rec.offset);
  if (!stamp || !where) return null;
  const head = `${rec.node !== null ? `node=${rec.node} ` : ''}type=PATH ${stamp}`;
  const buf = Buffer.alloc(PATH_WINDOW);
  const fd = openSync(where.file, 'r');
  let n: number;
  try {
    n = readSync(fd, buf, 0, PATH_WINDOW, where.at);
  } finally {
    closeSync(fd);
  }
  for (const line of buf.toString('latin1', 0, n).split('\n')) {
    if (!line.startsWith(head) || !/ item=0 /.test(line)) continue;
    const inode = / inode=(\d+) /.exec(line)?.[1];
    const dev = / dev=([0-9a-f]+:[0-9a-f]+) /.exec(line)?.[1];
    return inode && dev ? `${dev}:${inode}` : null;
  }
  return null;
}

/** Collects what the search's first pass sees of entries and of trusted lifecycle records. */
export class EntryWitness {
  private readonly syscalls: AuditRecord[] = [];
  /** op=untagged / op=update: `vm-pid` is the container's own init. */
  private readonly inits: { node: string | null; pid: number; contid: ContainerId; timeMs: number }[] = [];

  /** For SearchOptions.onEntryRecord. */
  readonly onEntryRecord = (rec: AuditRecord): void => {
    if (entrySyscall(rec)) this.syscalls.push(rec);
  };

  /** For AttributorOptions.onTrustedBinding. */
  readonly onTrustedBinding = (rec: AuditRecord, life: LifecycleRecord): void => {
    if ((life.op === 'untagged' || life.op === 'update') && life.pid !== null && life.contid !== null) {
      this.inits.push({ node: rec.node, pid: life.pid, contid: life.contid, timeMs: rec.timeMs });
    }
  };

  /** The init record written for `pid` soon after its pivot_root (pids are reused: nearest in time). */
  private initContid(node: string | null, pid: number, timeMs: number): ContainerId | null {
    let best: { contid: ContainerId; timeMs: number } | null = null;
    for (const i of this.inits) {
      if (i.node !== node || i.pid !== pid || i.timeMs < timeMs - 1000 || i.timeMs > timeMs + 60_000) continue;
      if (!best || i.timeMs < best.timeMs) best = i;
    }
    return best?.contid ?? null;
  }

  /**
   * Entries into the containers `selected` (contids as formatted) that no binding of theirs
   * covers, oldest first, within [startMs, endMs] when given.
   */
  untagged(
    attributor: Attributor,
    bases: readonly { file: string; base: number; size: number }[],
    selected: ReadonlySet<string>,
    range: { startMs?: number; endMs?: number } = {},
  ): UntaggedEntry[] {
    const seen = this.syscalls
      .map((rec) => ({ rec, sys: entrySyscall(rec)!, root: entryRoot(bases, rec) }))
      .filter((e): e is { rec: AuditRecord; sys: NonNullable<ReturnType<typeof entrySyscall>>; root: string } => e.root !== null)
      .map((e) => ({ ...e, bound: attributor.contidOfSession(e.sys.session, e.rec.offset, e.rec.node, e.rec.timeMs) }))
      .sort((a, b) => a.rec.timeMs - b.rec.timeMs);
    // Which container each root belongs to, from the starts of instances contid knows.
    const owners: { key: string; contid: ContainerId; timeMs: number }[] = [];
    const starts = new Map<AuditRecord, ContainerId>();
    for (const e of seen) {
      if (e.sys.kind !== 'start') continue;
      const contid = e.bound ?? this.initContid(e.rec.node, e.sys.pid, e.rec.timeMs);
      if (contid === null) continue;
      owners.push({ key: `${e.rec.node ?? ''} ${e.root}`, contid, timeMs: e.rec.timeMs });
      starts.set(e.rec, contid);
    }
    const ownerAt = (key: string, timeMs: number): ContainerId | null => {
      let found: ContainerId | null = null;
      for (const o of owners) if (o.key === key && o.timeMs <= timeMs) found = o.contid;
      return found;
    };
    const out: UntaggedEntry[] = [];
    for (const e of seen) {
      if ((range.startMs !== undefined && e.rec.timeMs < range.startMs) || (range.endMs !== undefined && e.rec.timeMs > range.endMs)) continue;
      const contid = starts.get(e.rec) ?? ownerAt(`${e.rec.node ?? ''} ${e.root}`, e.rec.timeMs);
      if (contid === null || !selected.has(formatContainerId(contid))) continue;
      // through contid: the entering process's session is bound to this container
      if (e.bound !== null && e.bound === contid) continue;
      const c = attributor.container(contid);
      out.push({ kind: e.sys.kind, contid, name: c?.name ?? formatContainerId(contid), timeMs: e.rec.timeMs, node: e.rec.node, pid: e.sys.pid, auid: e.sys.auid, session: e.sys.session, root: e.root });
    }
    return out;
  }
}

const UNSET = 4294967295;

/** One line for an investigator: who entered which container, when, and what to follow. */
export function describeUntaggedEntry(e: UntaggedEntry): string {
  const who = e.auid === UNSET ? 'auid unset' : `auid ${e.auid}`;
  const what = e.kind === 'attach' ? `untagged attach into ${e.name}` : `untagged start of ${e.name}`;
  const ses = e.session === UNSET ? 'no session' : `session ${e.session}`;
  const follow = e.session === UNSET ? `ausearch -p ${e.pid}` : `ausearch --session ${e.session}`;
  return `${what} by ${who} at ${new Date(e.timeMs).toISOString()} (pid ${e.pid}, ${ses}${e.node !== null ? `, node ${e.node}` : ''}; contid ${formatContainerId(e.contid)}): not through contid, so what it ran is not attributed to ${e.name} (${follow})`;
}
