import { closeSync, constants, openSync, readSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';

/** Linux's O_TMPFILE (with O_DIRECTORY, as open(2) wants it): Node's fs.constants lacks it. */
const O_TMPFILE = 0o20000000 | constants.O_DIRECTORY;

/** A file with no name in `dir`, open for reading and writing, mode 0600; throws where O_TMPFILE cannot be had. */
export function openNameless(dir = tmpdir()): number {
  return openSync(dir, O_TMPFILE | constants.O_RDWR, 0o600);
}

/**
 * A private scratch file with no name: open(2) with O_TMPFILE in the temp directory, mode 0600.
 * No other process can open it by a path, nothing is left behind however the process ends, and
 * its bytes live in the page cache (written back only under memory pressure): bytes read once
 * and needed once more later go through it in a few large reads and writes instead of being
 * read again piece by piece or held in fresh memory (see search.ts, the spooled index way).
 */
export class SpoolFile {
  private size = 0;

  private constructor(private readonly fd: number) {}

  /** A new spool in `dir` (default os.tmpdir()), or null where O_TMPFILE cannot be had (another OS, a file system without it). */
  static open(dir = tmpdir()): SpoolFile | null {
    try {
      return new SpoolFile(openNameless(dir));
    } catch {
      return null;
    }
  }

  /** Appends `buf[start, end)`. */
  append(buf: Buffer, start: number, end: number): void {
    for (let at = start; at < end; ) {
      const n = writeSync(this.fd, buf, at, end - at, this.size);
      at += n;
      this.size += n;
    }
  }

  /** Reads `length` bytes at `position` into `buf` at 0 (all of them: the spool never shrinks). */
  read(buf: Buffer, length: number, position: number): void {
    for (let got = 0; got < length; ) {
      const n = readSync(this.fd, buf, got, length - got, position + got);
      if (n === 0) throw new Error('the spool file ended early');
      got += n;
    }
  }

  close(): void {
    closeSync(this.fd);
  }
}
