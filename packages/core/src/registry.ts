import type Database from 'better-sqlite3';
import { chmodSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ContainerId, formatContainerId, parseContainerId } from './container-id';
import { ContainerDirectory, UnknownContainerError, isInSubtree, resolveContainerRef } from './container-ref';
import { ContidError } from './errors';
import { makeDirectory } from './output-file';
import { foldRun } from './binding-folds';
import { MIGRATIONS } from './migrations';
import { Namespaces, currentBootId } from './proc';
import { IdAllocator } from './allocator';
import { loadSqlite } from './native-modules';
import { DEFAULT_STATE_DIR } from './config';

/** Rows one name or prefix may bring into a lookup (a unit's invocations all share its name). */
const MAX_REF_CANDIDATES = 1000;

export type ContainerState = 'running' | 'ended' | 'untagged';
export type BindingOp = 'create' | 'setns' | 'untagged';

export interface ContainerRecord {
  contid: ContainerId;
  orchestrator: string;
  name: string;
  runtimeId: string | null;
  image: string | null;
  labels: Record<string, string>;
  parent: ContainerId | null;
  node: string | null;
  state: ContainerState;
  initPid: number | null;
  /** The init's start time (clock ticks since boot), so a reused pid is never taken for it. */
  initStart: number | null;
  session: number | null;
  namespaces: Namespaces;
  auditError: string | null;
  createdAt: number;
  endedAt: number | null;
}

export interface NewContainer {
  orchestrator: string;
  name: string;
  runtimeId?: string | null;
  image?: string | null;
  labels?: Record<string, string>;
  parent?: ContainerId | null;
  state?: ContainerState;
  initPid?: number | null;
  initStart?: number | null;
  session?: number | null;
  namespaces?: Namespaces;
  auditError?: string | null;
}

export interface BindingRecord {
  id: number;
  contid: ContainerId;
  session: number | null;
  pid: number;
  op: BindingOp;
  detail: Record<string, unknown>;
  at: number;
}

export type NewBinding = Omit<BindingRecord, 'id' | 'at'> & { at?: number };

/** The runs of one repeated check on one container (see binding-folds): one row, counted. */
export interface FoldedBinding {
  id: number;
  contid: ContainerId;
  /** What the runs share (foldKeyOf: the check's command and probe kinds). */
  key: string;
  count: number;
  firstAt: number;
  lastAt: number;
  lastSession: number | null;
  lastPid: number;
  /** The last run's facts (command, exec id, user …). */
  detail: Record<string, unknown>;
}

/** Fields an adapter may add after creation (names, images, labels learned later). */
export type Enrichment = Partial<Pick<NewContainer, 'name' | 'runtimeId' | 'image' | 'labels' | 'auditError' | 'initPid' | 'initStart' | 'namespaces'>>;

interface ContainerRow {
  contid: string;
  orchestrator: string;
  name: string;
  runtime_id: string | null;
  image: string | null;
  labels: string;
  parent: string | null;
  node: string | null;
  state: ContainerState;
  init_pid: number | null;
  init_start: number | null;
  session: number | null;
  namespaces: string;
  audit_error: string | null;
  created_at: number;
  ended_at: number | null;
}

interface BindingRow {
  id: number;
  contid: string;
  session: number | null;
  pid: number;
  op: BindingOp;
  detail: string;
  at: number;
}

function toContainer(r: ContainerRow): ContainerRecord {
  return {
    contid: parseContainerId(r.contid),
    orchestrator: r.orchestrator,
    name: r.name,
    runtimeId: r.runtime_id,
    image: r.image,
    labels: JSON.parse(r.labels) as Record<string, string>,
    parent: r.parent === null ? null : parseContainerId(r.parent),
    node: r.node,
    state: r.state,
    initPid: r.init_pid,
    initStart: r.init_start ?? null,
    session: r.session,
    namespaces: JSON.parse(r.namespaces) as Namespaces,
    auditError: r.audit_error,
    createdAt: r.created_at,
    endedAt: r.ended_at,
  };
}

interface FoldRow {
  id: number;
  contid: string;
  fold_key: string;
  count: number;
  first_at: number;
  last_at: number;
  last_session: number | null;
  last_pid: number;
  detail: string;
}

function toFold(r: FoldRow): FoldedBinding {
  return {
    id: r.id,
    contid: parseContainerId(r.contid),
    key: r.fold_key,
    count: r.count,
    firstAt: r.first_at,
    lastAt: r.last_at,
    lastSession: r.last_session,
    lastPid: r.last_pid,
    detail: JSON.parse(r.detail) as Record<string, unknown>,
  };
}

