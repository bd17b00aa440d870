import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { ContainerId, ContainerRecord, ContidError, Registry, Tagger, formatContainerId } from '@contid/core';
import { OciProcess, OciSpec, parseOciProcess, parseOciSpec } from './oci';
import { Spool, SpoolEntry } from './spool';

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
  registry: Registry;
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

export type EntryOutcome =
  | { kind: 'tagged'; contid: ContainerId; op: 'create' | 'setns' | 'untagged' }
  | { kind: 'already'; contid: ContainerId }
  | { kind: 'deferred'; why: string }
  | { kind: 'quarantined'; why: string };

export interface ConsumerOptions {
  tagger: Tagger;
  spool: Spool;
  identifiers?: Identifier[];
  describeExec?: ExecDescriber;
  /** How long an entry may wait for runc's pid file while runc still runs (ms). */
  pidFileWaitMs?: number;
  log?: (line: string) => void;
  now?: () => number;
}

function alive(pid: number): boolean {
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

/** The topmost live process of an audit session other than runc itself (the container's init or exec'd process). */
export function sessionLeader(session: number, runcPid: number, procRoot = '/proc'): number | null {
  const members = new Set<number>();
  for (const name of readdirSync(procRoot)) {
    if (!/^\d+$/.test(name) || Number(name) === runcPid) continue;
    if (readNumber(`${procRoot}/${name}/sessionid`) === session) members.add(Number(name));
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

  constructor(private readonly options: ConsumerOptions) {
    this.identifiers = options.identifiers ?? [];
    this.log = options.log ?? (() => undefined);
    this.now = options.now ?? Date.now;
  }

  get registry(): Registry {
    return this.options.tagger.registry;
  }

  /** Processes every complete entry once; concurrent calls share one pass (plus one more if asked during it). */
  drain(): Promise<EntryOutcome[]> {
    if (this.draining) {
      this.again = true;
      return this.draining;
    }
    this.draining = (async () => {
      const all: EntryOutcome[] = [];
      do {
        this.again = false;
        for (const name of this.options.spool.names()) all.push(await this.processName(name));
      } while (this.again);
      return all;
    })().finally(() => {
      this.draining = null;
    });
    return this.draining;
  }

  /** Entries still waiting (deferred or newly written). */
  pending(): string[] {
    return this.options.spool.names();
  }

  async processName(name: string): Promise<EntryOutcome> {
    let entry: SpoolEntry | null;
    try {
      entry = this.options.spool.read(name);
    } catch (e) {
      const why = e instanceof Error ? e.message : String(e);
      this.options.spool.quarantine(name, why);
      this.log(`quarantined ${name}: ${why}`);
      return { kind: 'quarantined', why };
    }
    if (!entry) return { kind: 'deferred', why: 'entry vanished' };
    let outcome: EntryOutcome;
    try {
      outcome = await this.process(entry);
    } catch (e) {
      if (!(e instanceof ContidError)) throw e;
      outcome = { kind: 'quarantined', why: e.message };
    }
    if (outcome.kind === 'quarantined') {
      this.options.spool.quarantine(name, outcome.why);
      this.log(`quarantined ${name} (${entry.op} ${entry.id}): ${outcome.why}`);
    } else if (outcome.kind !== 'deferred') {
      this.options.spool.remove(name);
      if (outcome.kind === 'tagged') this.log(`${outcome.op} ${entry.id} -> contid ${formatContainerId(outcome.contid)}`);
    }
    return outcome;
  }

  private async process(entry: SpoolEntry): Promise<EntryOutcome> {
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
    const pid = readPid(entry.pidFile) ?? (entry.session === null ? null : sessionLeader(entry.session, entry.wrapperPid));
    if (pid !== null) return pid;
    const waited = this.now() - entry.time;
    if (alive(entry.wrapperPid) && waited < (this.options.pidFileWaitMs ?? 30_000)) return { kind: 'deferred', why: 'runc has not started the process yet' };
    // An exec that already finished still owns its session in the log: bind it to runc's pid.
    if (entry.op === 'setns') return entry.wrapperPid;
    return { kind: 'quarantined', why: `runc ${entry.subcommand} left no pid file ${entry.pidFile} and no process runs in session ${entry.session}: nothing was started` };
  }

  private async identify(entry: SpoolEntry): Promise<{ identity: ContainerIdentity; configError: string | null }> {
    const { spec, error } = parseOciSpec(entry.configText);
    const identity: ContainerIdentity = { orchestrator: 'oci', name: entry.id.slice(0, 12), image: null, labels: {}, parent: null };
    for (const identifier of this.identifiers) {
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
    if (done && done.runtimeId === entry.id) return { kind: 'already', contid: done.contid };
    const existing = this.registry.findByRuntimeId(entry.id);
    // The same runtime id created again (docker restart/start): the earlier instance is over.
    if (existing && existing.state !== 'ended') this.options.tagger.end(existing.contid, 're-created');
    if (entry.session === null) throw new ContidError('create entry without a session');
    const { identity, configError } = await this.identify(entry);
    const result = this.options.tagger.create({
      orchestrator: identity.orchestrator,
      name: identity.name,
      runtimeId: entry.id,
      image: identity.image,
      labels: identity.labels,
      parent: identity.parent ?? (entry.oldSession === null ? null : { session: entry.oldSession }),
      target: { pid, session: entry.session },
      detail: { spoolEntry: entry.name, runc: entry.subcommand, bundle: entry.bundle, ...(configError ? { configError } : {}) },
    });
    return { kind: 'tagged', contid: result.container.contid, op: 'create' };
  }

  private container(entry: SpoolEntry): { row: ContainerRecord } | EntryOutcome {
    const c = this.registry.findByRuntimeId(entry.id);
    if (c && c.state !== 'ended') return { row: c };
    const names = this.options.spool.names();
    if (names.slice(0, names.indexOf(entry.name)).some((n) => n.includes('-create-'))) {
      return { kind: 'deferred', why: 'an earlier create entry is still pending' };
    }
    return { kind: 'quarantined', why: `runc exec into ${entry.id}, which contid does not know as running (started before contid?)` };
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
        ...described,
      },
    });
    return { kind: 'tagged', contid: result.container.contid, op: 'setns' };
  }

  /** The shim could not renew the session (fail-open): the process runs untagged, and says so. */
  private async untagged(entry: SpoolEntry, pid: number): Promise<EntryOutcome> {
    const done = this.registry.list({ state: 'untagged' }).find((c) => c.runtimeId === entry.id && c.initPid === pid);
    if (done) return { kind: 'already', contid: done.contid };
    if (!alive(pid)) return { kind: 'quarantined', why: `tagging failed (${entry.reason ?? 'unknown'}) and pid ${pid} is gone` };
    const { identity, configError } = await this.identify(entry);
    const result = this.options.tagger.recordUntagged({
      orchestrator: identity.orchestrator,
      name: entry.subcommand === 'exec' ? `${identity.name} exec` : identity.name,
      runtimeId: entry.id,
      image: identity.image,
      labels: identity.labels,
      pid,
      detail: { spoolEntry: entry.name, reason: entry.reason, runc: entry.subcommand, ...(configError ? { configError } : {}) },
    });
    return { kind: 'tagged', contid: result.container.contid, op: 'untagged' };
  }
}
