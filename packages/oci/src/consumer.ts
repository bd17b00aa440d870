import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { ContainerId, ContainerQueries, ContainerRecord, ContidError, Tagger, escapeText, formatContainerId } from '@contid/core';
import { OciProcess, OciSpec, parseOciProcess, parseOciSpec } from './oci-spec';
import { IncompleteEntryError, Spool, SpoolContest, SpoolEntry, SpoolRequester, entrySession, entryWriter } from './spool';

/** Who a container is, as the identifiers tell it. */
export interface ContainerIdentity {
  orchestrator: string;
  name: string;
  image: string | null;
  labels: Record<string, string>;
  /** The container this one was created by or shares namespaces with (a pod's sandbox). */
  parent: ContainerId | null;
}

export interface IdentifyContext {
  /** Read-only: identifiers look containers up, the consumer alone writes (through the Tagger). */
  registry: ContainerQueries;
}

/**
 * Pluggable identification: Docker (dockerode), Kubernetes (CRI annotations) … Each returns
 * what it knows or null; results are merged in order, later ones win, labels are merged.
 */
export type Identifier = (
  oci: OciSpec,
  entry: SpoolEntry,
  ctx: IdentifyContext,
) => Partial<ContainerIdentity> | null | Promise<Partial<ContainerIdentity> | null>;

/** Facts about an entering process (docker exec id, command, user) for its setns binding. */
export type ExecDescriber = (
  entry: SpoolEntry,
  container: ContainerRecord,
  pid: number,
  process: OciProcess | null,
  ctx: IdentifyContext,
) => Promise<Record<string, unknown>>;

/**
 * An orchestrator's own handling of an init entry (its hook, run in the container's session,
 * reported the container's init): record it, or record an untagged container.
 */
export type InitRecorder = (entry: SpoolEntry, tagger: Tagger) => EntryOutcome;

/**
 * An orchestrator's own binding of its tagging step's create entries (contid-spawn's
 * `subcommand=spawn`), where one container spans several of them: a systemd unit's Exec lines
 * each renew a session, the invocation's first creates the container and later ones join it.
 */
export type SpawnBinder = (entry: SpoolEntry, tagger: Tagger) => EntryOutcome;

export type EntryOutcome =
  | {
      kind: 'tagged';
      contid: ContainerId;
      op: 'create' | 'setns' | 'untagged' | 'init';
      /** A run of a healthcheck or exec probe (folded in the registry): not logged, as it repeats every period. */
      probe?: true;
    }
  | { kind: 'ended'; contid: ContainerId }
  | { kind: 'already'; contid: ContainerId | null }
  | {
      kind: 'deferred';
      why: string;
      /** The runtime's pid file it waits for: whoever drains may watch its directory instead of looking again and again. */
      pidFile?: string;
      /** It waits for its own last line, whose write the spool's watch announces (isNews). */
      unfinished?: true;
      /** It waits for an earlier create entry, which comes first in the same pass: that entry's own wait is what to watch. */
      behindCreate?: true;
    }
  | { kind: 'quarantined'; why: string };

export interface ConsumerOptions {
  tagger: Tagger;
  spool: Spool;
  identifiers?: Identifier[];
  describeExec?: ExecDescriber;
  /** Init entries, by orchestrator (an entry no adapter handles is quarantined, never dropped). */
  initRecorders?: Readonly<Record<string, InitRecorder>>;
  /** Spawned create entries an orchestrator binds itself, by orchestrator (the rest: one container each). */
  spawnBinders?: Readonly<Record<string, SpawnBinder>>;
  /** How long an entry may wait for runc's pid file while runc still runs (ms). */
  pidFileWaitMs?: number;
  /** How long an entry may stay without its last line before its writer is taken for dead (ms). */
  incompleteWaitMs?: number;
  log?: (line: string) => void;
  /**
   * Execs (setns bindings) are logged as one line per this period (ms) — their count and the
   * containers they entered — instead of a line each (the Docker agent: an exec a second is a
   * line a second, each a write to the journal). Default: a line each.
   */
  execSummaryMs?: number;
  now?: () => number;
}

