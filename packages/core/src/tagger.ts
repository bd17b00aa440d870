import { AuditSink, KernelAuditSink } from './audit-emitter';
import { foldKeyOf } from './binding-folds';
import { ContidConfig, configFromEnv } from './config';
import { ContainerId, formatContainerId } from './container-id';
import { ContainerQueries, boundSessions } from './container-queries';
import { ContidError } from './errors';
import { TAGGING_CAPS, requireCaps } from './privilege';
import { Namespaces, currentBootId, processStartTime, readNamespacesOf, readSessionId } from './proc';
import { NodeSigner, loadOrCreateSigner } from './node-keys';
import { AUDIT_VIRT_CONTROL, LifecycleOp, LifecycleRecord, signLifecycle } from './record-format';
import { checkRecordFits, checkRecordStrings, fitReason } from './record-limits';
import { BindingRecord, ContainerRecord, ContainerState, Enrichment, Registry } from './registry';
import { BindResult, BindTarget, chooseWritePath } from './write-paths';

/**
 * Who created a container: an explicit ID, none, 'auto' (the container the caller itself
 * runs in, found by the caller's session), or the session a wrapper ran in before renewing.
 */
export type ParentSpec = ContainerId | null | 'auto' | { session: number };

export interface CreateSpec {
  orchestrator: string;
  name: string;
  runtimeId?: string | null;
  image?: string | null;
  labels?: Record<string, string>;
  parent?: ParentSpec;
  target: BindTarget;
  /** Free-form facts kept with the binding (command, exec id, user …). */
  detail?: Record<string, unknown>;
}

export interface SetnsSpec {
  contid: ContainerId;
  target: BindTarget;
  detail?: Record<string, unknown>;
}

export interface TagResult {
  container: ContainerRecord;
  binding: BindingRecord;
  /** Set when the audit record could not be written and the fail policy is open. */
  auditError: string | null;
}

export interface TaggerDeps {
  registry?: Registry;
  sink?: AuditSink;
  /** Skip the capability check: only for callers that already checked their peer (contid serve). */
  trustedCaller?: boolean;
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/**
 * The core's one entry point for orchestrator adapters: create a container identity, let a
 * process enter it, end it. Each call checks privilege, makes the kernel carry the token,
 * writes the audit record, then commits the registry change in one transaction.
 */
export class Tagger {
  readonly signer: NodeSigner;
  private readonly bootId: string;

  private constructor(
    private readonly config: ContidConfig,
    // Private: every write goes through an operation below, which records it in the audit trail.
    private readonly registry: Registry,
    private readonly sink: AuditSink | null,
    private readonly sinkError: string | null,
  ) {
    this.signer = loadOrCreateSigner(config.stateDir, config.nodeName, config.trustDir);
    this.bootId = currentBootId().replace(/-/g, '');
  }

  static open(config: Partial<ContidConfig> = {}, deps: TaggerDeps = {}): Tagger {
    const full = configFromEnv(process.env, config);
    if (!deps.trustedCaller) requireCaps(TAGGING_CAPS, 'tagging a container');
    let sink = deps.sink ?? null;
    let sinkError: string | null = null;
    if (!sink) {
      try {
        sink = new KernelAuditSink();
      } catch (e) {
        if (full.failPolicy === 'closed' || !(e instanceof ContidError)) throw e;
        sinkError = e.message;
      }
    }
    return new Tagger(full, deps.registry ?? Registry.open(full.stateDir), sink, sinkError);
  }

  close(): void {
    this.sink?.close();
    this.registry.close();
  }

  /** Read-only lookups; every write goes through an operation below, recorded in the audit trail. */
  get containers(): ContainerQueries {
    return this.registry;
  }

  /** The /proc this tagger reads (a test's fake root, else /proc). */
  get procRoot(): string {
    return this.config.procRoot;
  }

