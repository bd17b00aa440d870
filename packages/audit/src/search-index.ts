import { existsSync, statSync } from 'node:fs';
import { ContidError } from '@contid/core/dist/errors';
import { loadSqlite } from '@contid/core/dist/native-modules';
import { makeDirectory } from '@contid/core/dist/output-file';
import { join } from 'node:path';
import type Database from 'better-sqlite3';
import { untrustedIndexReason } from './index-check';
import { BootLines } from './boot-watch';
import { eventKey, stampSpan } from './event-key';
import { isBindingLine, isEntryLine } from './line-bytes';
import { scanLines } from './reader';
import { sessionOfRecordLine } from './record';

/**
 * A sidecar index of audit log files, keyed by device, inode, size and mtime (a rotated
 * file never changes; a growing audit.log is re-indexed). Per file it keeps the lines that
 * can carry bindings (re-checked against the trust rule at query time, so the index holds
 * no trust decision) and, per kernel session, the byte ranges of that session's events, so
 * a container query reads only those bytes.
 */
export const DEFAULT_INDEX_DIR = '/var/cache/contid';
/** The database and SQLite's WAL companions: all must be as trustworthy as the directory. */
const INDEX_FILES = ['search-index.db', 'search-index.db-wal', 'search-index.db-shm'];

export interface IndexedLine {
  offset: number;
  line: string;
  /**
   * 0: a binding or entry line, its serial not compared for boots; 1: kept for its kernel
   * serial only (a boot of its node is found from these lines, see BootLines); 2: both.
   */
  boot: number;
}