const PID_FILE_PENDING = 'the runtime has not written its pid file yet';
const pidFilePending = (entry: SpoolEntry): EntryOutcome => ({ kind: 'deferred', why: PID_FILE_PENDING, ...(entry.pidFile ? { pidFile: entry.pidFile } : {}) });

/** Whether a process exists (EPERM: it does, owned by someone else). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readPid(file: string | null): number | null {
  if (!file || !existsSync(file)) return null;
  const text = readFileSync(file, 'utf8').trim();
  return /^\d+$/.test(text) ? Number(text) : null;
}

function readNumber(file: string): number | null {
  try {
    const text = readFileSync(file, 'utf8').trim();
    return /^\d+$/.test(text) ? Number(text) : null;
  } catch {
    return null;
  }
}

/**
 * The topmost live process of an audit session other than runc itself (the container's init or
 * exec'd process), among `candidates` (default: every process, a walk over all of /proc).
 */
export function sessionLeader(session: number, runcPid: number, procRoot = '/proc', candidates?: Iterable<number>): number | null {
  const members = new Set<number>();
  for (const pid of candidates ?? readdirSync(procRoot).filter((n) => /^\d+$/.test(n)).map(Number)) {
    if (pid === runcPid) continue;
    if (readNumber(`${procRoot}/${pid}/sessionid`) === session) members.add(pid);
  }
  for (const pid of [...members].sort((a, b) => a - b)) {
    let ppid: number | null = null;
    try {
      ppid = Number(/^PPid:\s+(\d+)$/m.exec(readFileSync(`${procRoot}/${pid}/status`, 'utf8'))?.[1]);
    } catch {
      continue;
    }
    if (!members.has(ppid)) return pid;
  }
  return null;
}

/**
 * Every process of a container, from the cgroup its init runs in: the highest ancestor of that
 * cgroup whose name holds the runtime id (docker-ID.scope, /docker/ID, cri-containerd-ID…: an
 * init that moved itself into a child cgroup is still found under it), and all its
 * descendants. runc exec puts an exec into the container's cgroups, so its processes are here —
 * a few processes to look at instead of all of /proc. Any hierarchy mounted here will do (the
 * unified one, or a v1 controller's). Null when that cannot be told (no hierarchy names the
 * id, the init gone): then the caller looks at every process.
 */
export function containerProcesses(initPid: number, runtimeId: string, procRoot = '/proc'): number[] | null {
  if (runtimeId.length < 12) return null;
  let lines: string[];
  try {
    lines = readFileSync(`${procRoot}/${initPid}/cgroup`, 'utf8').split('\n');
  } catch {
    return null;
  }
  // The cgroup mounts as last read (they hardly ever change); read afresh when they tell nothing.
  return processesOfCgroups(lines, runtimeId, cgroupMounts(procRoot, false)) ?? processesOfCgroups(lines, runtimeId, cgroupMounts(procRoot, true));
}

/** The cgroup and cgroup2 lines of /proc/self/mounts, split, by proc root: read again only when asked to be fresh. */
const mountsRead = new Map<string, string[][] | null>();
function cgroupMounts(procRoot: string, fresh: boolean): string[][] | null {
  if (!fresh && mountsRead.has(procRoot)) return mountsRead.get(procRoot)!;
  let mounts: string[][] | null;
  try {
    mounts = readFileSync(`${procRoot}/self/mounts`, 'utf8')
      .split('\n')
      .map((l) => l.split(' '))
      .filter(([, , type]) => type === 'cgroup' || type === 'cgroup2');
  } catch {
    mounts = null;
  }
  if (mountsRead.size > 16) mountsRead.clear();
  mountsRead.set(procRoot, mounts);
  return mounts;
}

