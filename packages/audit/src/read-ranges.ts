import { closeSync, openSync, readSync } from 'node:fs';

/**
 * Reads the ranges `pairs` = [start0, end0, start1, end1, …] (ascending by start) of a file
 * (its path, or a descriptor open for reading, which stays open), coalescing near ones into
 * one read; `onBytes(buf, fileOffset, k)` gets range k's bytes (shorter when the file ends
 * first). Flat pairs: an index query's ranges are tens of thousands, and an array per range
 * was most of what its checks allocated.
 */
export function readRanges(file: string | number, pairs: ArrayLike<number>, onBytes: (buf: Buffer, fileOffset: number, k: number) => void): void {
  const fd = typeof file === 'number' ? file : openSync(file, 'r');
  try {
    let buf = Buffer.allocUnsafe(1 << 20);
    const count = pairs.length >> 1;
    for (let i = 0; i < count; ) {
      const start = pairs[2 * i];
      let end = pairs[2 * i + 1];
      let j = i + 1;
      // merge ranges whose gap is small: one bigger read beats many syscalls
      while (j < count && pairs[2 * j] - end < 4096 && pairs[2 * j + 1] - start <= buf.length) {
        end = Math.max(end, pairs[2 * j + 1]);
        j++;
      }
      if (end - start > buf.length) buf = Buffer.allocUnsafe(end - start);
      const n = readSync(fd, buf, 0, end - start, start);
      // hand out only the requested ranges inside the merged read
      for (let k = i; k < j; k++) onBytes(buf.subarray(Math.min(n, pairs[2 * k] - start), Math.min(n, pairs[2 * k + 1] - start)), pairs[2 * k], k);
      i = j;
    }
  } finally {
    if (fd !== file) closeSync(fd);
  }
}
