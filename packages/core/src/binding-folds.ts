import type Database from 'better-sqlite3';

/**
 * Repeated checks folded in the registry. A Docker healthcheck or a Kubernetes exec probe
 * enters its container every few seconds, each time in a fresh audit session with its own
 * signed setns record in the log. A binding row per run (1.6–3 KB each) made the registry grow
 * without end, so the runs of one check on one container share one row (count, first and last
 * run, the last run's facts), and each run's session is one small entry of a session map, so
 * the registry still answers which container any run's session belongs to.
 */
export const FOLDS_SCHEMA = `
  CREATE TABLE binding_folds (
    id           INTEGER PRIMARY KEY,
    contid       TEXT NOT NULL REFERENCES containers(contid),
    fold_key     TEXT NOT NULL,
    boot_id      TEXT,
    count        INTEGER NOT NULL,
    first_at     INTEGER NOT NULL,
    last_at      INTEGER NOT NULL,
    last_session INTEGER,
    last_pid     INTEGER NOT NULL,
    detail       TEXT NOT NULL DEFAULT '{}'
  );
  CREATE INDEX binding_folds_contid ON binding_folds(contid, fold_key);
  CREATE TABLE folded_sessions (
    session INTEGER NOT NULL,
    fold    INTEGER NOT NULL REFERENCES binding_folds(id),
    PRIMARY KEY (session, fold)
  ) WITHOUT ROWID;
  -- liveness asks for a container's sessions (is a probe, or what it left behind, still running?)
  CREATE INDEX folded_sessions_fold ON folded_sessions(fold, session);`;

/**
 * The fold a setns binding belongs to, or null for a binding kept as its own row. Adapters mark
 * a repeated check's binding `healthcheck: true` (Docker's healthcheck, a Kubernetes exec probe
 * with `probe: [kinds]`); runs of the same command (and probe kinds) fold together.
 */
export function foldKeyOf(detail: Readonly<Record<string, unknown>> | undefined): string | null {
  if (detail?.healthcheck !== true) return null;
  return JSON.stringify({ healthcheck: detail.command ?? detail.dockerCommand ?? null, probe: detail.probe ?? null });
}

/** One run of a repeated check, as stored (contid formatted, detail as JSON text). */
export interface FoldRun {
  contid: string;
  session: number | null;
  pid: number;
  detail: string;
  at: number;
  bootId: string | null;
}

type Prepare = (sql: string) => Database.Statement;

/**
 * Counts one run into its fold (made on the first run of this check, container and boot) and
 * maps the run's session to the fold. Call inside a transaction. Returns the fold's id.
 */
export function foldRun(prepare: Prepare, key: string, run: FoldRun): number {
  const found = prepare('SELECT id FROM binding_folds WHERE contid = ? AND fold_key = ? AND boot_id IS ? ORDER BY id DESC LIMIT 1').get(
    run.contid,
    key,
    run.bootId,
  ) as { id: number } | undefined;
  let id: number;
  if (found) {
    id = found.id;
    // Runs may be bound out of order (several consumers): the last run is the latest in time.
    prepare(
      `UPDATE binding_folds SET count = count + 1, first_at = min(first_at, @at),
         last_session = CASE WHEN @at >= last_at THEN @session ELSE last_session END,
         last_pid = CASE WHEN @at >= last_at THEN @pid ELSE last_pid END,
         detail = CASE WHEN @at >= last_at THEN @detail ELSE detail END,
         last_at = max(last_at, @at)
       WHERE id = @id`,
    ).run({ id, at: run.at, session: run.session, pid: run.pid, detail: run.detail });
  } else {
    id = Number(
      prepare(
        `INSERT INTO binding_folds (contid, fold_key, boot_id, count, first_at, last_at, last_session, last_pid, detail)
         VALUES (?, ?, ?, 1, ?, ?, ?, ?, ?)`,
      ).run(run.contid, key, run.bootId, run.at, run.at, run.session, run.pid, run.detail).lastInsertRowid,
    );
  }
  if (run.session !== null) prepare('INSERT OR IGNORE INTO folded_sessions (session, fold) VALUES (?, ?)').run(run.session, id);
  return id;
}

/**
 * Schema v4: the fold tables, and every healthcheck binding the older code kept as its own row
 * folded into them (oldest first, so each fold's last run is the newest), then removed. Their
 * signed records stay in the audit log untouched.
 */
export function migrateToFolds(db: Database.Database): void {
  db.exec(FOLDS_SCHEMA);
  const prepare: Prepare = (sql) => db.prepare(sql);
  const rows = db
    .prepare(`SELECT id, contid, session, pid, detail, at, boot_id FROM bindings WHERE op = 'setns' AND json_extract(detail, '$.healthcheck') = 1 ORDER BY id`)
    .all() as { id: number; contid: string; session: number | null; pid: number; detail: string; at: number; boot_id: string | null }[];
  const remove = db.prepare('DELETE FROM bindings WHERE id = ?');
  for (const r of rows) {
    const key = foldKeyOf(JSON.parse(r.detail) as Record<string, unknown>);
    if (key === null) continue; // `healthcheck: 1` rather than true: not a mark this code set
    foldRun(prepare, key, { contid: r.contid, session: r.session, pid: r.pid, detail: r.detail, at: r.at, bootId: r.boot_id });
    remove.run(r.id);
  }
}
