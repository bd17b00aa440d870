import { writeSync } from 'node:fs';

/** All of `buf` to `fd` with write(2), retried while a non-blocking pipe is full; EPIPE and other errors thrown. */
export function writeAllSync(fd: number, buf: Buffer): void {
  for (let off = 0; off < buf.length; ) {
    try {
      off += writeSync(fd, buf, off);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EAGAIN') continue;
      throw err;
    }
  }
}
