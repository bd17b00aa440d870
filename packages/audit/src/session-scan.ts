import { closeSync, fstatSync, readSync } from 'node:fs';
import { openOrNull } from './reader';
import { opensSingleRecordEvent } from './reassembler';
import { recordTypeNumber } from './record';

/**
 * Bytes kept around the part of a chunk being processed, so the walk over an event's lines
 * stays inside the buffer (an EXECVE with a long argv is split into records of ≤ 7.5 KB
 * each); an event whose lines lie further apart is walked again on a wider read (collectFar).
 */
const WINDOW = 256 << 10;
const KEY_OPEN = Buffer.from('msg=audit(');

export interface SessionScanOptions {
  chunkBytes?: number;
  /** Added to file offsets (position across several files). */
  base?: number;
  from?: number;
  to?: number;
  onBytes?: (n: number) => void;
  /** The reassembler's time-out (ms of audit time): an event ends where a record this much newer opens. */
  timeoutMs?: number;
  /**
   * Instead of decoded lines: each event's lines as raw bytes (enriched parts stripped,
   * newline-terminated) and the event's offset. The buffer is only valid during the call.
   * The needle that found an event says nothing about its session: ` ses=N ` can be text a
   * sender wrote (a user record's msg='…'), so the caller reads the kernel's field.
   */
  onEventBytes?: (bytes: Buffer, offset: number) => void;
  /** An event whose records reach further than MAX_FAR_BYTES from the hit: the records beyond were not read. */
  onCut?: () => void;
}

/** One event found by the walk: its lines as [start, end) in `buf`, whose byte 0 is at file offset `at`. */
interface Found {
  buf: Buffer;
  at: number;
  lines: [number, number][];
}

/**
 * Finds, by byte search alone, the lines of every event that has a kernel-stamped
 * ` ses=S ` for one of `sessions`, plus the other records of those events (same
 * `audit(TIME:SERIAL)`: PATH, CWD, PROCTITLE carry no ses, an AVC may come before the SYSCALL).
 * Lines are handed out as latin1 strings with their global offsets, ascending within each
 * chunk; a line is never handed out twice. Only these lines are ever decoded.
 */
export function scanSessions(path: string, sessions: number[], onLine: (line: string, offset: number) => void, options: SessionScanOptions = {}): void {
  if (sessions.length === 0) return;
  const needles = sessions.map((s) => Buffer.from(` ses=${s} `));
  const chunk = Math.max(options.chunkBytes ?? 1 << 20, 4 * WINDOW);
  const base = options.base ?? 0;
  const timeoutMs = options.timeoutMs ?? 2000;
  const fd = openOrNull(path);
  if (fd === null) return; // rotated away since it was listed: nothing to read
  try {
    const from = options.from ?? 0;
    const size = options.to ?? fstatSync(fd).size;
    let buf = Buffer.allocUnsafe(chunk + 2 * WINDOW);
    let bufStart = from; // file offset of buf[0]
    let bufLen = 0;
    let readPos = bufStart;
    let processFrom = bufStart;
    const seen = new Set<number>();
    const out = { buf: Buffer.allocUnsafe(64 << 10) };
    const handOut = (events: Found[]): void => {
      if (options.onEventBytes) {
        events.sort((a, b) => a.at + a.lines[0][0] - (b.at + b.lines[0][0]));
        for (const ev of events) {
          const fresh = ev.lines.filter(([s]) => !seen.has(ev.at + s));
          if (fresh.length === 0) continue;
          for (const [s] of fresh) seen.add(ev.at + s);
          options.onEventBytes(rawLines(ev.buf, fresh, out), base + ev.at + fresh[0][0]);
        }
        return;
      }
      const lines = events.flatMap((ev) => ev.lines.map(([s, e]): [Buffer, number, number, number] => [ev.buf, ev.at + s, s, e]));
      lines.sort((a, b) => a[1] - b[1]);
      for (const [b, off, s, e] of lines) {
        if (seen.has(off)) continue;
        seen.add(off);
        onLine(b.toString('latin1', s, e), base + off);
      }
    };
    while (readPos < size || bufLen > 0) {
      if (bufLen + chunk > buf.length) {
        const bigger = Buffer.allocUnsafe(bufLen + chunk);
        buf.copy(bigger, 0, 0, bufLen);
        buf = bigger;
      }
      const n = readPos < size ? readSync(fd, buf, bufLen, Math.min(chunk, size - readPos), readPos) : 0;
      readPos += n;
      bufLen += n;
      options.onBytes?.(n);
      const eof = readPos >= size || n === 0;
      // complete lines only, unless at the end
      const lastNl = eof ? bufLen : buf.lastIndexOf(10, bufLen - 1) + 1;
      const processTo = eof ? bufStart + lastNl : Math.max(processFrom, bufStart + lastNl - WINDOW);
      const events: Found[] = [];
      const far: number[] = [];
      const lo = processFrom - bufStart;
      const hi = processTo - bufStart;
      const bounds = { start: bufStart === from, end: eof };
      for (const needle of needles) {
        for (let at = buf.indexOf(needle, lo); at >= 0 && at < hi; at = buf.indexOf(needle, at + needle.length)) {
          const lines: [number, number][] = [];
          const walk = collectEvent(buf, at, lastNl, bounds, timeoutMs, lines);
          if (walk === 'beyond') far.push(bufStart + at);
          else if (lines.length > 0) events.push({ buf, at: bufStart, lines });
        }
      }
      // events reaching past the buffer: walked again on a wider read of the file
      for (const hit of far) {
        const ev = collectFar(fd, from, size, hit, timeoutMs, options.onCut);
        if (ev.lines.length > 0) events.push(ev);
      }
      handOut(events);
      for (const off of seen) if (off < processTo - 2 * WINDOW) seen.delete(off);
      processFrom = processTo;
      if (eof) break;
      // keep a window before processTo (backward search) and everything after it
      const keepFrom = Math.max(0, processTo - WINDOW - bufStart);
      const keepStart = keepFrom === 0 ? 0 : buf.lastIndexOf(10, keepFrom) + 1;
      buf.copy(buf, 0, keepStart, bufLen);
      bufStart += keepStart;
      bufLen -= keepStart;
    }
  } finally {
    closeSync(fd);
  }
}