function toBinding(r: BindingRow): BindingRecord {
  return { ...r, contid: parseContainerId(r.contid), detail: JSON.parse(r.detail) as Record<string, unknown> };
}

/** Makes the state directory root-only, creating it when missing. */
function prepareStateDir(dir: string): void {
  try {
    makeDirectory(dir, 0o700);
    if ((statSync(dir).mode & 0o077) !== 0) chmodSync(dir, 0o700);
  } catch (e) {
    throw new ContidError(`registry directory ${dir} is not usable: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

/**
 * The registry: containers and their bindings in SQLite (WAL). Every change is one
 * transaction; concurrent processes serialize on SQLite's write lock.
 */
export class Registry {
  readonly ids: IdAllocator;
  private readonly bootId = currentBootId();
  /** Statements of the per-event look-ups (a live tail asks per session and per container). */
  private readonly statements = new Map<string, Database.Statement>();

  /**
   * Whether the fold tables exist: a read-only open never migrates, and a registry older
   * contid wrote (before v4) has none; it kept every run as a binding row instead.
   */
  private readonly hasFolds: boolean;

  private constructor(
    readonly dir: string,
    readonly db: Database.Database,
  ) {
    this.ids = new IdAllocator(db);
    this.hasFolds = db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'folded_sessions'`).get() !== undefined;
  }

  /** A prepared statement, prepared once (better-sqlite3 parses the SQL on every prepare()). */
  private statement(sql: string): Database.Statement {
    let st = this.statements.get(sql);
    if (!st) this.statements.set(sql, (st = this.db.prepare(sql)));
    return st;
  }

  static open(dir = DEFAULT_STATE_DIR, options: { readonly?: boolean } = {}): Registry {
    if (!options.readonly) prepareStateDir(dir);
    const file = join(dir, 'registry.db');
    let db: Database.Database;
    try {
      db = new (loadSqlite())(file, { readonly: options.readonly === true, fileMustExist: options.readonly === true });
      db.pragma('busy_timeout = 30000');
      if (!options.readonly) {
        chmodSync(file, 0o600);
        db.pragma('journal_mode = WAL');
        db.pragma('synchronous = NORMAL');
        db.pragma('foreign_keys = ON');
        migrate(db);
        endPreviousBoots(db, currentBootId());
      }
    } catch (e) {
      if (e instanceof ContidError) throw e;
      throw new ContidError(`cannot open registry ${file}: ${(e as Error).message}`);
    }
    return new Registry(dir, db);
  }

  close(): void {
    this.db.close();
  }

  get schemaVersion(): number {
    return this.db.pragma('user_version', { simple: true }) as number;
  }

  /** Allocates an ID and inserts the container (and its first binding) in one transaction. */
  registerContainer(c: NewContainer, binding?: Omit<NewBinding, 'contid'>, id?: ContainerId): ContainerRecord {
    const now = Date.now();
    const tx = this.db.transaction((): ContainerId => {
      const contid = id ?? this.ids.allocateInTransaction();
      this.statement(
        `INSERT INTO containers (contid, orchestrator, name, runtime_id, image, labels, parent, node, state,
           init_pid, init_start, session, namespaces, audit_error, created_at, boot_id)
         VALUES (@contid, @orchestrator, @name, @runtimeId, @image, @labels, @parent, @node, @state,
           @initPid, @initStart, @session, @namespaces, @auditError, @createdAt, @bootId)`,
      ).run({
        contid: formatContainerId(contid),
        orchestrator: c.orchestrator,
        name: c.name,
        runtimeId: c.runtimeId ?? null,
        image: c.image ?? null,
        labels: JSON.stringify(c.labels ?? {}),
        parent: c.parent === undefined || c.parent === null ? null : formatContainerId(c.parent),
        node: this.ids.nodePrefix() === null ? null : String(this.ids.nodePrefix()),
        state: c.state ?? 'running',
        initPid: c.initPid ?? null,
        initStart: c.initStart ?? null,
        session: c.session ?? null,
        namespaces: JSON.stringify(c.namespaces ?? {}),
        auditError: c.auditError ?? null,
        createdAt: now,
        bootId: this.bootId,
      });
      if (binding) this.insertBinding({ ...binding, contid, at: binding.at ?? now });
      return contid;
    });
    return this.get(tx.immediate())!;
  }

  addBinding(b: NewBinding): BindingRecord {
    const id = this.db.transaction(() => this.insertBinding(b)).immediate();
    return toBinding(this.statement('SELECT * FROM bindings WHERE id = ?').get(id) as BindingRow);
  }

  /**
   * One run of a repeated check (a healthcheck): counted into the check's folded row instead
   * of a binding row of its own; its session maps to the fold, so containerOfSession still
   * names the container. One transaction.
   */
  addFoldedBinding(b: NewBinding, key: string): FoldedBinding {
    const run = {
      contid: formatContainerId(b.contid),
      session: b.session,
      pid: b.pid,
      detail: JSON.stringify(b.detail ?? {}),
      at: b.at ?? Date.now(),
      bootId: this.bootId,
    };
    const id = this.db.transaction(() => foldRun((sql) => this.statement(sql), key, run)).immediate();
    return toFold(this.statement('SELECT * FROM binding_folds WHERE id = ?').get(id) as FoldRow);
  }

  private insertBinding(b: NewBinding): number {
    return Number(
      this.statement('INSERT INTO bindings (contid, session, pid, op, detail, at, boot_id) VALUES (?, ?, ?, ?, ?, ?, ?)')
        .run(formatContainerId(b.contid), b.session, b.pid, b.op, JSON.stringify(b.detail ?? {}), b.at ?? Date.now(), this.bootId)
        .lastInsertRowid,
    );
  }

  enrich(contid: ContainerId, e: Enrichment): void {
    const sets: string[] = [];
    const values: Record<string, unknown> = { contid: formatContainerId(contid) };
    const columns: Record<keyof Enrichment, string> = {
      name: 'name',
      runtimeId: 'runtime_id',
      image: 'image',
      labels: 'labels',
      auditError: 'audit_error',
      // The container's real init, learned after the wrapper that created it (LXC start-host hook).
      initPid: 'init_pid',
      initStart: 'init_start',
      namespaces: 'namespaces',
    };
    for (const [key, column] of Object.entries(columns) as [keyof Enrichment, string][]) {
      if (e[key] === undefined) continue;
      sets.push(`${column} = @${key}`);
      values[key] = key === 'labels' || key === 'namespaces' ? JSON.stringify(e[key]) : e[key];
    }
    if (sets.length) this.statement(`UPDATE containers SET ${sets.join(', ')} WHERE contid = @contid`).run(values);
  }

  markEnded(contid: ContainerId, at = Date.now()): boolean {
    const r = this.statement(`UPDATE containers SET state = 'ended', ended_at = ? WHERE contid = ? AND state != 'ended'`)
      .run(at, formatContainerId(contid));
    return r.changes === 1;
  }

  get(contid: ContainerId): ContainerRecord | undefined {
    const row = this.statement('SELECT * FROM containers WHERE contid = ?').get(formatContainerId(contid)) as
      | ContainerRow
      | undefined;
    return row && toContainer(row);
  }

  /** The registry as a directory for the one container-ref resolver (preferred first: running, then newest). */
  get directory(): ContainerDirectory<ContainerRecord> {
    const order = `ORDER BY (state = 'ended'), created_at DESC LIMIT ${MAX_REF_CANDIDATES}`;
    return {
      byContid: (contid) => this.get(contid),
      byName: (name) => (this.statement(`SELECT * FROM containers WHERE name = ? ${order}`).all(name) as ContainerRow[]).map(toContainer),
      byRuntimePrefix: (prefix) =>
        (this.statement(`SELECT * FROM containers WHERE substr(runtime_id, 1, length(?)) = ? ${order}`).all(prefix, prefix) as ContainerRow[]).map(toContainer),
      kind: 'the registry',
    };
  }

  /**
   * Resolves what a user typed — a contid, a name, or a runtime-id prefix of at least 4
   * characters — with the shared rules of resolveContainerRef (the host's names first, an
   * ambiguous name an error). `within`: only that container's subtree is visible (a nested
   * channel's caller). Throws UnknownContainerError or an "ambiguous" ContidError.
   */
  resolve(ref: string, within?: ContainerId): ContainerRecord {
    const dir = this.directory;
    const visible = within === undefined ? undefined : (c: ContainerRecord): boolean => isInSubtree(dir, c.contid, within);
    return resolveContainerRef(dir, ref, visible).containers[0];
  }

  /** resolve(), but undefined for an unknown ref (an ambiguous one still throws). */
  find(ref: string, within?: ContainerId): ContainerRecord | undefined {
    try {
      return this.resolve(ref, within);
    } catch (e) {
      if (e instanceof UnknownContainerError) return undefined;
      throw e;
    }
  }

  findByRuntimeId(runtimeId: string): ContainerRecord | undefined {
    const row = this.statement(`SELECT * FROM containers WHERE runtime_id = ? ORDER BY (state = 'ended'), created_at DESC LIMIT 1`)
      .get(runtimeId) as ContainerRow | undefined;
    return row && toContainer(row);
  }

  /**
   * The container an audit session of this boot is bound to, if any: by a binding row (the
   * newest wins), else by a folded run of a repeated check.
   */
  containerOfSession(session: number): ContainerRecord | undefined {
    const bound = this.statement(
      `SELECT c.* FROM bindings b JOIN containers c ON c.contid = b.contid
         WHERE b.session = ? AND b.op != 'untagged' AND b.boot_id = ? ORDER BY b.id DESC LIMIT 1`,
    ).get(session, this.bootId) as ContainerRow | undefined;
    if (bound || !this.hasFolds) return bound && toContainer(bound);
    const folded = this.statement(
      `SELECT c.* FROM folded_sessions s JOIN binding_folds f ON f.id = s.fold JOIN containers c ON c.contid = f.contid
         WHERE s.session = ? AND f.boot_id = ? ORDER BY f.id DESC LIMIT 1`,
    ).get(session, this.bootId) as ContainerRow | undefined;
    return folded && toContainer(folded);
  }


  list(filter: { state?: ContainerState; orchestrator?: string } = {}): ContainerRecord[] {
    const rows = this.statement(
      `SELECT * FROM containers WHERE (@state IS NULL OR state = @state)
       AND (@orchestrator IS NULL OR orchestrator = @orchestrator) ORDER BY created_at, contid`,
    ).all({ state: filter.state ?? null, orchestrator: filter.orchestrator ?? null }) as ContainerRow[];
    return rows.map(toContainer);
  }

  children(contid: ContainerId): ContainerRecord[] {
    return (this.statement('SELECT * FROM containers WHERE parent = ? ORDER BY created_at').all(formatContainerId(contid)) as ContainerRow[]).map(
      toContainer,
    );
  }

  bindings(contid: ContainerId): BindingRecord[] {
    return (this.statement('SELECT * FROM bindings WHERE contid = ? ORDER BY id').all(formatContainerId(contid)) as BindingRow[]).map(
      toBinding,
    );
  }

  /** The container's repeated checks, one row each (oldest first). */
  folds(contid: ContainerId): FoldedBinding[] {
    if (!this.hasFolds) return [];
    return (this.statement('SELECT * FROM binding_folds WHERE contid = ? ORDER BY id').all(formatContainerId(contid)) as FoldRow[]).map(toFold);
  }

  /** The sessions of every folded run on the container (ascending). */
  foldedSessions(contid: ContainerId): number[] {
    if (!this.hasFolds) return [];
    return (
      this.statement(
        'SELECT s.session FROM binding_folds f JOIN folded_sessions s ON s.fold = f.id WHERE f.contid = ? ORDER BY s.session',
      ).all(formatContainerId(contid)) as { session: number }[]
    ).map((r) => r.session);
  }

  /** The sessions of one fold's runs (ascending). */
  foldSessions(fold: number): number[] {
    if (!this.hasFolds) return [];
    return (this.statement('SELECT session FROM folded_sessions WHERE fold = ? ORDER BY session').all(fold) as { session: number }[]).map((r) => r.session);
  }

  /** SQLite's own consistency check plus contid's invariants; empty when healthy. */
  check(): string[] {
    const problems: string[] = [];
    const integrity = this.db.pragma('integrity_check', { simple: true });
    if (integrity !== 'ok') problems.push(`integrity_check: ${String(integrity)}`);
    const fk = this.db.pragma('foreign_key_check') as unknown[];
    if (fk.length) problems.push(`${fk.length} rows break foreign keys`);
    return problems;
  }
}

/** No container survives a reboot: rows still open from an earlier boot have ended. */
function endPreviousBoots(db: Database.Database, bootId: string): void {
  db.prepare(`UPDATE containers SET state = 'ended', ended_at = ? WHERE state != 'ended' AND boot_id IS NOT ? `).run(Date.now(), bootId);
}

function migrate(db: Database.Database): void {
  const apply = db.transaction(() => {
    const version = db.pragma('user_version', { simple: true }) as number;
    if (version > MIGRATIONS.length) {
      throw new ContidError(`registry schema v${version} is newer than this contid (v${MIGRATIONS.length}); upgrade contid`);
    }
    for (let v = version; v < MIGRATIONS.length; v++) {
      const step = MIGRATIONS[v];
      if (typeof step === 'string') db.exec(step);
      else step(db);
    }
    db.pragma(`user_version = ${MIGRATIONS.length}`);
  });
  apply.immediate();
}
