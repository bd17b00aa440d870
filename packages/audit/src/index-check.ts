import { lstatSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { othersMayReplaceEntries } from '@contid/core/dist/output-file';
import { LineHeads, canonicalStamp, eventKey, sameStamp } from './event-key';
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
    // A parent others may write (without the sticky bit) lets them swap the whole directory:
    // the rule of every directory contid writes under.
    const shared = othersMayReplaceEntries(statSync(parent).mode);
    if (shared) return `its parent ${parent}: ${shared}`;
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
  for (const l of lines) {
    if (typeof l.line !== 'string' || !isOffset(l.offset, size) || l.offset + l.line.length > size) return 'a binding line lies outside the log';
  }
  const wanted = [...lines].sort((a, b) => (a.offset as number) - (b.offset as number)) as { offset: number; line: string }[];
  const ranges = wanted.flatMap((l) => [Math.max(0, l.offset - 1), Math.min(size, l.offset + l.line.length + 1)]);
  let problem: string | null = null;
  readRanges(path, ranges, (buf, at, k) => {
    const l = wanted[k];
    if (problem) return;
    const start = l.offset - at;
    const before = start === 0 ? 0x0a : buf[start - 1];
    const after = start + l.line.length < buf.length ? buf[start + l.line.length] : 0x0a;
    if (before !== 0x0a || after !== 0x0a || buf.toString('latin1', start, start + l.line.length) !== l.line) problem = `the binding line at byte ${l.offset} is not in the log`;
  });
  return problem;
}

/** [start, end) pairs from the index (flat): whole numbers inside the log, ascending, not overlapping; null otherwise. */
export function rangePairs(pairs: Float64Array, size: number): Float64Array | null {
  if (pairs.length % 2 !== 0) return null;
  for (let i = 0; i < pairs.length; i += 2) {
    const s = pairs[i];
    const e = pairs[i + 1];
    if (!isOffset(s, size) || !isOffset(e, size) || s >= e || (i > 0 && s < pairs[i - 1])) return null;
  }
  return pairs;
}

/** The lines being read (reused: no object per line). */
const line = new LineHeads();
const stamp = { timeMs: 0, serial: 0 };

/**
 * Event keys seen by the check, each filed as having a line that names the session or not.
 * A plain line's stamp written as String() writes it (the usual case) is kept as two numbers
 * in a flat array, any other key (node= lines, other spellings) as its text: one key never
 * takes both forms, so the two never need comparing.
 */
class KeySets {
  private pairs = new Float64Array(4096);
  private count = 0;
  private readonly texts = new Set<string>();
  private withoutPairs: number[] = [];
  private readonly withoutTexts = new Set<string>();
  /** A line with a `node=` prefix was read. */
  nodeLines = false;

  addPair(timeMs: number, serial: number, withSession: boolean): void {
    if (!withSession) {
      this.withoutPairs.push(timeMs, serial);
      return;
    }
    if (this.count + 2 > this.pairs.length) {
      const bigger = new Float64Array(this.pairs.length * 2);
      bigger.set(this.pairs);
      this.pairs = bigger;
    }
    this.pairs[this.count++] = timeMs;
    this.pairs[this.count++] = serial;
  }

  addText(key: string, withSession: boolean): void {
    (withSession ? this.texts : this.withoutTexts).add(key);
  }

  /** True when every key filed without a session line also has one with. */
  complete(): boolean {
    for (const key of this.withoutTexts) if (!this.texts.has(key)) return false;
    if (this.withoutPairs.length === 0) return true;
    const seen = new Set<string>();
    for (let i = 0; i < this.count; i += 2) seen.add(`${this.pairs[i]}:${this.pairs[i + 1]}`);
    for (let i = 0; i < this.withoutPairs.length; i += 2) if (!seen.has(`${this.withoutPairs[i]}:${this.withoutPairs[i + 1]}`)) return false;
    return true;
  }
}

/**
 * The ranges the index gives for `session` (flat pairs, checked by rangePairs) must hold whole
 * audit lines, each of an event of that session: a line that names a session names this one,
 * and every event has such a line among the ranges (as the indexer files them). So no range
 * can hand out another event's bytes. The lines are read as the indexer reads them (stampSpan,
 * eventKey in event-key.ts; each line's session by sessionOfRecordLine, as a scan reads it), with
 * a native search for each line's end and for its `ses=` (LineHeads): this runs over every byte
 * an indexed query prints, before it prints any.
 */