/** Largest read, each side of the hit, around one event whose records lie further apart than the scan's buffer. */
const MAX_FAR_BYTES = 16 << 20;

/**
 * The walk of collectEvent on ever wider reads around the hit at file offset `hit`, until
 * it ends inside the read or the read spans the file (or MAX_FAR_BYTES each side).
 */
function collectFar(fd: number, from: number, size: number, hit: number, timeoutMs: number, onCut?: () => void): Found {
  for (let w = 4 * WINDOW; ; w *= 4) {
    const a = Math.max(from, hit - w);
    const b = Math.min(size, hit + w);
    const raw = Buffer.allocUnsafe(b - a);
    const got = raw.subarray(0, readSync(fd, raw, 0, b - a, a));
    // whole lines only: the read may start and end inside one
    const s0 = a === from ? 0 : got.indexOf(10) + 1;
    const e0 = b === size && got.length === b - a ? got.length : got.lastIndexOf(10) + 1;
    const buf = got.subarray(s0, Math.max(s0, e0));
    const lines: [number, number][] = [];
    const bounds = { start: a === from, end: b === size };
    const at = hit - a - s0;
    const walk = at >= 0 && at < buf.length ? collectEvent(buf, at, buf.length, bounds, timeoutMs, lines) : 'done';
    if (walk !== 'done' && !(bounds.start && bounds.end) && w >= MAX_FAR_BYTES) onCut?.();
    if (walk === 'done' || (bounds.start && bounds.end) || w >= MAX_FAR_BYTES) return { buf, at: a + s0, lines };
  }
}

const PROCTITLE = Buffer.from('type=PROCTITLE ');
const EOE = Buffer.from('type=EOE ');

/** The lines, each cut at 0x1D (the enriched part) and newline-terminated, in a reused buffer. */
function rawLines(buf: Buffer, lines: [number, number][], out: { buf: Buffer }): Buffer {
  let need = 0;
  for (const [s, e] of lines) need += e - s + 1;
  if (need > out.buf.length) out.buf = Buffer.allocUnsafe(need);
  let n = 0;
  for (const [s, e] of lines) {
    // searched inside the line only: unbounded, a log without enriched parts had every line
    // searched to the end of the megabyte buffer (most of the raw scan's time)
    const gs = buf.subarray(s, e).indexOf(0x1d);
    const end = gs >= 0 ? s + gs : e;
    n += buf.copy(out.buf, n, s, end);
    out.buf[n++] = 10;
  }
  return out.buf.subarray(0, n);
}