function processesOfCgroups(lines: readonly string[], runtimeId: string, mounts: string[][] | null): number[] | null {
  if (!mounts) return null;
  for (const line of lines) {
    const m = /^\d+:([^:]*):(\/.*)$/.exec(line);
    if (!m) continue;
    const parts = m[2]!.split('/');
    const top = parts.findIndex((p) => p.includes(runtimeId));
    if (top < 0) continue;
    const controllers = m[1]!.split(',').filter(Boolean);
    // "0::/path" is the unified (v2) hierarchy; "N:pids:/path" a v1 one, mounted with that controller as an option.
    const mount = mounts.find(([, , type, opts]) =>
      controllers.length === 0 ? type === 'cgroup2' : type === 'cgroup' && controllers.every((c) => opts?.split(',').includes(c)),
    );
    if (!mount?.[1]) continue;
    const pids = cgroupTree(mount[1] + parts.slice(0, top + 1).join('/'));
    if (pids) return pids;
  }
  return null;
}

/** The pids in a cgroup and all its descendants; null when any of it cannot be read. */
function cgroupTree(dir: string): number[] | null {
  const pids: number[] = [];
  const walk = (d: string): boolean => {
    try {
      for (const line of readFileSync(`${d}/cgroup.procs`, 'utf8').split('\n')) if (/^\d+$/.test(line)) pids.push(Number(line));
      for (const e of readdirSync(d, { withFileTypes: true })) if (e.isDirectory() && !walk(`${d}/${e.name}`)) return false;
      return true;
    } catch {
      return false;
    }
  };
  return walk(dir) ? pids : null;
}

/**
 * The binding records who asked (Docker through contid docker front): uid, auid, session, pid,
 * exe. A login uid that is not the client's uid is flagged (`auidDiffers`): it is normal after
 * su/sudo, but a process whose loginuid was unset (a service, cron, a shell without pam_loginuid)
 * may write any uid there, so the auid alone is only that process's word. A run dockerd made on
 * its own of a container someone else changed since its last start has no requester: `contested`
 * names the last starter and every change instead.
 */
function requesterDetail(entry: SpoolEntry): { requester?: SpoolRequester & { auidDiffers?: true }; contested?: SpoolContest } {
  if (entry.contested) return { contested: entry.contested };
  const r = entry.requester;
  if (!r) return {};
  return { requester: r.auid === r.uid ? r : { ...r, auidDiffers: true } };
}

/**
 * Turns the runtime shim's spool entries into registry bindings and audit records. An entry is
 * deleted only after its registry transaction committed; re-reading it after a crash finds the
 * binding by its session (unique within a boot) and just deletes it, so nothing doubles.
 */
export class SpoolConsumer {
  private readonly identifiers: Identifier[];
  private readonly log: (line: string) => void;
  private readonly now: () => number;
  private draining: Promise<EntryOutcome[]> | null = null;
  private again = false;
  private recovered = false;
  /** Watch events still to come for this consumer's own renames of an entry (claim, give back), by name. */
  private readonly echoes = new Map<string, number>();
  /** Entries a pass found without their last line: the write that completes one is news. */
  private readonly unfinished = new Set<string>();
  /** Execs bound since the last summary line (execSummaryMs): how many, into which containers, since when. */
  private execs = { count: 0, containers: new Set<ContainerId>(), more: false, since: 0 };

  constructor(private readonly options: ConsumerOptions) {
    this.identifiers = options.identifiers ?? [];
    this.log = options.log ?? (() => undefined);
    this.now = options.now ?? Date.now;
  }

  get registry(): ContainerQueries {
    return this.options.tagger.containers;
  }

  /** Processes every complete entry once; concurrent calls share one pass (plus one more if asked during it). */
  drain(): Promise<EntryOutcome[]> {
    if (this.draining) {
      this.again = true;
      return this.draining;
    }
    this.draining = (async () => {
      this.summarizeExecs(false);
      // Every pass: a consumer killed mid-entry may still be a zombie at the first one. One
      // directory listing serves both when nothing was taken back (a pass runs per spool write).
      const spool = this.options.spool;
      let files: readonly string[] | undefined = spool.list();
      const n = spool.recoverClaims(!this.recovered, files);
      if (n) {
        this.log(`took back ${n} entr${n === 1 ? 'y' : 'ies'} claimed by a consumer that died`);
        files = undefined;
      }
      this.recovered = true;
      if (files) for (const name of spool.quarantineAbandoned(files)) this.log(`quarantined ${name}: its writer exited before the entry was complete`);
      const all: EntryOutcome[] = [];
      do {
        this.again = false;
        for (const name of spool.names(files)) all.push(await this.processName(name));
        files = undefined;
      } while (this.again);
      return all;
    })().finally(() => {
      this.draining = null;
    });
    return this.draining;
  }

