/**
 * The native modules (koffi, better-sqlite3), required on first use. Importing @contid/core or
 * @contid/audit — which every command does — then loads neither: a command that calls no C
 * library and opens no database (`contid search --no-index`, `contid tail`) does not pay for
 * them, nor for the https module koffi's loader requires.
 */
type Koffi = typeof import('koffi');
type Sqlite = typeof import('better-sqlite3');

let koffiModule: Koffi | undefined;
let sqliteModule: Sqlite | undefined;

/** koffi (C calls into libaudit, libauparse, libc). */
export function loadKoffi(): Koffi {
  return (koffiModule ??= require('koffi') as Koffi);
}

/** better-sqlite3's Database class (the registry, the search index). */
export function loadSqlite(): Sqlite {
  return (sqliteModule ??= require('better-sqlite3') as Sqlite);
}