/**
 * Lines of other events walked past without a record of the event before giving up. Forward,
 * until the PROCTITLE every syscall event ends with (records of other CPUs' events interleave;
 * user records and LOGIN are events of their own and walk no further). Backward, only lines
 * of events numbered before the hit's count: the kernel numbers an event when its first record
 * goes out, so a line of a later-numbered event proves that the hit's event began further back
 * (an AVC logged while the syscall ran, its SYSCALL at the exit).
 */
const MAX_GAP_AFTER = 4096;
const MAX_GAP_BEFORE = 32;
/**
 * After the PROCTITLE or an EOE (the kernel's last records of a syscall event), unrelated lines
 * looked at for more records of the event. Neither ends an event in a log file (ausearch groups
 * a record a sender wrote after them, until the time-out): the walk goes on, this far. Records
 * written further from their event than these gaps are not found (known difference).
 */
const MAX_GAP_AFTER_END = 32;

/** Where `msg=audit(` of the line starting at `ls` is, or -1 when the line has no record head. */
function headAt(buf: Buffer, ls: number, le: number): number {
  const at = buf.indexOf(KEY_OPEN, ls);
  return at < 0 || at >= le || at - ls > 300 ? -1 : at;
}

/** The line's end (its newline, or `limit`). */
function lineEnd(buf: Buffer, ls: number, limit: number): number {
  const le = buf.indexOf(10, ls);
  return le < 0 || le > limit ? limit : le;
}

/** A line's stamp `audit(SEC[.MS][:SERIAL])` as numbers; `sec` is -1 when the line has none. */
interface Stamp {
  sec: number;
  serial: number;
}

function stampAt(buf: Buffer, ls: number, le: number, into: Stamp): Stamp {
  into.sec = -1;
  into.serial = 0;
  const h = headAt(buf, ls, le);
  if (h < 0) return into;
  let i = h + KEY_OPEN.length;
  let sec = 0;
  for (; i < le && buf[i] >= 0x30 && buf[i] <= 0x39; i++) sec = sec * 10 + buf[i] - 0x30;
  if (i === h + KEY_OPEN.length) return into;
  while (i < le && buf[i] !== 0x3a /* : */ && buf[i] !== 0x29 /* ) */) i++;
  let serial = 0;
  if (buf[i] === 0x3a) for (i++; i < le && buf[i] >= 0x30 && buf[i] <= 0x39; i++) serial = serial * 10 + buf[i] - 0x30;
  into.sec = sec;
  into.serial = serial;
  return into;
}

/** The record type's name of the line starting at `ls`. */
function typeName(buf: Buffer, ls: number, le: number): string {
  const t = headType(buf, ls) + 5; // after `type=`
  const sp = buf.indexOf(0x20, t);
  return buf.toString('latin1', t, sp < 0 || sp > le ? le : sp);
}

/**
 * Adds the hit's line and the other lines of its event to `lines`, as ausearch groups them
 * (see Reassembler): the records with the hit's stamp, walked line by line both ways, until an
 * event opens whose stamp is `timeoutMs` newer (ausearch ends the event there) or the gap of
 * unrelated lines is too wide (see MAX_GAP_*); forward it ends MAX_GAP_AFTER_END unrelated lines after the PROCTITLE or an EOE.
 * A record of a type that is an event of its own (LOGIN, USER_*) opened first splits the
 * records: the hit's event is the part that holds it. 'beyond': the walk reached the end of
 * `buf` where the file goes on (`bounds` tells where buf[0] and buf[limit] are the file's own
 * ends), so the event may have lines outside it.
 */