export interface IndexedFile {
  id: number;
  path: string;
  size: number;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS files (id INTEGER PRIMARY KEY, path TEXT NOT NULL, dev INTEGER NOT NULL, ino INTEGER NOT NULL,
  size INTEGER NOT NULL, mtime_ms INTEGER NOT NULL, indexed_at INTEGER NOT NULL, UNIQUE (dev, ino));
CREATE TABLE IF NOT EXISTS binding_lines (file_id INTEGER NOT NULL REFERENCES files(id) ON DELETE CASCADE, offset INTEGER NOT NULL, line TEXT NOT NULL,
  boot INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS binding_lines_file ON binding_lines (file_id, offset);
CREATE TABLE IF NOT EXISTS session_segments (file_id INTEGER NOT NULL REFERENCES files(id) ON DELETE CASCADE, session INTEGER NOT NULL,
  segment INTEGER NOT NULL, ranges BLOB NOT NULL, PRIMARY KEY (file_id, session, segment));
`;
/** Bump when the layout changes: an older index is dropped and rebuilt, never misread. */
const SCHEMA_VERSION = 7; // 7: an event filed by its kernel session as the scan reads it (sessionOfRecordLine), not by the first ' ses=' of its text; 6: and the line after each boot line's drop, which confirms it (boot-watch.ts); 3: binding lines include setns / pivot_root SYSCALL lines (entries.ts); 4: and the lines that find boots (boot-watch.ts); 5: boot 2 (a binding line that is also a boot line)
/** Ranges are written out every this many bytes of log, so building uses flat memory. */
const SEGMENT_BYTES = 64 << 20;

/**
 * Event keys whose session is known, and lines still waiting for their key's session, are kept
 * while their event can still get records: until a line 3 s newer (ausearch ends an event when
 * one opens more than 2 s after it; kept a second longer, as the ranges may hold more, never
 * less). A log with more events than this within that time (2 s of this machine's busiest
 * bench stream hold ≈ 40,000) is not indexed rather than indexed with lines missing.
 */
const OPEN_KEYS = 1 << 18;
const KEY_SECONDS = 3;

/** A log file the index cannot describe exactly: searches read it without the index. */
export class IndexWindowError extends ContidError {}

/** The seconds of a stamp `SEC[.MS][:SERIAL]` at `buf[from, to)`. */
function stampSeconds(buf: Buffer, from: number, to: number): number {
  let sec = 0;
  for (let i = from; i < to && buf[i] >= 0x30 && buf[i] <= 0x39; i++) sec = sec * 10 + buf[i] - 0x30;
  return sec;
}

/** Drops the entries (oldest first, in insertion order) whose seconds are `KEY_SECONDS` behind `sec`. */
function expireKeys<V extends { sec: number }>(keys: Map<string, V>, sec: number): void {
  for (const [key, v] of keys) {
    if (v.sec + KEY_SECONDS > sec) break;
    keys.delete(key);
  }
}

/** Growable [start, end) pairs that merge touching ranges (an event's lines are adjacent). */
class Ranges {
  data = new Float64Array(64);
  length = 0;
  add(start: number, end: number): void {
    if (this.length > 0 && this.data[this.length - 1] === start) {
      this.data[this.length - 1] = end;
      return;
    }
    if (this.length + 2 > this.data.length) {
      const bigger = new Float64Array(this.data.length * 2);
      bigger.set(this.data);
      this.data = bigger;
    }
    this.data[this.length++] = start;
    this.data[this.length++] = end;
  }
  /** Sorted and merged (lines filed late, before their event's ses= line, land out of order). */
  finish(): Buffer {
    let sorted = true;
    for (let i = 2; i < this.length && sorted; i += 2) sorted = this.data[i] >= this.data[i - 1];
    // the usual case: lines came in order, nothing to sort (no per-pair objects)
    if (sorted) return Buffer.from(this.data.buffer, 0, this.length * 8);
    const pairs: [number, number][] = [];
    for (let i = 0; i < this.length; i += 2) pairs.push([this.data[i], this.data[i + 1]]);
    pairs.sort((a, b) => a[0] - b[0]);
    const out: number[] = [];
    for (const [s, e] of pairs) {
      if (out.length > 0 && s <= out[out.length - 1]) out[out.length - 1] = Math.max(out[out.length - 1], e);
      else out.push(s, e);
    }
    return Buffer.from(new Float64Array(out).buffer);
  }
}

export class SearchIndex {
  private constructor(private readonly db: Database.Database) {}

  static open(dir = DEFAULT_INDEX_DIR): SearchIndex {
    makeDirectory(dir, 0o700);
    // The index holds binding lines of the audit log: never written where others could read or swap it.
    const untrusted = untrustedIndexReason(dir, INDEX_FILES);
    if (untrusted) throw new ContidError(`refusing to keep the search index in ${dir}: ${untrusted}`);
    const db = new (loadSqlite())(join(dir, INDEX_FILES[0]));
    db.pragma('journal_mode = WAL');
    db.pragma('foreign_keys = ON');
    if (db.pragma('user_version', { simple: true }) !== SCHEMA_VERSION) {
      db.exec('DROP TABLE IF EXISTS session_ranges; DROP TABLE IF EXISTS session_segments; DROP TABLE IF EXISTS binding_lines; DROP TABLE IF EXISTS files;');
      db.exec(SCHEMA);
      db.pragma(`user_version = ${SCHEMA_VERSION}`);
    }
    return new SearchIndex(db);
  }

  /**
   * Opens an existing index read-only, or null when there is none — or when someone other than
   * root or the reader could have written it (`onIgnored` says why; search then scans).
   */
  static openExisting(dir = DEFAULT_INDEX_DIR, onIgnored?: (reason: string) => void): SearchIndex | null {
    if (!existsSync(join(dir, INDEX_FILES[0]))) return null;
    const untrusted = untrustedIndexReason(dir, INDEX_FILES);
    if (untrusted) {
      onIgnored?.(untrusted);
      return null;
    }
    try {
      const db = new (loadSqlite())(join(dir, INDEX_FILES[0]), { readonly: true, fileMustExist: true });
      if (db.pragma('user_version', { simple: true }) === SCHEMA_VERSION) return new SearchIndex(db);
      db.close();
      return null; // an index of another layout: scan until `contid index` rebuilds it
    } catch {
      return null;
    }
  }

  close(): void {
    this.db.close();
  }

  /** The entry for `path` when the index describes exactly the file as it is now. */
  lookup(path: string): IndexedFile | null {
    const st = statSync(path, { bigint: false });
    const row = this.db.prepare('SELECT id, size, mtime_ms FROM files WHERE dev = ? AND ino = ?').get(st.dev, st.ino) as { id: number; size: number; mtime_ms: number } | undefined;
    if (!row || row.size !== st.size || row.mtime_ms !== Math.floor(st.mtimeMs)) return null;
    return { id: row.id, path, size: st.size };
  }

  /** The file's binding and entry lines, and (`boot`) the lines that find its boots (see BootLines), ascending. */
  bindingLines(file: IndexedFile): IndexedLine[] {
    return this.db.prepare('SELECT offset, line, boot FROM binding_lines WHERE file_id = ? ORDER BY offset').all(file.id) as IndexedLine[];
  }

  /** [start, end) byte ranges of the events of `session` in the file, ascending. */
  sessionRanges(file: IndexedFile, session: number): Float64Array {
    const rows = this.db.prepare('SELECT ranges FROM session_segments WHERE file_id = ? AND session = ? ORDER BY segment').all(file.id, session) as { ranges: Buffer }[];
    const all = Buffer.concat(rows.map((r) => r.ranges)); // a fresh, aligned copy
    const pairs = new Float64Array(all.buffer, all.byteOffset, all.length / 8);
    let sorted = true;
    for (let i = 2; i < pairs.length && sorted; i += 2) sorted = pairs[i] >= pairs[i - 1];
    if (sorted) return pairs;
    // a line filed late (before its event's ses= line) may sit in the next segment
    const list: [number, number][] = [];
    for (let i = 0; i < pairs.length; i += 2) list.push([pairs[i], pairs[i + 1]]);
    list.sort((a, b) => a[0] - b[0]);
    return Float64Array.from(list.flat());
  }

  /**
   * Indexes one file (replacing an older entry for it); returns the sessions found.
   * `onBytes(done, size)` reports how far it has read, for a progress line.
   */
  build(path: string, onBytes?: (done: number, size: number) => void): { sessions: number; bindingLines: number } {
    const st = statSync(path);
    this.db.exec('BEGIN IMMEDIATE');
    try {
      const r = this.buildIn(path, st, onBytes);
      this.db.exec('COMMIT');
      return r;
    } catch (err) {
      this.db.exec('ROLLBACK');
      throw err;
    }
  }

  private buildIn(path: string, st: { dev: number; ino: number; mtimeMs: number; size: number }, onBytes?: (done: number, size: number) => void): { sessions: number; bindingLines: number } {
    this.db.prepare('DELETE FROM files WHERE dev = ? AND ino = ?').run(st.dev, st.ino);
    const id = Number(
      this.db.prepare('INSERT INTO files (path, dev, ino, size, mtime_ms, indexed_at) VALUES (?, ?, ?, -1, ?, ?)').run(path, st.dev, st.ino, Math.floor(st.mtimeMs), Date.now()).lastInsertRowid,
    );
    const insertSegment = this.db.prepare('INSERT INTO session_segments (file_id, session, segment, ranges) VALUES (?, ?, ?, ?)');
    const sessions = new Set<number>();
    let segment = 0;
    let segmentStart = 0;
    const flush = (): void => {
      for (const [s, r] of bySession) insertSegment.run(id, s, segment, r.finish());
      bySession.clear();
      segment++;
    };
    const bindings: { offset: number; line: string }[] = [];
    const bootLines = new BootLines();
    const bySession = new Map<number, Ranges>();
    // an event's session, decided by its first line that names one (sessionOf's rule): null
    // when that line's is unset or not a number — the event is then no session's
    const keySession = new Map<string, { session: number | null; sec: number }>();
    const pending = new Map<string, { sec: number; lines: [number, number][] }>();
    const file = (session: number, start: number, end: number): void => {
      let r = bySession.get(session);
      if (!r) bySession.set(session, (r = new Ranges()));
      sessions.add(session);
      r.add(start, end);
    };
    let reported = 0;
    const size = scanLines(path, (buf, start, end, offset) => {
      if (offset - segmentStart >= SEGMENT_BYTES) {
        flush();
        segmentStart = offset;
      }
      if (onBytes && offset - reported >= 16 << 20) {
        reported = offset;
        onBytes(offset, st.size);
      }
      if (isBindingLine(buf, start, end) || isEntryLine(buf, start, end)) bindings.push({ offset, line: buf.toString('latin1', start, end) });
      bootLines.line(buf, start, end, offset);
      const span = stampSpan(buf, start, end);
      if (span === null) return;
      const key = eventKey(buf, start, span.from, span.to);
      const lineEnd = offset + (end - start) + 1; // with its newline: touching lines merge
      const session = sessionOfRecordLine(buf, start, end);
      const sec = stampSeconds(buf, span.from, span.to);
      expireKeys(keySession, sec);
      expireKeys(pending, sec);
      if (keySession.size > OPEN_KEYS || pending.size > OPEN_KEYS) {
        throw new IndexWindowError(`more than ${OPEN_KEYS} events within ${KEY_SECONDS} s of audit time (at byte ${offset})`, 1);
      }
      const known = keySession.get(key);
      if (session === undefined && known === undefined) {
        let waiting = pending.get(key);
        if (!waiting) pending.set(key, (waiting = { sec, lines: [] }));
        waiting.lines.push([offset, lineEnd]);
        return;
      }
      // a later line's own ses= does not move the event (a scan reads the first); the check
      // refuses ranges where one says another session, so such a log is scanned
      const s = known === undefined ? (session as number | null) : known.session;
      if (known === undefined) {
        keySession.set(key, { session: s, sec });
        const waiting = pending.get(key);
        if (waiting) {
          if (s !== null) for (const [ws, we] of waiting.lines) file(s, ws, we);
          pending.delete(key);
        }
      }
      if (s !== null) file(s, offset, lineEnd);
    });
    flush();
    onBytes?.(size, size);
    const bl = this.db.prepare('INSERT INTO binding_lines (file_id, offset, line, boot) VALUES (?, ?, ?, ?)');
    const bootLineAt = new Map(bootLines.finish(path).map((b) => [b.offset, b.line]));
    // a binding line's serial is replayed only when it is a boot line too: compared with the
    // boot lines alone, any other line's serial may show a boot that reading every line does not
    for (const b of bindings) bl.run(id, b.offset, b.line, bootLineAt.has(b.offset) ? 2 : 0);
    const kept = new Set(bindings.map((b) => b.offset));
    for (const [offset, line] of bootLineAt) if (!kept.has(offset)) bl.run(id, offset, line, 1);
    this.db.prepare('UPDATE files SET size = ? WHERE id = ?').run(size, id);
    return { sessions: sessions.size, bindingLines: bindings.length };
  }
}

