import { closeSync, openSync, readSync } from 'node:fs';
import { ContainerId, formatContainerId } from '@contid/core/dist/container-id';
import { LifecycleRecord } from '@contid/core/dist/record-format';
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
 * the container, or its pid the init an op=untagged / op=update record names), or, for a
 * container contid never knew, from the host's LXC containers as they are now (RootNamer).
 *
 * No record names a namespace: Linux 6.18 logs no namespace inode for setns (by pidfd or
 * fd) or pivot_root, so the root directory is the finest tie the kernel gives. The init is
 * seen at its pivot_root, which it makes still running LXC's binary (exe=lxc-start), just
 * before it executes the container's init.
 */
export type EntryKind = 'attach' | 'start';

export interface UntaggedEntry {
  kind: EntryKind;
  /** null: a container contid never knew (no binding, no registry row). */
  contid: ContainerId | null;
  /** The container's name; null when nothing names the root (a container since destroyed). */
  name: string | null;
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

const ENTRY_NUMBERS = / syscall=(?:155|308|217|346) /;

/** LXC's programs whose processes pivot into a container's root (the init before its execve). */
const LXC_STARTERS = new Set(['lxc-start', 'lxc-autostart', 'lxc-execute']);
/** The key of contid's rules on LXC roots (packages/lxc entry-rules.ts): their entries are into LXC roots. */
const LXC_ROOT_KEY = 'contid-lxc-entry';

/** A raw field as the kernel wrote it, quotes stripped (a hex-encoded value is no plain path or key). */
const unquoted = (v: string | undefined): string => (v !== undefined && v.length >= 2 && v.startsWith('"') && v.endsWith('"') ? v.slice(1, -1) : '');
const num = (v: string | undefined): number | null => (v !== undefined && /^\d+$/.test(v) ? Number(v) : null);

export interface EntrySyscall {
  kind: EntryKind;
  pid: number;
  auid: number;
  session: number;
  /** The entry is into an LXC root for sure: made by LXC's starter, or recorded by contid's lxcpath rule. */
  lxc: boolean;
}

/** A successful setns / pivot_root SYSCALL record, taken apart; null for any other record. */
export function entrySyscall(rec: AuditRecord): EntrySyscall | null {
  // a plain search of the line first: tail asks this of every SYSCALL record it sends out
  if (rec.type !== 'SYSCALL' || !ENTRY_NUMBERS.test(rec.raw) || rec.fields.get('success') !== 'yes') return null;
  const kind = ENTRY_SYSCALLS[rec.fields.get('arch') ?? '']?.[rec.fields.get('syscall') ?? ''];
  const pid = num(rec.fields.get('pid'));
  const auid = num(rec.fields.get('auid'));
  const session = num(rec.fields.get('ses'));
  if (!kind || pid === null || auid === null || session === null) return null;
  const exe = unquoted(rec.fields.get('exe'));
  const lxc = (kind === 'start' && LXC_STARTERS.has(exe.slice(exe.lastIndexOf('/') + 1))) || unquoted(rec.fields.get('key')) === LXC_ROOT_KEY;
  return { kind, pid, auid, session, lxc };
}

/** The log file and position holding a global input offset. */
function locate(bases: readonly { file: string; base: number; size: number }[], offset: number): { file: string; at: number } | null {
  for (const b of bases) if (offset >= b.base && offset < b.base + b.size) return { file: b.file, at: offset - b.base };
  return null;
}

/** How far after a SYSCALL line its PATH records are looked for (an event's records are written together). */
const PATH_WINDOW = 16 << 10;

/** `DEV:INODE` of a PATH record of item 0; null for any other line. */
export function pathRoot(line: string): string | null {
  if (!/ item=0 /.test(line)) return null;
  const inode = / inode=(\d+) /.exec(line)?.[1];
  const dev = / dev=([0-9a-f]+:[0-9a-f]+) /.exec(line)?.[1];
  return inode && dev ? `${dev}:${inode}` : null;
}

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
  for (const line of buf.toString('latin1', 0, n).split('\n')) if (line.startsWith(head)) return pathRoot(line);
  return null;
}

