import { fstatSync, ftruncateSync, readFileSync, writeSync } from 'node:fs';
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

/**
 * writeAllSync of whole lines (records, NDJSON documents) for a command's answer: a write the
 * output refuses part-way (a full disk takes part of a buffer, then ENOSPC) leaves no half line
 * in a file. The error is thrown as writeAllSync's, after cutBackTornLine; a reader that went
 * away (EPIPE) is not cut for: a pipe's reader has what it read (docs/search.md).
 */
export function writeLinesSync(fd: number, buf: Buffer): void {
  try {
    writeAllSync(fd, buf);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPIPE') cutBackTornLine(fd, buf, writtenBefore(err));
    throw err;
  }
}

/**
 * The line a refused write left half written (`written` bytes of `buf` went in) cut off the
 * file `fd` writes, so that what it holds ends with a whole line: a consumer that does not look
 * at the exit status reads a shorter answer, not a record cut in the middle of a field (a raw
 * `exit=3` for `exit=-32`) or a document that does not parse. Only a regular file written at its
 * end (`>`, `>>`): where the descriptor's position is not the end (`1<>FILE`), what follows it
 * is not this process's to cut. Nothing is done when that cannot be known or the cut fails (an
 * append-only file): the caller's error says the answer is incomplete all the same.
 */
export function cutBackTornLine(fd: number, buf: Buffer, written: number): void {
  if (written <= 0 || buf[written - 1] === 0x0a) return;
  const torn = written - (buf.lastIndexOf(0x0a, written - 1) + 1);
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) return;
    // the descriptor's offset (no lseek in Node): /proc/self/fdinfo, read only on this failure
    const pos = /^pos:\s*(\d+)$/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'latin1'));
    if (!pos || Number(pos[1]) !== st.size) return;
    ftruncateSync(fd, st.size - torn);
  } catch {
    // left as it is
  }
}