  private countExec(contid: ContainerId): void {
    if (this.execs.count === 0) this.execs.since = this.now();
    this.execs.count++;
    // Bounded: a summary names at most this many containers (the count is always whole).
    if (this.execs.containers.size < 64) this.execs.containers.add(contid);
    else if (!this.execs.containers.has(contid)) this.execs.more = true;
  }

  /**
   * The summary line of the execs bound since the last one: once execSummaryMs has passed since
   * the first of them (looked at on every pass, and the agent's periodic scan makes one every
   * few seconds), or now with `now` (stopping). Each exec keeps its own binding row and signed
   * record; only the agent's log line is folded.
   */
  summarizeExecs(now: boolean): void {
    const { count, containers, more, since } = this.execs;
    if (count === 0 || (!now && this.now() - since < (this.options.execSummaryMs ?? 0))) return;
    const ids = [...containers].map(formatContainerId);
    this.log(`setns: ${count} exec${count === 1 ? '' : 's'} bound in ${Math.max(1, Math.round((this.now() - since) / 1000))} s, into contid ${ids.join(', ')}${more ? ' and more' : ''}`);
    this.execs = { count: 0, containers: new Set(), more: false, since: 0 };
  }

  /**
   * Whether a spool watch event (fs.watch's file name) only echoes this consumer's own rename:
   * its claims, and an entry it gave back (deferred). Such an event is no news; without this
   * check a deferred entry's give-back woke the watcher, which claimed and gave it back again,
   * spinning the CPU until the runtime wrote its pid file. Real writes to an entry still count.
   */
  isOwnEcho(filename: string | null): boolean {
    if (filename === null) return false;
    if (filename.startsWith(`.claimed-${process.pid}-`)) return true;
    const n = this.echoes.get(filename);
    if (!n) return false;
    if (n === 1) this.echoes.delete(filename);
    else this.echoes.set(filename, n - 1);
    return true;
  }

  /**
   * Whether a spool watch event (fs.watch's type and file name) may announce an entry to
   * process: a name appearing (`rename`: a create or a move), and a write into an entry a pass
   * found without its last line (`change`: the write may complete it). Not a write into any
   * other entry (the one write of an entry whose creation already woke a pass, which a second
   * pass would find done), not a dot-name (a claim, this consumer's or another's), nor an echo
   * of this consumer's own give-backs.
   */
  isNews(eventType: string, filename: string | null): boolean {
    if (filename?.startsWith('.')) return false;
    if (eventType === 'change') return filename !== null && this.unfinished.has(filename);
    return !this.isOwnEcho(filename);
  }

  /** Notes an entry found without its last line (bounded: a forgotten one waits for the retry or the scan). */
  private awaitCompletion(name: string): void {
    if (this.unfinished.size > 4096) this.unfinished.clear();
    this.unfinished.add(name);
  }

  private expectEcho(name: string): void {
    // Events can be lost (inotify overflow): a forgotten echo costs one ignored event, which
    // the retry and the periodic scan make up for; the map never grows past a bound.
    if (this.echoes.size > 4096) this.echoes.clear();
    this.echoes.set(name, (this.echoes.get(name) ?? 0) + 1);
  }