  /** The registry directory (named in messages; LXC hooks must use the same one). */
  get stateDir(): string {
    return this.config.stateDir;
  }

  /** How the kernel would carry an ID given to this pid: its own audit session, or /proc/PID/audit_containerid. */
  writePathFor(pid: number): 'session' | 'procfs' {
    return chooseWritePath(this.config.writePath, { pid }, this.config).kind;
  }

  /** The sessions dedicated to a container (create and setns bindings of this registry). */
  boundSessions(c: ContainerRecord): number[] {
    return boundSessions(this.registry, c);
  }

  /** This node's cluster-unique ID prefix (high 16 bits of every new ID), or null. */
  nodePrefix(): number | null {
    return this.registry.ids.nodePrefix();
  }

  /** Adopts the prefix the cluster gave this node; refused once IDs were issued under another one. */
  setNodePrefix(prefix: number): void {
    this.registry.ids.setNodePrefix(prefix);
  }

  create(spec: CreateSpec): TagResult {
    checkRecordStrings(spec); // before an ID is taken or a session renewed
    const parent = this.resolveParent(spec.parent ?? 'auto');
    const contid = this.registry.ids.allocate();
    const bound = this.bind(contid, spec.target);
    const { start: initStart, namespaces } = this.observe(bound.pid, spec.target);
    const auditError = this.emit({
      op: 'create',
      orchestrator: spec.orchestrator,
      name: spec.name,
      runtimeId: spec.runtimeId ?? null,
      pid: bound.pid,
      session: bound.session,
      contid,
      parent,
      namespaces,
      idPrefix: this.registry.ids.nodePrefix(),
    });
    const container = this.registry.registerContainer(
      {
        orchestrator: spec.orchestrator,
        name: spec.name,
        runtimeId: spec.runtimeId,
        image: spec.image,
        labels: spec.labels,
        parent,
        initPid: bound.pid,
        initStart,
        session: bound.session,
        namespaces,
        auditError,
      },
      { pid: bound.pid, session: bound.session, op: 'create', detail: spec.detail ?? {} },
      contid,
    );
    return { container, binding: this.registry.bindings(contid)[0], auditError };
  }

  /** A process enters an existing container (docker exec, lxc-attach): same ID, new binding. */
  setns(spec: SetnsSpec): TagResult {
    const container = this.running(spec.contid);
    const bound = this.bind(spec.contid, spec.target);
    const auditError = this.emit({
      ...this.recordOf(container, 'setns'),
      pid: bound.pid,
      session: bound.session,
      namespaces: this.observe(bound.pid, spec.target).namespaces,
    });
    const run = {
      contid: spec.contid,
      pid: bound.pid,
      session: bound.session,
      op: 'setns' as const,
      detail: { ...(spec.detail ?? {}), ...(auditError ? { auditError } : {}) },
      at: Date.now(),
    };
    // A healthcheck run is counted into its check's folded row (its own signed record is
    // already in the log, and its session still maps to the container); anything else is a row.
    const key = foldKeyOf(spec.detail);
    if (key === null) return { container, binding: this.registry.addBinding(run), auditError };
    this.registry.addFoldedBinding(run, key);
    // The run has no row of its own: id 0.
    return { container, binding: { ...run, id: 0 }, auditError };
  }

  /** Records the end of a container; calling it twice is harmless. */
  end(contid: ContainerId, reason?: string): ContainerRecord {
    const container = this.registry.get(contid);
    if (!container) throw new ContidError(`unknown container ${formatContainerId(contid)}`);
    if (container.state !== 'ended') {
      const auditError = this.emit({ ...this.recordOf(container, 'end'), reason: reason === undefined ? undefined : fitReason(reason) });
      this.registry.markEnded(contid);
      if (auditError) this.registry.enrich(contid, { auditError });
    }
    return this.registry.get(contid)!;
  }

