import { lstatSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { eventKey, sameStamp, sessionAfter, stampSpan } from './event-key';
import { readRanges } from './read-ranges';

/**
 * The search index is a cache of facts about the logs, so it is believed only when nobody
 * else could have written it, and what it says is checked against the log bytes before use:
 * a crafted or stale index may make a search slower (it falls back to scanning), never wrong.
 */

/** Why the index in `dir` must not be used, or null: root's or the reader's, writable by its owner alone, no links. */
export function untrustedIndexReason(dir: string, files: string[], uid = process.geteuid?.() ?? 0): string | null {
  const parent = dirname(dir);
  try {
    const p = statSync(parent);
    // A parent others may write (without the sticky bit) lets them swap the whole directory.
    if ((p.mode & 0o022) !== 0 && (p.mode & 0o1000) === 0) return `its parent ${parent} is writable by others (mode ${(p.mode & 0o7777).toString(8)})`;
  } catch {
    return `its parent ${parent} cannot be read`;
  }
  for (const path of [dir, ...files.map((f) => join(dir, f))]) {
    let st;
    try {
      st = lstatSync(path);
    } catch {
      continue; // -wal/-shm exist only sometimes; a missing database is "no index", not a threat
    }
    if (st.isSymbolicLink()) return `${path} is a symbolic link`;
    if (st.uid !== 0 && st.uid !== uid) return `${path} is owned by uid ${st.uid}, neither root nor you`;
    if ((st.mode & 0o022) !== 0) return `${path} is writable by group or others (mode ${(st.mode & 0o777).toString(8)})`;
  }
  return null;
}

const isOffset = (v: unknown, size: number): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 && v <= size;

/** Each indexed binding line must be, byte for byte, a whole line of the log at its offset. */
export function checkBindingLines(path: string, size: number, lines: { offset: unknown; line: unknown }[]): string | null {
  const ranges: [number, number][] = [];
  for (const l of lines) {
    if (typeof l.line !== 'string' || !isOffset(l.offset, size) || l.offset + l.line.length > size) return 'a binding line lies outside the log';
    ranges.push([Math.max(0, l.offset - 1), Math.min(size, l.offset + l.line.length + 1)]);
  }
  const wanted = [...lines].sort((a, b) => (a.offset as number) - (b.offset as number)) as { offset: number; line: string }[];
  ranges.sort((a, b) => a[0] - b[0]);
  let i = 0;
  let problem: string | null = null;
  readRanges(path, ranges, (buf, at) => {
    const l = wanted[i++];
    if (problem) return;
    const start = l.offset - at;
    const before = start === 0 ? 0x0a : buf[start - 1];
    const after = start + l.line.length < buf.length ? buf[start + l.line.length] : 0x0a;
    if (before !== 0x0a || after !== 0x0a || buf.toString('latin1', start, start + l.line.length) !== l.line) problem = `the binding line at byte ${l.offset} is not in the log`;
  });
  return problem;
}

/** [start, end) pairs from the index: whole numbers inside the log, ascending, not overlapping. */
export function rangePairs(pairs: Float64Array, size: number): [number, number][] | null {
  if (pairs.length % 2 !== 0) return null;
  const out: [number, number][] = [];
  for (let i = 0; i < pairs.length; i += 2) {
    const [s, e] = [pairs[i], pairs[i + 1]];
    if (!isOffset(s, size) || !isOffset(e, size) || s >= e || (out.length > 0 && s < out[out.length - 1][1])) return null;
    out.push([s, e]);
  }
  return out;
}

/**
 * The ranges the index gives for `session` must hold whole audit lines, each of an event of
 * that session: a line that names a session names this one, and every event has such a line
 * among the ranges (as the indexer files them). So no range can hand out another event's bytes.
 */
export function checkSessionRanges(path: string, session: number, ranges: [number, number][]): string | null {
  let problem: string | null = null;
  const withSession = new Set<string>();
  const without = new Set<string>();
  // Each range is read with the byte before it, which must end a line (ranges are ascending
  // and disjoint, so a padded start identifies its range).
  const padded = ranges.map(([s, e]): [number, number] => [Math.max(0, s - 1), e]);
  const hasByteBefore = new Set(ranges.filter(([s]) => s > 0).map(([s]) => s - 1));
  readRanges(path, padded, (buf, at) => {
    if (problem) return;
    let ls = 0;
    if (hasByteBefore.has(at)) {
      // the byte before the range: it must end a line
      if (buf[0] !== 0x0a) return void (problem = `a range of session ${session} starts inside a line`);
      ls = 1;
    }
    if (buf.length === 0 || buf[buf.length - 1] !== 0x0a) return void (problem = `a range of session ${session} ends inside a line`);
    // an event's lines follow each other: its key is made once, at its first line (a line
    // with a node= prefix makes its own)
    let key = '';
    let last: { plain: boolean; from: number; to: number } | null = null;
    while (ls < buf.length && !problem) {
      const le = buf.indexOf(0x0a, ls);
      const span = stampSpan(buf, ls, le);
      if (span === null) {
        problem = `a range of session ${session} holds a line that is not an audit record`;
        break;
      }
      // the indexer's own key and session reading (event-key.ts): what it grouped, this accepts
      const plain = buf[ls] !== 0x6e; /* n: node= */
      if (!plain || last === null || !last.plain || !sameStamp(buf, last.from, last.to, span.from, span.to)) key = eventKey(buf, ls, span.from, span.to);
      last = { plain, from: span.from, to: span.to };
      const v = sessionAfter(buf, span.to, le);
      if (v >= 0 && v !== session) problem = `a range of session ${session} holds an event of session ${v}`;
      else if (v >= 0) withSession.add(key);
      else without.add(key);
      ls = le + 1;
    }
  });
  if (problem) return problem;
  for (const key of without) if (!withSession.has(key)) return `a range of session ${session} holds a record of an event that is not that session's`;
  return null;
}
