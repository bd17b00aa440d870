import { closeSync, fstatSync, openSync, readSync, readdirSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

/** Called for each line: `buf[start, end)` without the newline; `offset` is its global byte position. */
export type LineHandler = (buf: Buffer, start: number, end: number, offset: number) => void;

export interface ScanOptions {
  chunkBytes?: number;
  /** Lines longer than this are skipped whole (counted via onOversize) without being buffered. */
  maxLineBytes?: number;
  onOversize?: (offset: number, length: number) => void;
  /** Added to file offsets so positions are unique across several files. */
  base?: number;
  /** Read only [from, to) of the file (an index's byte range); `from` must be a line start. */
  from?: number;
  to?: number;
  /**
   * Every read goes into a new buffer, never written again: the bytes of a line handed out
   * stay valid after onLine returns (a full scan's records keep pointing at them).
   */
  keepChunks?: boolean;
}

/** Reads a file in big chunks and hands out lines as byte ranges: nothing is decoded here. */
export function scanLines(path: string, onLine: LineHandler, options: ScanOptions = {}): number {
  const chunk = options.chunkBytes ?? 1 << 20;
  const maxLine = options.maxLineBytes ?? 16 << 20;
  const base = options.base ?? 0;
  const fd = openOrNull(path);
  if (fd === null) return 0; // rotated away since it was listed: nothing to read
  try {
    const end = options.to ?? fstatSync(fd).size;
    let pos = options.from ?? 0;
    let buf = Buffer.allocUnsafe(chunk);
    let carry = 0; // bytes of an unfinished line at the start of buf
    let carryOffset = pos;
    let skipping = false; // inside an oversized line: drop bytes until its newline
    let skipStart = 0;
    while (pos < end) {
      const want = Math.min(buf.length - carry, end - pos);
      const n = readSync(fd, buf, carry, want, pos);
      if (n <= 0) break;
      pos += n;
      const filled = carry + n;
      let start = 0;
      for (;;) {
        const nl = buf.indexOf(10, start);
        if (nl < 0 || nl >= filled) break;
        if (skipping) {
          options.onOversize?.(base + skipStart, carryOffset + nl - skipStart);
          skipping = false;
        } else if (nl - start > maxLine) {
          // the buffer grows in big reads: a line over the cap can arrive whole
          options.onOversize?.(base + carryOffset + start, nl - start);
        } else if (nl > start) onLine(buf, start, nl, base + carryOffset + start);
        start = nl + 1;
      }
      const rest = filled - start;
      // lines handed out of this buffer stay as they are: the next read goes into another one
      if (options.keepChunks && (skipping || rest > maxLine)) buf = Buffer.allocUnsafeSlow(buf.length);
      if (skipping) {
        carry = 0;
        carryOffset = pos;
      } else if (rest > maxLine) {
        skipping = true;
        skipStart = carryOffset + start;
        carry = 0;
        carryOffset = pos;
      } else {
        if (rest >= buf.length / 2 || options.keepChunks) {
          // a long line: grow the buffer so the next read has room
          const bigger = Buffer.allocUnsafeSlow(rest >= buf.length / 2 ? buf.length * 2 : buf.length);
          buf.copy(bigger, 0, start, filled);
          buf = bigger;
        } else buf.copy(buf, 0, start, filled);
        carry = rest;
        carryOffset += start;
      }
    }
    if (skipping) options.onOversize?.(base + skipStart, pos - skipStart);
    else if (carry > maxLine) options.onOversize?.(base + carryOffset, carry);
    else if (carry > 0) onLine(buf, 0, carry, base + carryOffset);
    return end;
  } finally {
    closeSync(fd);
  }
}

/** An fd, or null when the file no longer exists (auditd rotated it away). */
export function openOrNull(path: string): number | null {
  try {
    return openSync(path, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

const ROTATED = /^(.*)\.(\d+)$/;

/**
 * An input list in time order: a directory means its audit.log* files; rotated files
 * (audit.log.N) come oldest first, like auditd numbers them (higher N = older).
 */
export function orderLogFiles(inputs: string[]): string[] {
  const files: string[] = [];
  for (const input of inputs) {
    if (statSync(input).isDirectory()) {
      for (const name of readdirSync(input)) if (/^audit\.log(\.\d+)?$/.test(name)) files.push(join(input, name));
    } else files.push(input);
  }
  const rank = (f: string): [string, number] => {
    const m = ROTATED.exec(basename(f));
    return m ? [join(dirname(f), m[1]), Number(m[2])] : [f, 0];
  };
  return [...new Set(files)].sort((a, b) => {
    const [ba, na] = rank(a);
    const [bb, nb] = rank(b);
    return ba === bb ? nb - na : 0;
  });
}

/** The default input: /var/log/audit/audit.log and its rotations. */
export function defaultLogFiles(dir = '/var/log/audit'): string[] {
  try {
    return orderLogFiles([dir]);
  } catch {
    return [];
  }
}