  /**
   * Claims one entry (another consumer may be draining the same spool), processes it, then
   * deletes it (done), gives it back (deferred) or moves it to failed/ (quarantined). An entry
   * that has to wait is left where it is, unclaimed (see look).
   */
  async processName(name: string): Promise<EntryOutcome> {
    const spool = this.options.spool;
    const looked = this.look(name);
    if ('kind' in looked) return looked;
    const claimed = spool.claim(name);
    if (!claimed) return { kind: 'deferred', why: 'taken by another consumer' };
    this.expectEcho(name);
    let outcome: EntryOutcome;
    let entry: SpoolEntry | null = null;
    try {
      entry = looked.entry ?? spool.read(name, claimed);
      outcome = entry ? await this.process(entry) : { kind: 'deferred', why: 'entry vanished' };
    } catch (e) {
      if (e instanceof IncompleteEntryError && this.beingWritten(name, claimed)) {
        outcome = { kind: 'deferred', why: 'being written', unfinished: true };
      } else if (e instanceof IncompleteEntryError) {
        outcome = { kind: 'quarantined', why: this.abandoned(name, e) };
      } else if (e instanceof ContidError) {
        outcome = { kind: 'quarantined', why: e.message };
      } else {
        spool.release(claimed);
        throw e;
      }
    }
    if (outcome.kind === 'quarantined') {
      spool.quarantine(name, outcome.why, claimed);
      this.log(`quarantined ${name}${entry ? ` (${entry.op} ${entry.id})` : ''}: ${outcome.why}`);
    } else if (outcome.kind === 'deferred') {
      spool.release(claimed);
      this.expectEcho(name);
    } else {
      spool.remove(claimed);
      const what = entry?.id || entry?.containerName;
      // A probe runs every period of every probed container: a line per run would grow the log
      // without end and cost the agent a write per run; its runs are one folded row (contid show).
      if (outcome.kind === 'tagged' && !outcome.probe) {
        if (outcome.op === 'setns' && this.options.execSummaryMs !== undefined) this.countExec(outcome.contid);
        else this.log(`${outcome.op} ${what} -> contid ${formatContainerId(outcome.contid)}`);
      }
      if (outcome.kind === 'ended') this.log(`end ${what} -> contid ${formatContainerId(outcome.contid)}`);
    }
    return outcome;
  }

  /**
   * An entry looked at before it is claimed. One still being written, or whose runtime has not
   * written its pid file yet, waits where it is: a runc create's entry is written before runc
   * runs, so it is looked at once or twice before its pid file exists, and claiming and giving
   * it back each time cost two renames and two watch events. A complete entry read here is the
   * one processed once claimed (its writer is done with it); one that cannot be read or parsed
   * is claimed and decided then (quarantined, or the error thrown).
   */
  private look(name: string): { entry: SpoolEntry | null } | EntryOutcome {
    const spool = this.options.spool;
    let entry: SpoolEntry | null;
    this.unfinished.delete(name);
    try {
      entry = spool.read(name);
    } catch (e) {
      if (e instanceof IncompleteEntryError && this.beingWritten(name, name)) return { kind: 'deferred', why: 'being written', unfinished: true };
      return { entry: null };
    }
    if (!entry) return { kind: 'deferred', why: 'taken by another consumer' };
    const boundToPid = entry.op === 'create' || entry.op === 'setns' || entry.op === 'fail';
    if (boundToPid && entry.subcommand !== 'spawn' && this.pidFromFile(entry) === 'waiting') return pidFilePending(entry);
    return { entry };
  }

  /**
   * An entry without its last line whose writer may still complete it (the writer needs a
   * millisecond or two): left where it is, and the write that completes it wakes a pass.
   */
  private beingWritten(name: string, file: string): boolean {
    const spool = this.options.spool;
    // A live writer that has not written for a minute is a reused pid.
    if (!spool.writerAlive(name) || this.now() - (spool.mtime(file) ?? 0) >= (this.options.incompleteWaitMs ?? 60_000)) return false;
    this.awaitCompletion(name);
    return true;
  }

  /** Why an entry without its last line is given up on. */
  private abandoned(name: string, e: IncompleteEntryError): string {
    if (this.options.spool.writerAlive(name)) return `${e.message} after ${(this.options.incompleteWaitMs ?? 60_000) / 1000} s`;
    return `${e.message}: its writer (pid ${entryWriter(name) ?? '?'}) exited before the entry was complete`;
  }