  /**
   * A new instance replaces the still-open rows of its orchestrator that `isStale` picks (an
   * LXC container found stopped: same runtime id; a unit's earlier invocations: same unit,
   * another invocation id): each ends with op=end and the reason, so the log never shows two
   * live instances of one container.
   */
  replaceStale(orchestrator: string, isStale: (c: ContainerRecord) => boolean, reason: string): ContainerRecord[] {
    const open = (state: ContainerState) => this.registry.list({ state, orchestrator }).filter(isStale);
    return [...open('running'), ...open('untagged')].map((c) => this.end(c.contid, reason));
  }

  /**
   * Facts an adapter learned after creation (a name, image or labels from the engine, the
   * pod's labels). Labels merge into the row's. When anything changes, a signed op=update
   * record with the container's new name and runtime id goes to the audit trail before the
   * registry is written (labels and images never enter a record); no change writes nothing.
   */
  enrich(contid: ContainerId, e: Omit<Enrichment, 'auditError'>): ContainerRecord {
    const container = this.registry.get(contid);
    if (!container) throw new ContidError(`unknown container ${formatContainerId(contid)}`);
    const next = { ...container, ...definedOnly(e), labels: { ...container.labels, ...(e.labels ?? {}) } };
    checkRecordStrings({ orchestrator: next.orchestrator, name: next.name, runtimeId: next.runtimeId });
    const changed = (Object.keys(e) as (keyof typeof e)[]).filter((k) => e[k] !== undefined && JSON.stringify(next[k]) !== JSON.stringify(container[k]));
    if (changed.length === 0) return container;
    const auditError = this.emit({ ...this.recordOf(next, 'update') });
    this.registry.enrich(contid, { ...definedOnly(e), labels: next.labels, ...(auditError ? { auditError } : {}) });
    return this.registry.get(contid)!;
  }

  /**
   * The container's own init, known only after the create record (LXC's start-host hook sees
   * it once the wrapper that created the container has become lxc-start; a forking unit's
   * daemon): a signed op=update record with the init's pid and its namespaces, so the log
   * alone names them, and the row enriched (pid, start time, namespaces, labels). Binds nothing.
   */
  recordInit(contid: ContainerId, pid: number, labels: Record<string, string> = {}, seenStart?: number): ContainerRecord {
    const container = this.running(contid);
    const liveStart = processStartTime(pid, this.config.procRoot);
    // `seenStart`: the start time a privileged hook read when the init ran (a spool entry bound
    // later). An init that has exited since is recorded as seen, with its namespaces unknown,
    // never read from whatever process has the pid now.
    const exited = seenStart !== undefined && liveStart !== seenStart;
    if (!exited && liveStart === null) throw new ContidError(`pid ${pid} is not a running process`);
    const initStart = exited ? seenStart : liveStart!;
    // An init that exits between the reads is recorded as seen, its namespaces unknown, too.
    const namespaces = exited ? {} : (readNamespacesOf(pid, initStart, this.config.procRoot) ?? {});
    const auditError = this.emit({ ...this.recordOf(container, 'update'), pid, namespaces });
    // Labels learned with the init (LXC's config file) merge into the row, never into the record.
    this.registry.enrich(contid, { initPid: pid, initStart, namespaces, labels: { ...container.labels, ...labels }, ...(auditError ? { auditError } : {}) });
    return this.registry.get(contid)!;
  }

