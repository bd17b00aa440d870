import { writeSync } from 'node:fs';
import { loadKoffi } from '@contid/core/dist/native-modules';

const POLLOUT = 4;
let poll: ((fds: Buffer, n: number, timeoutMs: number) => number) | null | undefined;
const nap = new Int32Array(new SharedArrayBuffer(4));

/**
 * Sleeps until `fd` takes more bytes (poll(2) for POLLOUT, at most a second): a full
 * non-blocking pipe is waited for, not retried in a loop — the loop burned a core the
 * reader of the pipe needs (on two cores, a third of the interpreting thread's time).
 */
function waitWritable(fd: number): void {
  if (poll === undefined) {
    try {
      poll = loadKoffi().load('libc.so.6').func('int poll(void *fds, unsigned long nfds, int timeout)') as unknown as typeof poll;
    } catch {
      poll = null;
    }
  }
  if (!poll) {
    Atomics.wait(nap, 0, 0, 1);
    return;
  }
  const fds = Buffer.alloc(8); // struct pollfd { int fd; short events; short revents; }
  fds.writeInt32LE(fd, 0);
  fds.writeInt16LE(POLLOUT, 4);
  poll(fds, 1, 1000);
}

/** A writeAllSync that failed part-way: how many bytes of its buffer went in before the error. */
export interface PartialWriteError extends NodeJS.ErrnoException {
  written: number;
}

/**
 * All of `buf` to `fd` with write(2), waiting while a non-blocking pipe is full; EPIPE and other
 * errors thrown, carrying how much went in before them (`written`: a full disk takes part of a
 * buffer, and no fstat afterwards is needed, nor can fail, to know how much).
 */
export function writeAllSync(fd: number, buf: Buffer): void {
  for (let off = 0; off < buf.length; ) {
    try {
      off += writeSync(fd, buf, off);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw Object.assign(err as NodeJS.ErrnoException, { written: off });
      waitWritable(fd);
    }
  }
}

/** How many bytes a failed writeAllSync wrote before it failed (0 for any other error). */
export function writtenBefore(err: unknown): number {
  const written = (err as Partial<PartialWriteError> | null)?.written;
  return typeof written === 'number' ? written : 0;
}