  /**
   * The pid in the runtime's pid file; `waiting` while the runtime runs and has not written it
   * (for less than pidFileWaitMs); null when there is none to wait for. Whether the runtime
   * runs is asked before the pid file is read: a runtime that had exited by then had written
   * its pid file for good, and a short container can be created, run and deleted between a
   * read that came too early and a later look.
   */
  private pidFromFile(entry: SpoolEntry): number | 'waiting' | null {
    const runtimeRuns = alive(entry.wrapperPid);
    const pid = readPid(entry.pidFile);
    if (pid !== null) return pid;
    return runtimeRuns && this.now() - entry.time < (this.options.pidFileWaitMs ?? 30_000) ? 'waiting' : null;
  }

  private async process(entry: SpoolEntry): Promise<EntryOutcome> {
    if (entry.op === 'end') return this.end(entry);
    if (entry.op === 'init') {
      const recorder = entry.orchestrator ? this.options.initRecorders?.[entry.orchestrator] : undefined;
      if (!recorder) return { kind: 'quarantined', why: `an init entry of orchestrator "${entry.orchestrator ?? ''}", which no adapter records` };
      return recorder(entry, this.options.tagger);
    }
    const binder = entry.op === 'create' && entry.subcommand === 'spawn' && entry.orchestrator ? this.options.spawnBinders?.[entry.orchestrator] : undefined;
    if (binder) return binder(entry, this.options.tagger);
    const pid = this.targetPid(entry);
    if (typeof pid !== 'number') return pid;
    if (entry.op === 'create') return this.create(entry, pid);
    if (entry.op === 'setns') return this.setns(entry, pid);
    return this.untagged(entry, pid);
  }

  /**
   * The container's init (create) or the entering process (exec): runc's pid file, else the
   * process that carries the entry's session (containerd deletes exec pid files at once).
   */
  private targetPid(entry: SpoolEntry): number | EntryOutcome {
    if (!entry.pidFile) return entry.wrapperPid; // runc run in the foreground: runc itself is the parent
    // While the runtime runs, its own children (runc init) carry the session too: wait for the pid file.
    const fromFile = this.pidFromFile(entry);
    if (fromFile === 'waiting') return pidFilePending(entry);
    return fromFile ?? this.afterWait(entry);
  }

  /** No pid file from a runtime that exited (or waited for too long): the session's leader, an ended exec, or a container already deleted. */
  private afterWait(entry: SpoolEntry): number | EntryOutcome {
    // A create whose container the runtime has deleted since (`docker run --rm … true` drained
    // late): its delete named the init, and no process of its session is left to look for, so
    // the walk over all of /proc below (a read per process) is not made.
    const deleted = entry.op === 'create' ? this.initAtDelete(entry) : null;
    if (deleted !== null) return deleted;
    const leader = entry.session === null ? null : sessionLeader(entry.session, entry.wrapperPid, '/proc', this.execCandidates(entry) ?? undefined);
    if (leader !== null) return leader;
    // An exec that already finished still owns its session in the log: bind it to runc's pid.
    if (entry.op === 'setns') return entry.wrapperPid;
    const ended = entry.op === 'create' ? null : this.initAtDelete(entry);
    if (ended !== null) return ended;
    return { kind: 'quarantined', why: `runc ${entry.subcommand} left no pid file ${entry.pidFile} and no process runs in session ${entry.session}, and no delete of ${entry.id} recorded an init: nothing was started` };
  }

  /** An exec's candidates for its session's leader: the processes of the container it entered, when its cgroup tells them. */
  private execCandidates(entry: SpoolEntry): number[] | null {
    if (entry.op !== 'setns' || !entry.id) return null;
    const c = this.registry.findByRuntimeId(entry.id);
    if (!c || c.state === 'ended' || c.initPid === null) return null;
    return containerProcesses(c.initPid, entry.id);
  }

