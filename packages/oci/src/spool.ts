import { chmodSync, readFileSync, readdirSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ContidError, makeDirectory } from '@contid/core';

/**
 * What the tagging step (integrations/bin/contid-tag.sh) learned: a new container (create), a
 * process entering one (setns), an OCI delete (end), or a failure under fail-open (fail); and
 * from an orchestrator's own hook (contid-lxc's start-host), the init of the container whose
 * session the hook runs in (init).
 */
export type SpoolOp = 'create' | 'setns' | 'end' | 'fail' | 'init';

/** One hand-off from contid-runc or contid-spawn, as written in the spool (grammar: SPOOL.md). */
export interface SpoolEntry {
  /** File name in the spool: unique, and sorts by the session it carries. */
  name: string;
  /** Grammar version (0: written by a shim older than the version line). */
  version: number;
  op: SpoolOp;
  /** The runtime subcommand (create, run, exec, delete), or `spawn`. */
  subcommand: string;
  /** The OCI runtime's container id (empty when the shim refused it). */
  id: string;
  /** contid-spawn: the orchestrator and name the caller gave; null from the OCI shim. */
  orchestrator: string | null;
  containerName: string | null;
  /** contid-spawn --setns: the container (contid or name) the process enters. */
  setns: string | null;
  bundle: string;
  pidFile: string | null;
  processFile: string | null;
  /** The writer's pid, which became the runtime's or the command's (exec keeps the pid). */
  wrapperPid: number;
  /** The session the writer renewed (equal to oldSession on failure). */
  session: number | null;
  oldSession: number | null;
  /** The login uid the writer kept (the caller's own). */
  auid: number | null;
  /** Milliseconds since the epoch, when the entry was written (the file's mtime). */
  time: number;
  /**
   * op=end: the container's init pid from the runtime's state at the delete, written when a
   * create was still waiting in the spool (its pid file may be gone by the time it is read);
   * null when the runtime had no state for the id (nothing was started) or it was not read.
   */
  initPid: number | null;
  /** Why tagging failed (op=fail, fail-open). */
  reason: string | null;
  /** Who asked for it, as `contid docker front` noted it from the kernel (null: nobody noted, or contested). */
  requester: SpoolRequester | null;
  /** A run dockerd made on its own of a container someone else changed since its last start (`requester-by=contested`): nobody's alone. */
  contested: SpoolContest | null;
  /** The bundle's config.json as the shim copied it (text: it may be malformed). */
  configText: string | null;
  /** runc exec's process.json as the shim copied it. */
  processText: string | null;
  /**
   * op=create from contid-runc: the command line of the process that ran the runtime (Podman's
   * conmon, containerd's shim), read by the shim while that process waited for it; its first
   * 4096 bytes, whole arguments only (one the limit cut is left out). Null when not written or unreadable.
   */
  callerArgv: string[] | null;
  /** Every field as written, for an adapter's own (an init entry's pid, init-session, init-start …). */
  fields: Readonly<Record<string, string>>;
}

/** The API client that asked for a container or exec: its uid, login uid, session, pid and executable. */
export interface SpoolRequester {
  uid: number;
  auid: number;
  session: number | null;
  pid: number | null;
  exe: string | null;
  /**
   * No client asked for this run: dockerd made it on its own (a restart policy's run, a
   * healthcheck probe; or root on dockerd's own socket) for the container this requester last
   * started, whose note the shim took (`requester-by=dockerd`).
   */
  byDockerd?: true;
}

/** One change of a container since its last start (the front's `changed=` note lines): what, and who made it. */
export interface SpoolChange {
  what: string;
  uid: number;
  auid: number;
  session: number | null;
  pid: number | null;
  exe: string | null;
}

/**
 * A run dockerd made on its own (a probe, a restart policy's run) of a container that someone
 * other than its last starter changed since that start (`docker cp`, `docker update`, an exec,
 * an attach with stdin): it ran with dockerd's own auid, and these are everyone who may have
 * decided what it ran — the last starter and each change, in order.
 */
export interface SpoolContest {
  lastStarter: SpoolRequester;
  changedBy: SpoolChange[];
}

function starterOf(fields: Map<string, string>): SpoolRequester | null {
  const uid = num(fields.get('requester-uid'));
  const auid = num(fields.get('requester-auid'));
  if (uid === null || auid === null) return null;
  return { uid, auid, session: num(fields.get('requester-session')), pid: num(fields.get('requester-pid')), exe: fields.get('requester-exe') || null };
}

function requesterOf(fields: Map<string, string>): SpoolRequester | null {
  const by = fields.get('requester-by');
  const starter = by === 'contested' ? null : starterOf(fields);
  return starter && (by === 'dockerd' ? { ...starter, byDockerd: true } : starter);
}