  /**
   * A container found running without a dedicated session (started before contid, or
   * without its wrapper): recorded with its pid and session so it is never silently missing.
   */
  recordUntagged(spec: Omit<CreateSpec, 'target' | 'parent'> & { pid: number }): TagResult {
    checkRecordStrings(spec);
    const procRoot = this.config.procRoot;
    const initStart = processStartTime(spec.pid, procRoot);
    if (initStart === null) throw new ContidError(`process ${spec.pid} is gone`);
    const session = readSessionId(spec.pid, procRoot);
    // The start time again after the session and the ns links: a process that exited in between,
    // its pid taken by another, must not lend the other's session (which would then be
    // attributed to this container) or namespaces to the record.
    const namespaces = readNamespacesOf(spec.pid, initStart, procRoot);
    if (namespaces === null) throw new ContidError(`process ${spec.pid} exited while it was read (its pid is another process's now)`);
    const contid = this.registry.ids.allocate();
    const auditError = this.emit({
      op: 'untagged',
      orchestrator: spec.orchestrator,
      name: spec.name,
      runtimeId: spec.runtimeId ?? null,
      pid: spec.pid,
      session,
      contid,
      parent: null,
      namespaces,
      idPrefix: this.registry.ids.nodePrefix(),
    });
    const container = this.registry.registerContainer(
      { ...spec, state: 'untagged', initPid: spec.pid, initStart, session, namespaces, auditError },
      { pid: spec.pid, session, op: 'untagged', detail: spec.detail ?? {} },
      contid,
    );
    return { container, binding: this.registry.bindings(contid)[0], auditError };
  }

  private running(contid: ContainerId): ContainerRecord {
    const c = this.registry.get(contid);
    if (!c) throw new ContidError(`unknown container ${formatContainerId(contid)}`);
    if (c.state === 'ended') throw new ContidError(`container ${formatContainerId(contid)} (${c.name}) has ended`);
    return c;
  }

  private resolveParent(parent: ParentSpec): ContainerId | null {
    if (parent === null) return null;
    if (typeof parent === 'bigint') {
      this.running(parent);
      return parent;
    }
    const session = parent === 'auto' ? readSessionId('self', this.config.procRoot) : parent.session;
    return this.registry.containerOfSession(session)?.contid ?? null;
  }

  /**
   * A bound process's start time and namespaces, read live unless the hand-off saw it with
   * another start time (it exited and the pid went to another process): then as seen, the
   * namespaces unknown.
   */
  private observe(pid: number, target: BindTarget): { start: number | null; namespaces: Namespaces } {
    const start = processStartTime(pid, this.config.procRoot);
    // Gone (a probe's exec ends before its entry is bound): nothing to read of it, and a process
    // given its pid since must not be read for it.
    if (start === null) return { start: target.start ?? null, namespaces: {} };
    if (target.start !== undefined && start !== target.start) return { start: target.start, namespaces: {} };
    // Gone between the reads (its pid given to another process): as gone before them.
    const namespaces = readNamespacesOf(pid, start, this.config.procRoot);
    if (namespaces === null) return { start: target.start ?? null, namespaces: {} };
    return { start, namespaces };
  }

  private bind(contid: ContainerId, target: BindTarget): BindResult {
    return chooseWritePath(this.config.writePath, target, this.config).bind(contid, target);
  }

  private recordOf(c: ContainerRecord, op: LifecycleOp): LifecycleRecord {
    return {
      op,
      orchestrator: c.orchestrator,
      name: c.name,
      runtimeId: c.runtimeId,
      pid: c.initPid,
      session: c.session,
      contid: c.contid,
      parent: c.parent,
      namespaces: c.namespaces,
      idPrefix: this.registry.ids.nodePrefix(),
    };
  }

  /** The signed msg text of a record (also for records sent elsewhere, such as op=fail). */
  signedText(record: LifecycleRecord): string {
    const text = signLifecycle(record, this.signer, this.bootId);
    checkRecordFits(text);
    return text;
  }

  /** Writes the record; returns the error text under fail-open, throws under fail-closed. */
  private emit(record: LifecycleRecord): string | null {
    try {
      if (!this.sink) throw new ContidError(this.sinkError ?? 'no audit sink');
      this.sink.send(AUDIT_VIRT_CONTROL, this.signedText(record), true);
      return null;
    } catch (e) {
      if (this.config.failPolicy === 'closed' || !(e instanceof ContidError)) throw e;
      return e.message;
    }
  }
}
