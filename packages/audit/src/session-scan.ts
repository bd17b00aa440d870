import { closeSync, openSync, readSync } from 'node:fs';

/** Records of one event lie within this many bytes of each other in a log (interleaving bound). */
const WINDOW = 64 << 10;
const KEY_OPEN = Buffer.from('msg=audit(');

export interface SessionScanOptions {
  chunkBytes?: number;
  /** Added to file offsets (position across several files). */
  base?: number;
  from?: number;
  to?: number;
  onBytes?: (n: number) => void;
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
  const chunk = Math.max(options.chunkBytes ?? 8 << 20, 4 * WINDOW);
  const base = options.base ?? 0;
  const fd = openSync(path, 'r');
  try {
    const size = options.to ?? Number(require('node:fs').fstatSync(fd).size);
    let buf = Buffer.allocUnsafe(chunk + 2 * WINDOW);
    let bufStart = options.from ?? 0; // file offset of buf[0]
    let bufLen = 0;
    let readPos = bufStart;
    let processFrom = bufStart;
    const seen = new Set<number>();
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
      const lo = processFrom - bufStart;
      const hi = processTo - bufStart;
      for (const needle of needles) {
        for (let at = buf.indexOf(needle, lo); at >= 0 && at < hi; at = buf.indexOf(needle, at + needle.length)) {
          collectEvent(buf, at, lastNl, lines);
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

/** Adds the hit's line and every line of the same event nearby to `lines` (buffer ranges). */
function collectEvent(buf: Buffer, at: number, limit: number, lines: [number, number][]): void {
  const start = buf.lastIndexOf(10, at) + 1;
  let end = buf.indexOf(10, at);
  if (end < 0 || end > limit) end = limit;
  const open = buf.indexOf(KEY_OPEN, start);
  if (open < 0 || open > at) return; // ` ses=` before the head: not a record of ours
  const close = buf.indexOf(0x29 /* ) */, open);
  if (close < 0 || close > end) return;
  const key = buf.subarray(open, close + 1);
  const from = Math.max(0, start - WINDOW);
  const to = Math.min(limit, end + WINDOW);
  for (let k = buf.indexOf(key, from); k >= 0 && k < to; k = buf.indexOf(key, k + key.length)) {
    const ls = buf.lastIndexOf(10, k) + 1;
    // the key must be this line's head, not text inside another record
    if (k - ls > 300) continue;
    let le = buf.indexOf(10, k);
    if (le < 0 || le > limit) le = limit;
    lines.push([ls, le]);
  }
}