function collectEvent(buf: Buffer, at: number, limit: number, bounds: { start: boolean; end: boolean }, timeoutMs: number, lines: [number, number][]): 'done' | 'beyond' {
  const start = buf.lastIndexOf(10, at) + 1;
  const end = lineEnd(buf, start, limit);
  const open = headAt(buf, start, end);
  if (open < 0 || open > at) return 'done'; // ` ses=` before the head: not a kernel-stamped field
  const close = buf.indexOf(0x29 /* ) */, open);
  if (close < 0 || close > end) return 'done';
  const klen = close + 1 - open;
  const same = (ls: number, le: number): boolean => {
    const h = headAt(buf, ls, le);
    return h >= 0 && h + klen <= le && buf.compare(buf, open, close + 1, h, h + klen) === 0;
  };
  const isType = (ls: number, type: Buffer): boolean => {
    const t = headType(buf, ls);
    return t + type.length <= limit && buf.compare(type, 0, type.length, t, t + type.length) === 0;
  };
  const own = stampAt(buf, start, end, { sec: 0, serial: 0 });
  const closesAt = Math.ceil((own.sec * 1000 + timeoutMs) / 1000); // a line this many seconds in ends the event
  const prefix = headType(buf, start) - start; // `node=X ` (serials count per node)
  const sameNode = (ls: number): boolean => headType(buf, ls) - ls === prefix && buf.compare(buf, start, start + prefix, ls, ls + prefix) === 0;
  const other: Stamp = { sec: 0, serial: 0 };
  let beyond = false;
  const found: [number, number][] = [[start, end]];
  // backward
  for (let le = start - 1, gap = 0; ; ) {
    if (le < 0) {
      beyond = !bounds.start;
      break;
    }
    const ls = le === 0 ? 0 : buf.lastIndexOf(10, le - 1) + 1;
    if (same(ls, le)) {
      found.push([ls, le]);
      gap = 0;
    } else {
      stampAt(buf, ls, le, other);
      if (other.sec >= closesAt) break;
      if (other.sec >= 0 && other.serial > own.serial && sameNode(ls)) gap = 0;
      else if (++gap >= MAX_GAP_BEFORE) break;
    }
    le = ls - 1;
  }
  found.reverse();
  // the hit's event, split where a record that is an event of its own opened first
  let first = 0;
  while (first < found.length - 1 && found[first][0] !== start && opensSingleRecordEvent(recordTypeNumber(typeName(buf, found[first][0], found[first][1])))) first++;
  const single = found[first][0] === start && opensSingleRecordEvent(recordTypeNumber(typeName(buf, start, end)));
  if (single) {
    lines.push([start, end]);
    return beyond ? 'beyond' : 'done';
  }
  for (let i = first; i < found.length; i++) lines.push(found[i]);
  // forward
  let ended = isType(start, PROCTITLE) || isType(start, EOE);
  let chase = false; // walking to a record of the event found past the gap
  for (let ls = end + 1, gap = 0; ; ) {
    if (ls >= limit) {
      beyond = beyond || (!bounds.end && !ended);
      break;
    }
    const le = lineEnd(buf, ls, limit);
    if (same(ls, le)) {
      lines.push([ls, le]);
      gap = 0;
      chase = false;
      if (isType(ls, PROCTITLE) || isType(ls, EOE)) ended = true;
    } else {
      stampAt(buf, ls, le, other);
      if (other.sec >= closesAt) break;
      if (++gap >= (ended ? MAX_GAP_AFTER_END : MAX_GAP_AFTER) && !chase) {
        if (ended) break;
        // before its time-out, a record of the event further on is still the event's (ausearch
        // groups it): walk on to it; none in the buffer, the time-out not reached in it either,
        // and the file goes on: the wider read looks further
        const next = nextOfEvent(buf, le + 1, limit, open, close, same);
        if (next >= 0) chase = true;
        else {
          beyond = beyond || (!bounds.end && lastLineSec(buf, limit, other) < closesAt);
          break;
        }
      }
    }
    ls = le + 1;
  }
  return beyond ? 'beyond' : 'done';
}

/**
 * The start of the next line in `buf[from, limit)` with the stamp `buf[open, close]` (a byte
 * search: only its hits are looked at as lines), or -1.
 */
function nextOfEvent(buf: Buffer, from: number, limit: number, open: number, close: number, same: (ls: number, le: number) => boolean): number {
  const key = buf.subarray(open, close + 1);
  for (let at = buf.indexOf(key, from); at >= 0 && at < limit; at = buf.indexOf(key, at + key.length)) {
    const ls = buf.lastIndexOf(10, at) + 1;
    if (ls < from) continue;
    if (same(ls, lineEnd(buf, ls, limit))) return ls;
  }
  return -1;
}

/** The seconds of the last line of `buf[0, limit)` (-1 when it has no stamp). */
function lastLineSec(buf: Buffer, limit: number, into: Stamp): number {
  const le = limit > 0 && buf[limit - 1] === 10 ? limit - 1 : limit;
  const ls = le === 0 ? 0 : buf.lastIndexOf(10, le - 1) + 1;
  return stampAt(buf, ls, le, into).sec;
}

/** Position of `type=` in a line that may start with `node=X `. */
function headType(buf: Buffer, ls: number): number {
  if (buf[ls] !== 0x6e /* n */) return ls;
  const sp = buf.indexOf(0x20, ls);
  return sp < 0 ? ls : sp + 1;
}
