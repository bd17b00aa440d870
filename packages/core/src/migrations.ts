import type Database from 'better-sqlite3';
import { migrateToFolds } from './binding-folds';

/** SQL, or a step that moves rows as well (run inside the migration's transaction). */
export type Migration = string | ((db: Database.Database) => void);

/**
 * Registry schema, one entry per version; PRAGMA user_version records how many ran.
 * Append only: a released migration is never edited.
 * IDs are stored as decimal TEXT because SQLite integers are signed 64-bit.
 */
export const MIGRATIONS: readonly Migration[] = [
  `CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
   CREATE TABLE containers (
     contid       TEXT PRIMARY KEY,
     orchestrator TEXT NOT NULL,
     name         TEXT NOT NULL,
     runtime_id   TEXT,
     image        TEXT,
     labels       TEXT NOT NULL DEFAULT '{}',
     parent       TEXT REFERENCES containers(contid),
     node         TEXT,
     state        TEXT NOT NULL CHECK (state IN ('running','ended','untagged')),
     init_pid     INTEGER,
     session      INTEGER,
     namespaces   TEXT NOT NULL DEFAULT '{}',
     audit_error  TEXT,
     created_at   INTEGER NOT NULL,
     ended_at     INTEGER
   );
   CREATE INDEX containers_name ON containers(name);
   CREATE INDEX containers_runtime_id ON containers(runtime_id);
   CREATE TABLE bindings (
     id       INTEGER PRIMARY KEY,
     contid   TEXT NOT NULL REFERENCES containers(contid),
     session  INTEGER,
     pid      INTEGER NOT NULL,
     op       TEXT NOT NULL CHECK (op IN ('create','setns','untagged')),
     detail   TEXT NOT NULL DEFAULT '{}',
     at       INTEGER NOT NULL
   );
   CREATE INDEX bindings_session ON bindings(session);
   CREATE INDEX bindings_contid ON bindings(contid);`,
  // v2: session numbers restart at 1 after a reboot, so a binding only means something in
  // the boot it was made in.
  `ALTER TABLE bindings ADD COLUMN boot_id TEXT;
   ALTER TABLE containers ADD COLUMN boot_id TEXT;`,
  // v3: a pid is reused; pid plus start time (clock ticks since boot) names one process.
  `ALTER TABLE containers ADD COLUMN init_start INTEGER;`,
  // v4: a healthcheck or probe run every few seconds is counted in one folded row per check
  // (binding_folds), its session mapped to it (folded_sessions), instead of a row per run.
  migrateToFolds,
];