/** `requester-changes`: `WHAT,UID,AUID,SESSION,PID,EXE` entries separated by spaces (an exe is escaped to one word). */
export function parseChanges(text: string): SpoolChange[] {
  return text
    .split(' ')
    .filter(Boolean)
    .flatMap((c) => {
      const [what, uid, auid, session, pid, ...exe] = c.split(',');
      const [u, a] = [num(uid), num(auid)];
      return what && u !== null && a !== null ? [{ what, uid: u, auid: a, session: num(session), pid: num(pid), exe: exe.join(',') || null }] : [];
    });
}

function contestOf(fields: Map<string, string>): SpoolContest | null {
  const lastStarter = fields.get('requester-by') === 'contested' ? starterOf(fields) : null;
  return lastStarter && { lastStarter, changedBy: parseChanges(fields.get('requester-changes') ?? '') };
}

export const SPOOL_VERSION = 1;
const VERSION_LINE = /^contid-spool (\d+)\n/;
const SECTION = /^--- ([a-z.]+)\n/m;
const END = '--- end\n';
/**
 * Within one session, the order things happen to a container: its create (or failed create),
 * its init reported by a hook run in the same session, then its end (a post-stop hook runs in
 * the session too). Sessions order everything else.
 */
const OPS: readonly string[] = ['create', 'fail', 'init', 'setns', 'end'];
const opOf = (name: string): number => OPS.indexOf(/^\d+-([a-z]+)-/.exec(name)?.[1] ?? '');

export const DEFAULT_SPOOL_DIR = '/var/lib/contid/spool';

/** `.claimed-PID-NAME`: an entry a consumer (pid PID) is processing. */
const CLAIM = /^\.claimed-(\d+)-(.+\.entry)$/;
/**
 * `.writing-SESSION-OP-PID.entry`: where shims of afeaca2 to b6ef0a8 wrote an entry in pieces
 * before renaming it into place whole; today's write in place (integrations/bin/contid-tag.sh).
 */
const WRITING = /^\.writing-(\d+-[a-z]+-(\d+)\.entry)$/;

/** The pid an entry's name ends with: its writer's, which became the runtime's or the command's. */
export function entryWriter(name: string): number | null {
  const pid = /-(\d+)\.entry$/.exec(name)?.[1];
  return pid === undefined ? null : Number(pid);
}

/** The session number an entry's name starts with: the spool's order. */
export function entrySession(name: string): number {
  return Number(/^\d+/.exec(name)?.[0] ?? 0);
}

const byEntryOrder = (a: string, b: string) => entrySession(a) - entrySession(b) || opOf(a) - opOf(b) || (a < b ? -1 : a > b ? 1 : 0);

/** A live process (a zombie, killed but not yet reaped by its parent, is not). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    return !/^\d+ \(.*\) Z /s.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/** The spool the shim writes to: same defaults and variables as the shim itself. */
export function spoolDirFromEnv(env: NodeJS.ProcessEnv = process.env): string {
  return env.CONTID_SPOOL_DIR || join(env.CONTID_STATE_DIR || '/var/lib/contid', 'spool');
}

/** An entry whose writer has not yet written its last line (or died while writing). */
export class IncompleteEntryError extends ContidError {
  override name = 'IncompleteEntryError';
}

function num(v: string | undefined): number | null {
  return v !== undefined && /^\d+$/.test(v) ? Number(v) : null;
}

/**
 * Parses an entry: `contid-spool 1`, `key=value` lines, `--- LABEL` sections (copied files),
 * `--- end`. Version 0 (no version line, no terminator) is what shims before the version line
 * wrote through a temp name and a rename; it is still read, so an upgrade loses nothing.
 */