/** The entry of an event (its SYSCALL and PATH item 0), for a live stream; null when it is none. */
export function eventEntry(records: readonly AuditRecord[]): { rec: AuditRecord; sys: EntrySyscall; root: string } | null {
  let found: { rec: AuditRecord; sys: EntrySyscall } | null = null;
  for (const r of records) {
    const sys = entrySyscall(r);
    if (sys) found = { rec: r, sys };
  }
  if (!found) return null;
  for (const r of records) {
    if (r.type !== 'PATH') continue;
    const root = pathRoot(r.raw);
    if (root) return { ...found, root };
  }
  return null;
}

/**
 * What the host knows of a root now: the LXC container whose rootfs it is, that container's
 * contid when contid knows it, and when its directory was made (`bornMs`, the inode's birth
 * time; null where the filesystem keeps none). Asked only for entries on this host's node.
 */
export type RootNamer = (root: string) => { name: string; contid: ContainerId | null; bornMs?: number | null } | null;

/** One entry as the judge sees it: `bound` is the container the entering session is bound to. */
export interface EntrySighting {
  rec: AuditRecord;
  sys: EntrySyscall;
  root: string;
  bound: ContainerId | null;
  /** The container an init record names for this pid (op=untagged / op=update), if any. */
  initOf: ContainerId | null;
}

/**
 * Decides, entry by entry in time order, which entries bypassed contid: one logic for search
 * (a whole log) and tail (a live stream). A root's owner is learned from the starts of
 * instances contid knows; a root no such start names is asked of the host (RootNamer); an
 * entry whose session is not bound to the owner is untagged.
 */
export class EntryJudge {
  /** The container a start through contid tied each root to, and when. */
  private readonly owners = new Map<string, { contid: ContainerId; sinceMs: number }>();
  /** Roots an LXC init pivoted into (by its starter's exe or contid's lxcpath rule), named or not. */
  private readonly lxcRoots = new Set<string>();

  constructor(
    private readonly attributor: Attributor,
    private readonly options: { rootNamer?: RootNamer; localNode?: string | null } = {},
  ) {}

  judge(s: EntrySighting): UntaggedEntry | null {
    const key = `${s.rec.node ?? ''} ${s.root}`;
    const at = s.rec.timeMs;
    if (s.sys.kind === 'start' && (s.bound ?? s.initOf) !== null) this.owners.set(key, { contid: (s.bound ?? s.initOf)!, sinceMs: at });
    const owner = this.owners.get(key);
    const host = this.hostName(s, at);
    let contid: ContainerId | null = null;
    let name: string | null = null;
    // the log's owner, unless the host's directory at this root was made since that start
    if (owner && !(host?.bornMs != null && host.bornMs > owner.sinceMs)) contid = owner.contid;
    else {
      if (s.sys.kind === 'start' && s.sys.lxc) this.lxcRoots.add(key);
      // an unnamed root is reported only when it surely is an LXC container's
      if (!host && !s.sys.lxc && !this.lxcRoots.has(key)) return null;
      contid = host?.contid ?? null;
      name = host?.name ?? null;
    }
    // through contid: the entering process's session is bound to this container
    if (contid !== null && s.bound !== null && s.bound === contid) return null;
    if (contid !== null) name = this.attributor.container(contid)?.name ?? name ?? formatContainerId(contid);
    const { kind, pid, auid, session } = s.sys;
    return { kind, contid, name, timeMs: at, node: s.rec.node, pid, auid, session, root: s.root };
  }

