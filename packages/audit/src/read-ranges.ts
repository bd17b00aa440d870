import { closeSync, openSync, readSync } from 'node:fs';

/** Reads [start, end) ranges of a file in ascending order, coalescing near ones into one read. */
export function readRanges(path: string, ranges: [number, number][], onBytes: (buf: Buffer, fileOffset: number) => void): void {
  const fd = openSync(path, 'r');
  try {
    let buf = Buffer.allocUnsafe(1 << 20);
    for (let i = 0; i < ranges.length; ) {
      const start = ranges[i][0];
      let end = ranges[i][1];
      let j = i + 1;
      // merge ranges whose gap is small: one bigger read beats many syscalls
      while (j < ranges.length && ranges[j][0] - end < 4096 && ranges[j][1] - start <= buf.length) {
        end = Math.max(end, ranges[j][1]);
        j++;
      }
      if (end - start > buf.length) buf = Buffer.allocUnsafe(end - start);
      const n = readSync(fd, buf, 0, end - start, start);
      // hand out only the requested ranges inside the merged read
      for (let k = i; k < j; k++) onBytes(buf.subarray(ranges[k][0] - start, Math.min(n, ranges[k][1] - start)), ranges[k][0]);
      i = j;
    }
  } finally {
    closeSync(fd);
  }
}
