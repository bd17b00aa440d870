import { closeSync, fstatSync, readSync } from 'node:fs';
import { openOrNull } from './reader';

/**
 * Bytes kept around the part of a chunk being processed, so the walk over an event's lines
 * (up to 64 unrelated lines forward, 8 back) stays inside the buffer; an EXECVE with a long
 * argv is split into records of ≤ 7.5 KB each.
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
  /**
   * Instead of decoded lines: each event's lines as raw bytes (enriched parts stripped,
   * newline-terminated) and the event's offset. The buffer is only valid during the call.
   * The needle that found an event says nothing about its session: ` ses=N ` can be text a
   * sender wrote (a user record's msg='…'), so the caller reads the kernel's field.
   */
  onEventBytes?: (bytes: Buffer, offset: number) => void;
}

/**
 * Finds, by byte search alone, the lines of every event that has a kernel-stamped
 * ` ses=S ` for one of `sessions`, plus the other records of those events (same
 * `audit(TIME:SERIAL)` within a window around the hit: PATH, CWD, PROCTITLE carry no ses).
 * Lines are handed out as latin1 strings with their global offsets, ascending within each
 * chunk; a line is never handed out twice. Only these lines are ever decoded.
 */
export function scanSessions(path: string, sessions: number[], onLine: (line: string, offset: number) => void, options: SessionScanOptions = {}): void {
  if (sessions.length === 0) return;
  const needles = sessions.map((s) => Buffer.from(` ses=${s} `));
  const chunk = Math.max(options.chunkBytes ?? 1 << 20, 4 * WINDOW);
  const base = options.base ?? 0;
  const fd = openOrNull(path);
  if (fd === null) return; // rotated away since it was listed: nothing to read
  try {
    const size = options.to ?? fstatSync(fd).size;
    let buf = Buffer.allocUnsafe(chunk + 2 * WINDOW);
    let bufStart = options.from ?? 0; // file offset of buf[0]
    let bufLen = 0;
    let readPos = bufStart;
    let processFrom = bufStart;
    const seen = new Set<number>();
    const out = { buf: Buffer.allocUnsafe(64 << 10) };
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
      const lines: [number, number][] = [];
      const events: [number, number][][] = [];
      const lo = processFrom - bufStart;
      const hi = processTo - bufStart;
      for (const needle of needles) {
        for (let at = buf.indexOf(needle, lo); at >= 0 && at < hi; at = buf.indexOf(needle, at + needle.length)) {
          if (!options.onEventBytes) collectEvent(buf, at, lastNl, lines);
          else {
            const ev: [number, number][] = [];
            collectEvent(buf, at, lastNl, ev);
            if (ev.length > 0) events.push(ev.sort((a, b) => a[0] - b[0]));
          }
        }
      }
      if (options.onEventBytes) {
        events.sort((a, b) => a[0][0] - b[0][0]);
        for (const ev of events) {
          const fresh = ev.filter(([s]) => !seen.has(bufStart + s));
          if (fresh.length === 0) continue;
          for (const [s] of fresh) seen.add(bufStart + s);
          options.onEventBytes(rawLines(buf, fresh, out), base + bufStart + fresh[0][0]);
        }
      }
      lines.sort((a, b) => a[0] - b[0]);
      for (const [s, e] of lines) {
        const off = bufStart + s;
        if (seen.has(off)) continue;
        seen.add(off);
        onLine(buf.toString('latin1', s, e), base + off);
      }
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

const PROCTITLE = Buffer.from('type=PROCTITLE ');

/** The lines, each cut at 0x1D (the enriched part) and newline-terminated, in a reused buffer. */
function rawLines(buf: Buffer, lines: [number, number][], out: { buf: Buffer }): Buffer {
  let need = 0;
  for (const [s, e] of lines) need += e - s + 1;
  if (need > out.buf.length) out.buf = Buffer.allocUnsafe(need);
  let n = 0;
  for (const [s, e] of lines) {
    const gs = buf.indexOf(0x1d, s);
    const end = gs >= 0 && gs < e ? gs : e;
    n += buf.copy(out.buf, n, s, end);
    out.buf[n++] = 10;
  }
  return out.buf.subarray(0, n);
}
/** Lines walked past without a record of the event before giving up (interleaving bound). */
const MAX_GAP_AFTER = 64;
const MAX_GAP_BEFORE = 8;

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

/**
 * Adds the hit's line and the other lines of the same event nearby to `lines`. The kernel
 * writes an event's records together, so the walk goes line by line: forward until the
 * event's PROCTITLE (or a gap of unrelated lines), backward over a few lines (AVC and
 * LOGIN records can precede the record that carries ses=).
 */
function collectEvent(buf: Buffer, at: number, limit: number, lines: [number, number][]): void {
  const start = buf.lastIndexOf(10, at) + 1;
  const end = lineEnd(buf, start, limit);
  const open = headAt(buf, start, end);
  if (open < 0 || open > at) return; // ` ses=` before the head: not a kernel-stamped field
  const close = buf.indexOf(0x29 /* ) */, open);
  if (close < 0 || close > end) return;
  const klen = close + 1 - open;
  const same = (ls: number, le: number): boolean => {
    const h = headAt(buf, ls, le);
    return h >= 0 && h + klen <= le && buf.compare(buf, open, close + 1, h, h + klen) === 0;
  };
  const isProctitle = (ls: number): boolean => {
    const t = headType(buf, ls);
    return t + PROCTITLE.length <= limit && buf.compare(PROCTITLE, 0, PROCTITLE.length, t, t + PROCTITLE.length) === 0;
  };
  lines.push([start, end]);
  if (isProctitle(start)) return;
  for (let ls = end + 1, gap = 0; ls < limit && gap < MAX_GAP_AFTER; ) {
    const le = lineEnd(buf, ls, limit);
    if (same(ls, le)) {
      lines.push([ls, le]);
      gap = 0;
      if (isProctitle(ls)) break;
    } else gap++;
    ls = le + 1;
  }
  for (let le = start - 1, gap = 0; le > 0 && gap < MAX_GAP_BEFORE; ) {
    const ls = buf.lastIndexOf(10, le - 1) + 1;
    if (same(ls, le)) {
      lines.push([ls, le]);
      gap = 0;
    } else gap++;
    le = ls - 1;
  }
}

/** Position of `type=` in a line that may start with `node=X `. */
function headType(buf: Buffer, ls: number): number {
  if (buf[ls] !== 0x6e /* n */) return ls;
  const sp = buf.indexOf(0x20, ls);
  return sp < 0 ? ls : sp + 1;
}