export function checkSessionRanges(file: string | number, session: number, pairs: Float64Array, facts?: RangeFacts): string | null {
  let problem: string | null = null;
  const check = new SessionRangeCheck(session);
  // Each range is read with the byte before it, which must end a line (the padded ranges are
  // still ascending: a range starts at or after the one before ends).
  const padded = new Float64Array(pairs);
  for (let i = 0; i < padded.length; i += 2) if (padded[i] > 0) padded[i]--;
  readRanges(file, padded, (buf, _at, k) => {
    if (problem) return;
    const pad = pairs[2 * k] > 0 ? 1 : 0;
    problem = check.range(pad === 1 ? buf[0] : 0x0a, buf.subarray(pad), pairs[2 * k + 1] - pairs[2 * k]);
  });
  return problem ?? check.finish(facts);
}

/**
 * checkSessionRanges one range at a time, for a reader that reads each range once and keeps
 * what it read (search's spooled way): range() for each range in ascending order, then
 * finish(), which alone says the ranges hold (an event's lines may lie in several ranges).
 */
export class SessionRangeCheck {
  private readonly keys = new KeySets();

  constructor(private readonly session: number) {}

  /**
   * One range: `before` is the byte before it in the file (0x0A for a range at its start), `bytes`
   * what was read of it, `length` its length in the index. A problem, or null.
   */
  range(before: number, bytes: Buffer, length: number): string | null {
    if (before !== 0x0a) return `a range of session ${this.session} starts inside a line`;
    const n = bytes.length;
    if (n === 0 || bytes[n - 1] !== 0x0a || n < length) return `a range of session ${this.session} ends inside a line`;
    return checkLines(bytes, 0, this.session, this.keys);
  }

  /** Some line read so far has a `node=` prefix. */
  get nodeLines(): boolean {
    return this.keys.nodeLines;
  }

  /** After the last range: whether every event has a line naming the session among them. */
  finish(facts?: RangeFacts): string | null {
    if (!this.keys.complete()) return `a range of session ${this.session} holds a record of an event that is not that session's`;
    if (facts && this.keys.nodeLines) facts.nodeLines = true;
    return null;
  }
}

/** What checkSessionRanges saw of ranges that hold, for their readers. */
export interface RangeFacts {
  /** Some line has a `node=` prefix (else none has: no range mixes nodes). */
  nodeLines: boolean;
}

/**
 * The lines of one range, `buf[ls…]` up to its final newline, into `keys`: an event's lines
 * follow each other, so its key is made once, at its first line (a line with a node= prefix
 * makes its own), and filed once, with or without a line that names the session.
 */
function checkLines(buf: Buffer, ls: number, session: number, keys: KeySets): string | null {
  const n = buf.length;
  let open = false; // a key is being read
  let keyText: string | null = null; // its text, unless it is a plain line's stamp as numbers
  let keyTime = 0;
  let keySerial = 0;
  let keyHasSession = false;
  let plainFrom = -1; // the stamp of the key's first line, when it is a plain line (no node=)
  let plainTo = -1;
  line.reset(buf);
  for (; ls < n; ls = line.end + 1) {
    if (!line.read(ls)) return `a range of session ${session} holds a line that is not an audit record`;
    const plain = buf[ls] !== 0x6e; /* n: node= */
    if (!plain) keys.nodeLines = true;
    if (!plain || plainFrom < 0 || !sameStamp(buf, plainFrom, plainTo, line.from, line.to)) {
      if (open) fileKey(keys, keyText, keyTime, keySerial, keyHasSession);
      open = true;
      keyHasSession = false;
      if (plain && canonicalStamp(buf, line.from, line.to, stamp)) {
        keyText = null;
        keyTime = stamp.timeMs;
        keySerial = stamp.serial;
      } else keyText = eventKey(buf, ls, line.from, line.to);
      plainFrom = plain ? line.from : -1;
      plainTo = line.to;
    }
    // every line that names a session names this one — unset and malformed values too: then
    // each event of a merged range is this session's by whichever record a reader takes
    // (sessionOf takes the first), not only the range's first event (containerOfRange)
    const v = line.ses;
    if (v !== undefined) {
      if (v !== session) return `a range of session ${session} holds ${v === null ? 'a record whose session is unset' : `an event of session ${v}`}`;
      keyHasSession = true;
    }
  }
  if (open) fileKey(keys, keyText, keyTime, keySerial, keyHasSession);
  return null;
}

function fileKey(keys: KeySets, text: string | null, timeMs: number, serial: number, withSession: boolean): void {
  if (text === null) keys.addPair(timeMs, serial, withSession);
  else keys.addText(text, withSession);
}