  /**
   * A create whose pid file is gone and whose runtime has exited is either a container that
   * already ran and was deleted (`docker run --rm … true` before this drain) or one runc never
   * started. The runtime's delete tells them apart: its end entry, later in the spool, carries
   * the init pid from the runtime's state when there was a container, nothing when runc create
   * failed (and cleaned up). A later create of the same id closes the search.
   */
  private initAtDelete(entry: SpoolEntry): number | null {
    const spool = this.options.spool;
    for (const name of spool.names()) {
      if (entrySession(name) <= entrySession(entry.name) || !/-(end|create)-/.test(name)) continue;
      let later: SpoolEntry | null = null;
      try {
        later = spool.read(name);
      } catch {
        continue; // still being written: not the delete of a container long gone
      }
      if (!later || later.id !== entry.id) continue;
      if (later.op === 'create') return null;
      if (later.op === 'end' && later.initPid !== null) return later.initPid;
    }
    return null;
  }

  private async identify(entry: SpoolEntry): Promise<{ identity: ContainerIdentity; configError: string | null }> {
    // contid-spawn entries carry no config.json: their caller named them.
    const { spec, error } = entry.subcommand === 'spawn' ? { spec: {}, error: null } : parseOciSpec(entry.configText);
    const identity: ContainerIdentity = {
      orchestrator: entry.orchestrator ?? 'oci',
      name: entry.containerName ?? entry.id.slice(0, 12),
      image: null,
      labels: {},
      parent: null,
    };
    for (const identifier of entry.subcommand === 'spawn' ? [] : this.identifiers) {
      const found = await identifier(spec, entry, { registry: this.registry });
      if (!found) continue;
      const labels = { ...identity.labels, ...(found.labels ?? {}) };
      Object.assign(identity, Object.fromEntries(Object.entries(found).filter(([, v]) => v !== undefined)), { labels });
    }
    return { identity, configError: error };
  }

  private async create(entry: SpoolEntry, pid: number): Promise<EntryOutcome> {
    // Sessions are unique within a boot: a binding of this session means the entry was done.
    const done = entry.session === null ? undefined : this.registry.containerOfSession(entry.session);
    if (done && (done.runtimeId ?? '') === entry.id) return { kind: 'already', contid: done.contid };
    const existing = entry.id ? this.registry.findByRuntimeId(entry.id) : undefined;
    // The same runtime id created again (docker restart/start): the earlier instance is over.
    if (existing && existing.state !== 'ended') this.options.tagger.end(existing.contid, 're-created');
    if (entry.session === null) throw new ContidError('create entry without a session');
    const { identity, configError } = await this.identify(entry);
    const result = this.options.tagger.create({
      orchestrator: identity.orchestrator,
      name: identity.name,
      runtimeId: entry.id || null,
      image: identity.image,
      labels: identity.labels,
      parent: identity.parent ?? (entry.oldSession === null ? null : { session: entry.oldSession }),
      target: { pid, session: entry.session },
      detail: {
        spoolEntry: entry.name,
        runc: entry.subcommand,
        bundle: entry.bundle,
        // Bound after it ended (the drain was behind): its session still attributes its records.
        ...(alive(pid) ? {} : { endedBeforeBinding: true }),
        ...requesterDetail(entry),
        ...(configError ? { configError } : {}),
      },
    });
    return { kind: 'tagged', contid: result.container.contid, op: 'create' };
  }

  private container(entry: SpoolEntry): { row: ContainerRecord } | EntryOutcome {
    const c = entry.setns ? this.registry.find(entry.setns) : this.registry.findByRuntimeId(entry.id);
    if (c && c.state !== 'ended') return { row: c };
    if (this.earlierCreatePending(entry)) return { kind: 'deferred', why: 'an earlier create entry is still pending', behindCreate: true };
    if (entry.setns) return { kind: 'quarantined', why: `contid-spawn --setns ${entry.setns}: no such running container` };
    return { kind: 'quarantined', why: `runc exec into ${entry.id}, which contid does not know as running (started before contid?)` };
  }