export function parseSpoolEntry(name: string, text: string, mtimeMs = 0): SpoolEntry {
  const versioned = VERSION_LINE.exec(text);
  // An empty file or a partial first line is a version-1 entry its writer has only begun.
  if (!versioned && (text.startsWith('contid-spool') || 'contid-spool'.startsWith(text) || !text.includes('\n'))) {
    throw new IncompleteEntryError(`spool entry ${name} is incomplete (no version line yet)`);
  }
  const version = versioned ? Number(versioned[1]) : 0;
  if (version > SPOOL_VERSION) throw new ContidError(`spool entry ${name}: grammar version ${version} is newer than this contid (${SPOOL_VERSION})`);
  let body = versioned ? text.slice(versioned[0].length) : text;
  if (version >= 1) {
    if (!body.endsWith(END)) throw new IncompleteEntryError(`spool entry ${name} is incomplete (no "--- end" line)`);
    body = body.slice(0, -END.length);
  }
  const first = SECTION.exec(body);
  const head = first ? body.slice(0, first.index) : body;
  const fields = new Map<string, string>();
  for (const line of head.split('\n')) {
    if (line === '') continue;
    const eq = line.indexOf('=');
    if (eq <= 0) throw new ContidError(`spool entry ${name}: malformed line "${line.slice(0, 80)}"`);
    const key = line.slice(0, eq);
    if (fields.has(key)) throw new ContidError(`spool entry ${name}: field ${key} given twice`);
    fields.set(key, line.slice(eq + 1));
  }
  const sections: Record<string, string> = {};
  if (first) {
    const parts = body.slice(first.index).split(/^--- ([a-z.]+)\n/m);
    // Each copied file is followed by the newline the writer added after it.
    for (let i = 1; i + 1 < parts.length; i += 2) sections[parts[i]] = parts[i + 1].replace(/\n$/, '');
  }
  const op = fields.get('op');
  if (op === undefined || !OPS.includes(op)) throw new ContidError(`spool entry ${name}: bad op "${op ?? ''}"`);
  return {
    name,
    version,
    op: op as SpoolOp,
    subcommand: fields.get('subcommand') ?? '',
    id: fields.get('id') ?? '',
    orchestrator: fields.get('orchestrator') || null,
    containerName: fields.get('name') || null,
    setns: fields.get('setns') || null,
    bundle: fields.get('bundle') ?? '',
    pidFile: fields.get('pidfile') || null,
    processFile: fields.get('process') || null,
    wrapperPid: num(fields.get('wrapper-pid')) ?? 0,
    session: num(fields.get('session')),
    oldSession: num(fields.get('old-session')),
    auid: num(fields.get('auid')),
    time: mtimeMs,
    initPid: num(fields.get('init-pid')),
    reason: fields.get('reason') || null,
    requester: requesterOf(fields),
    contested: contestOf(fields),
    configText: sections['config.json'] ?? null,
    processText: sections['process.json'] ?? null,
    callerArgv: argvOfHex(fields.get('caller-cmdline')),
    fields: Object.fromEntries(fields),
  };
}

/** The most of its caller's command line the shim writes (contid-runc, both forms). */
const CALLER_CMDLINE_BYTES = 4096;

/**
 * A /proc/PID/cmdline the shim wrote in hex (NUL-separated arguments): its whole arguments, else
 * null. Each argument ends with a NUL; one the shim's limit cut is left out, as a name cut short
 * would be another name (`web-1-canary` read as `web-1`: attack33).
 */
function argvOfHex(hex: string | undefined): string[] | null {
  if (!hex || hex.length % 2 !== 0 || !/^[0-9a-f]+$/.test(hex)) return null;
  const bytes = Buffer.from(hex, 'hex');
  const argv = bytes.toString('utf8').split('\0');
  const last = argv.pop();
  // Shorter than the limit, the last piece is whole even without its NUL (a process that rewrote its arguments).
  if (last && bytes.length < CALLER_CMDLINE_BYTES) argv.push(last);
  return argv;
}

/** The root-only directory of hand-offs between the tagging step and `contid serve`. */
export class Spool {
  /**
   * Complete entries already parsed, by file name, with the file's identity when read: a
   * complete entry never changes, and one waiting for its runtime is looked at on every pass
   * (a config.json section is 10–20 KB to read and split each time).
   */
  private readonly parsed = new Map<string, { ino: number; size: number; mtimeMs: number; entry: SpoolEntry }>();

  constructor(readonly dir: string) {}