  /**
   * The host's container at this root now, when the entry is this host's and that directory
   * existed at the entry: a destroyed container's root inode is given to the next directory
   * made, so an entry older than the directory is into an earlier container, not this one.
   */
  private hostName(s: EntrySighting, at: number): ReturnType<RootNamer> {
    const local = s.rec.node === null || s.rec.node === (this.options.localNode ?? null);
    const named = local ? this.options.rootNamer?.(s.root) ?? null : null;
    // the record's stamp has milliseconds; the birth time has nanoseconds
    return named && named.bornMs != null && named.bornMs > at + 1 ? null : named;
  }
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
   * Entries that no binding of their container covers, oldest first, within [startMs, endMs]
   * when given: into the containers `selected` (contids as formatted), or, with `selected`
   * null, into any LXC container, known to contid or not.
   */
  untagged(
    attributor: Attributor,
    bases: readonly { file: string; base: number; size: number }[],
    selected: ReadonlySet<string> | null,
    range: { startMs?: number; endMs?: number } = {},
    judgeOptions: { rootNamer?: RootNamer; localNode?: string | null } = {},
  ): UntaggedEntry[] {
    const judge = new EntryJudge(attributor, judgeOptions);
    const seen = this.syscalls
      .map((rec) => ({ rec, root: entryRoot(bases, rec) }))
      .filter((e): e is { rec: AuditRecord; root: string } => e.root !== null)
      .sort((a, b) => a.rec.timeMs - b.rec.timeMs);
    const out: UntaggedEntry[] = [];
    for (const { rec, root } of seen) {
      const sys = entrySyscall(rec)!;
      const entry = judge.judge({
        rec,
        sys,
        root,
        bound: attributor.contidOfSession(sys.session, rec.offset, rec.node, rec.timeMs),
        initOf: sys.kind === 'start' ? this.initContid(rec.node, sys.pid, rec.timeMs) : null,
      });
      if (!entry) continue;
      if ((range.startMs !== undefined && rec.timeMs < range.startMs) || (range.endMs !== undefined && rec.timeMs > range.endMs)) continue;
      if (selected !== null && (entry.contid === null || !selected.has(formatContainerId(entry.contid)))) continue;
      out.push(entry);
    }
    return out;
  }
}

const UNSET = 4294967295;

/** How the report names the container: by name, "(unknown to contid)" when no binding or row knows it. */
function containerWords(e: UntaggedEntry): string {
  if (e.name === null) return `an LXC container unknown to contid (root ${e.root})`;
  return e.contid === null ? `${e.name} (unknown to contid)` : e.name;
}

/** One line for an investigator: who entered which container, when, and what to follow. */
export function describeUntaggedEntry(e: UntaggedEntry): string {
  const who = e.auid === UNSET ? 'auid unset' : `auid ${e.auid}`;
  const what = e.kind === 'attach' ? `untagged attach into ${containerWords(e)}` : `untagged start of ${containerWords(e)}`;
  const ses = e.session === UNSET ? 'no session' : `session ${e.session}`;
  const follow = e.session === UNSET ? `ausearch -p ${e.pid}` : `ausearch --session ${e.session}`;
  const id = e.contid !== null ? `; contid ${formatContainerId(e.contid)}` : '';
  return `${what} by ${who} at ${new Date(e.timeMs).toISOString()} (pid ${e.pid}, ${ses}${e.node !== null ? `, node ${e.node}` : ''}${id}): not through contid, so what it ran is not attributed to ${e.name ?? 'it'} (${follow})`;
}

/** The same entry as one JSON object (search --format json, tail's JSON formats). */
export function untaggedEntryJson(e: UntaggedEntry): string {
  return `${JSON.stringify({
    untagged_entry: {
      kind: e.kind,
      container: e.name,
      contid: e.contid === null ? null : formatContainerId(e.contid),
      known: e.contid !== null,
      time: new Date(e.timeMs).toISOString(),
      auid: e.auid === UNSET ? null : e.auid,
      session: e.session === UNSET ? null : e.session,
      pid: e.pid,
      node: e.node,
      root: e.root,
      message: describeUntaggedEntry(e),
    },
  })}\n`;
}