  /** A create entry older than this one still waits (with `sameId`, one for this runtime id, or one that cannot be read yet). */
  private earlierCreatePending(entry: SpoolEntry, sameId = false): boolean {
    const spool = this.options.spool;
    return spool.pendingNames().some((n) => {
      if (!n.includes('-create-') || entrySession(n) >= entrySession(entry.name)) return false;
      if (!sameId || !entry.id) return true;
      try {
        const e = spool.read(n);
        return e === null || e.id === entry.id; // null: claimed by another consumer right now
      } catch {
        return true;
      }
    });
  }

  /**
   * An OCI delete: ends the instance of this runtime id created before it. Entries are ordered
   * by session, and the shim renews one for the delete too, so a later re-create of the same
   * id (a newer session) is never ended by an older delete.
   */
  private end(entry: SpoolEntry): EntryOutcome {
    const c = entry.id ? this.registry.findByRuntimeId(entry.id) : undefined;
    if (!c || c.state === 'ended') {
      // The create it ends may still be waiting (for a pid file): an end taken now would be lost.
      if (this.earlierCreatePending(entry, true)) return { kind: 'deferred', why: 'its create entry is still pending', behindCreate: true };
      return { kind: 'already', contid: c?.contid ?? null };
    }
    if (entry.session !== null && c.session !== null && c.session > entry.session) return { kind: 'already', contid: null };
    // A spawned end names its container (contid-systemd: the unit) besides the runtime id, which the caller's environment gave.
    if (entry.subcommand === 'spawn' && entry.containerName !== null && (c.orchestrator !== entry.orchestrator || c.name !== entry.containerName)) {
      return { kind: 'quarantined', why: `an end of ${escapeText(entry.containerName)} names runtime id ${entry.id}, which is ${escapeText(c.name)}'s; not ending it` };
    }
    this.options.tagger.end(c.contid, entry.reason ?? `${entry.subcommand || 'delete'} by the runtime`);
    return { kind: 'ended', contid: c.contid };
  }

  private async setns(entry: SpoolEntry, pid: number): Promise<EntryOutcome> {
    const done = entry.session === null ? undefined : this.registry.containerOfSession(entry.session);
    if (done && done.runtimeId === entry.id) return { kind: 'already', contid: done.contid };
    const found = this.container(entry);
    if (!('row' in found)) return found;
    const c = found.row;
    if (entry.session === null) throw new ContidError('setns entry without a session');
    const proc = parseOciProcess(entry.processText);
    const described = this.options.describeExec ? await this.options.describeExec(entry, c, pid, proc, { registry: this.registry }) : {};
    const result = this.options.tagger.setns({
      contid: c.contid,
      target: { pid, session: entry.session },
      detail: {
        spoolEntry: entry.name,
        command: proc?.args ?? null,
        user: proc?.user ?? null,
        cwd: proc?.cwd ?? null,
        ...requesterDetail(entry),
        ...described,
      },
    });
    return { kind: 'tagged', contid: result.container.contid, op: 'setns', ...(described.healthcheck === true ? { probe: true as const } : {}) };
  }

  /** The shim could not renew the session (fail-open): the process runs untagged, and says so. */
  private async untagged(entry: SpoolEntry, pid: number): Promise<EntryOutcome> {
    const done = this.registry.list({ state: 'untagged' }).find((c) => (c.runtimeId ?? '') === entry.id && c.initPid === pid);
    if (done) return { kind: 'already', contid: done.contid };
    if (!alive(pid)) return { kind: 'quarantined', why: `tagging failed (${entry.reason ?? 'unknown'}) and pid ${pid} is gone` };
    const { identity, configError } = await this.identify(entry);
    const result = this.options.tagger.recordUntagged({
      orchestrator: identity.orchestrator,
      name: entry.subcommand === 'exec' ? `${identity.name} exec` : identity.name,
      runtimeId: entry.id || null,
      image: identity.image,
      labels: identity.labels,
      pid,
      detail: { spoolEntry: entry.name, reason: entry.reason, runc: entry.subcommand, ...(configError ? { configError } : {}) },
    });
    return { kind: 'tagged', contid: result.container.contid, op: 'untagged' };
  }
}