  /** Creates the spool root-only (the entries hold config.json and exec environments). */
  prepare(): void {
    // makeDirectory: no loop on paths under /proc, and no directory someone else could swap.
    makeDirectory(this.dir, 0o700);
    try {
      if ((statSync(this.dir).mode & 0o077) !== 0) chmodSync(this.dir, 0o700);
    } catch (e) {
      throw new ContidError(`spool ${this.dir} is not usable: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  }

  /** The spool directory's file names as they are now (entries, claims, failed/), unordered. */
  list(): string[] {
    try {
      return readdirSync(this.dir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw new ContidError(`cannot read spool ${this.dir}: ${(e as NodeJS.ErrnoException).code}`);
    }
  }

  /** Unclaimed entries, oldest session first (the kernel's session counter orders them); of `files` when given (a list() just taken). */
  names(files: readonly string[] = this.list()): string[] {
    return files
      .filter((n) => n.endsWith('.entry') && !n.startsWith('.'))
      .sort(byEntryOrder);
  }

  /** Every entry not yet done, claimed ones too (by their own names), oldest first. */
  pendingNames(): string[] {
    return this.list()
      .map((n) => (n.startsWith('.') ? CLAIM.exec(n)?.[2] ?? '' : n))
      .filter((n) => n.endsWith('.entry'))
      .sort(byEntryOrder);
  }

  /**
   * The runtime ids named by every entry not yet done, claimed ones too: a consumer will bind or
   * end those containers, so whoever judges their liveness meanwhile leaves them to it. An entry
   * still being written names none yet.
   */
  waitingIds(): Set<string> {
    const ids = new Set<string>();
    for (const file of this.list()) {
      const name = file.startsWith('.') ? CLAIM.exec(file)?.[2] : file;
      if (!name?.endsWith('.entry')) continue;
      try {
        const id = this.read(name, file)?.id;
        if (id) ids.add(id);
      } catch {
        // being written, or done meanwhile
      }
    }
    return ids;
  }

  /**
   * Moves to failed/ the entries an older shim's writer died before renaming into place (their
   * temporary `.writing-` name, their writer's pid gone): never dropped silently, never bound.
   */
  quarantineAbandoned(files: readonly string[] = this.list()): string[] {
    const done: string[] = [];
    for (const f of files) {
      const m = WRITING.exec(f);
      if (!m || alive(Number(m[2]))) continue;
      try {
        this.quarantine(m[1]!, `its writer (pid ${m[2]}) exited before the entry was complete`, f);
        done.push(m[1]!);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      }
    }
    return done;
  }

  /** Takes an entry for this process (an atomic rename); null when another consumer took it first. */
  claim(name: string): string | null {
    const claimed = `.claimed-${process.pid}-${name}`;
    try {
      renameSync(join(this.dir, name), join(this.dir, claimed));
      return claimed;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw e;
    }
  }

  /** Gives a claimed entry back (it waits for a later pass). */
  release(claimed: string): void {
    const m = CLAIM.exec(claimed);
    if (m) renameSync(join(this.dir, claimed), join(this.dir, m[2]));
  }

  /**
   * Gives back the claims of consumers that died (kill -9 between claim and commit); with
   * `own`, this process's claims too (before its first pass, when none can be in flight).
   */
  recoverClaims(own = false, files: readonly string[] = this.list()): number {
    let n = 0;
    for (const f of files) {
      const m = CLAIM.exec(f);
      if (!m) continue;
      const pid = Number(m[1]);
      if (pid === process.pid ? !own : alive(pid)) continue;
      try {
        renameSync(join(this.dir, f), join(this.dir, m[2]));
        n++;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      }
    }
    return n;
  }

  /**
   * The entry named `name`, read from `file` (its claimed name), or null when it is gone;
   * throws IncompleteEntryError while it is being written.
   */
  read(name: string, file = name): SpoolEntry | null {
    let text: string;
    let st: { ino: number; size: number; mtimeMs: number };
    try {
      st = statSync(join(this.dir, file));
      const known = this.parsed.get(file);
      if (known && known.entry.name === name && known.ino === st.ino && known.size === st.size && known.mtimeMs === st.mtimeMs) return known.entry;
      text = readFileSync(join(this.dir, file), 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw e;
    }
    const entry = parseSpoolEntry(name, text, st.mtimeMs);
    // Only a complete entry is kept (an incomplete one threw above), so a later write is never hidden.
    if (this.parsed.size >= 256) this.parsed.clear();
    this.parsed.set(file, { ino: st.ino, size: st.size, mtimeMs: st.mtimeMs, entry });
    return entry;
  }

  /**
   * Whether the writer of an entry (its pid is in the entry's name) still runs. It execs the
   * runtime or the command once the entry is complete, so a writer gone while its entry lacks
   * its last line died mid-write.
   */
  writerAlive(name: string): boolean {
    const writer = entryWriter(name);
    return writer !== null && alive(writer);
  }

  /** When the entry was last written (ms), or null when it is gone. */
  mtime(name: string): number | null {
    try {
      return statSync(join(this.dir, name)).mtimeMs;
    } catch {
      return null;
    }
  }

  /** Called only after the entry's registry transaction committed. */
  remove(name: string): void {
    this.forget(name);
    try {
      unlinkSync(join(this.dir, name));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
  }

  /** Drops what was parsed of an entry that is done, read by its own name or its claimed one. */
  private forget(file: string): void {
    this.parsed.delete(file);
    const claimedAs = CLAIM.exec(file)?.[2];
    if (claimedAs) this.parsed.delete(claimedAs);
  }

  /** Keeps an entry that cannot be processed, with the reason next to it: never dropped silently. */
  quarantine(name: string, reason: string, file = name): void {
    this.forget(file);
    const dir = makeDirectory(join(this.dir, 'failed'), 0o700);
    writeFileSync(join(dir, `${name}.reason`), reason + '\n');
    renameSync(join(this.dir, file), join(dir, name));
  }

  /** Entries that failed, kept for a person to read. */
  failed(): string[] {
    try {
      return readdirSync(join(this.dir, 'failed')).filter((n) => n.endsWith('.entry'));
    } catch {
      return [];
    }
  }
}
