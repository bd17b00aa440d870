import { closeSync, existsSync, fstatSync, ftruncateSync, renameSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { createServer, type Server, type Socket } from 'node:net';
import type { Writable } from 'node:stream';
import { ContidError, clearSocketPath, listenWithMode, makeDirectory, openOutputFile } from '@contid/core';
import type { OutputText } from './output-bytes';
import { writeAllSync, writtenBefore } from '../write-all';

/** Where formatted events go. write() resolves when the sink can take more (back-pressure). */
export interface OutputSink {
  write(text: OutputText): Promise<void>;
  close(): Promise<void>;
  /** Events a sink could not deliver (a slow socket client, a write the disk refused); 0 for sinks that push back instead. */
  dropped(): number;
  /** Opens its file again by name at the next write (SIGHUP: logrotate moved it away); sinks without a file have none. */
  reopen?(): void;
}

function writeWithDrain(stream: Writable, text: OutputText): Promise<void> {
  if (stream.write(text)) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      stream.off('drain', done);
      stream.off('close', done);
      resolve();
    };
    stream.once('drain', done);
    stream.once('close', done);
  });
}

/** stdout (or any stream): waits for 'drain', so a slow reader slows the tail down. */
export class StreamSink implements OutputSink {
  constructor(private readonly stream: Writable) {}
  write(text: OutputText): Promise<void> {
    return writeWithDrain(this.stream, text);
  }
  async close(): Promise<void> {}
  dropped(): number {
    return 0;
  }
}

/**
 * A file that is rotated when it would grow past `rotateSize` bytes: FILE becomes FILE.1,
 * FILE.1 becomes FILE.2 … up to `keep` old files, and a fresh FILE is started.
 *
 * Written with write(2) from this thread: openOutputFile opens regular files only, whose
 * writes go to the page cache, and the write stream's hand-off to libuv's thread pool per
 * batch (a futex wake, a completion through epoll, a promise) cost more than the copy
 * (docs/tail.md, "Issue #21, 2026-12-01").
 */
export class RotatingFileSink implements OutputSink {
  private fd: number;
  /**
   * The file's length when last measured (fstat: at opening, a cut-back, each rotation) plus
   * what this sink wrote since: an estimate that saves an fstat a batch, measured again where
   * it decides a rotation (the file may have been emptied from outside meanwhile).
   */
  private size: number;
  /** The causes already said (a handful: the errors a file system gives). */
  private readonly said = new Set<string>();
  private droppedCount = 0;
  /** The rest of a line a refused write left half written where it could not be cut back. */
  private rest: Buffer | null = null;

  constructor(private readonly path: string, private readonly rotateSize = 0, private readonly keep = 5) {
    const dir = makeDirectory(dirname(path));
    // Rotating takes FILE, FILE.1 … FILE.keep by name again and again: in a directory others may
    // create files in, even a sticky one as /tmp, whoever takes FILE after a rotation made every
    // later event dropped, and a directory FILE.1 beside a dangling link FILE.2 stopped every
    // rotation while FILE grew without bound (attack33). A single file (no rotation) is opened
    // once and stays safe there.
    const mode = rotateSize > 0 ? statSync(dir).mode : 0;
    if ((mode & 0o022) !== 0) {
      throw new ContidError(`refusing to rotate ${path}: others may create files in its directory (mode ${(mode & 0o7777).toString(8)}); choose a directory only you can write, or no --rotate-size`);
    }
    // Never through a link or into a file someone else prepared (see openOutputFile); a file
    // that cannot be opened at start is the caller's error to report.
    this.fd = openOutputFile(path);
    this.size = fstatSync(this.fd).size;
  }

  async write(text: OutputText): Promise<void> {
    const bytes = typeof text === 'string' ? Buffer.from(text, 'utf8') : text;
    if (this.rotateSize > 0 && this.size > 0 && this.size + bytes.length > this.rotateSize) this.rotate(bytes.length);
    // No file (a fresh one could not be created), or the rest of a line a refused write left
    // half written: tried again at every batch, so the output resumes once the file system lets it.
    if (this.fd < 0) this.openFile();
    if (this.fd < 0 || !this.finishLine()) {
      this.droppedCount += countLines(bytes);
      return;
    }
    try {
      writeAllSync(this.fd, bytes);
      this.size += bytes.length;
      if (this.said.size > 0) this.said.clear(); // written again: a later failure is news
    } catch (err) {
      this.refused(bytes, writtenBefore(err));
      this.warn(err);
    }
  }

  async close(): Promise<void> {
    this.closeFile();
  }

  /**
   * The file is closed now and FILE opened afresh by the next write: after logrotate (or an
   * operator) moved it away, events must not go on into the moved file, nor into a removed one
   * nobody can read (`postrotate kill -HUP`, as for auditd and most daemons).
   */
  reopen(): void {
    this.closeFile();
  }

  /** Closes the file; a line still half written in it (see refused) is lost after all, and counted. */
  private closeFile(): void {
    if (this.fd < 0) return;
    if (!this.finishLine()) this.droppedCount++;
    this.rest = null;
    closeSync(this.fd);
    this.fd = -1;
  }

  dropped(): number {
    return this.droppedCount;
  }

  /**
   * A write the file system refused part-way (a full disk) must not end the tail, nor leave half
   * a document for the next batch to be appended to (two documents on one line, neither
   * readable: outside attack 17, F1). The file goes back to its last whole line (O_APPEND: the
   * next write starts there) and the batch's events are counted as dropped. Where it cannot be
   * cut back (an append-only file, `chattr +a`, refuses ftruncate) the documents written whole
   * stay, the half one is finished before anything else is written, and the rest are dropped.
   */
  private refused(bytes: Buffer, written: number): void {
    try {
      if (written > 0) {
        // Back to where this write began (O_APPEND: the file's end then), not to this.size: the
        // file emptied meanwhile (`: >FILE`, logrotate's copytruncate) would be grown by that to
        // its old length, NUL bytes after the half line (attack34). An fstat that fails leaves
        // it uncut, as an append-only file is.
        const began = Math.max(0, fstatSync(this.fd).size - written);
        ftruncateSync(this.fd, began);
        this.size = began;
      }
      this.droppedCount += countLines(bytes);
      return;
    } catch (err) {
      this.warn(err);
    }
    const lineEnd = written === 0 || bytes[written - 1] === 0x0a ? written : bytes.indexOf(0x0a, written) + 1 || bytes.length;
    this.size += written;
    if (lineEnd > written) this.rest = Buffer.from(bytes.subarray(written, lineEnd));
    this.droppedCount += countLines(bytes) - countLines(bytes.subarray(0, lineEnd));
  }

  /** Writes what a refused write left of its last line; false while the file still refuses it. */
  private finishLine(): boolean {
    const rest = this.rest;
    if (rest === null) return true;
    try {
      writeAllSync(this.fd, rest);
      this.size += rest.length;
      this.rest = null;
      return true;
    } catch (err) {
      // what went in of it this time (O_APPEND: a prefix); the rest is tried again
      const more = writtenBefore(err);
      this.size += more;
      this.rest = rest.subarray(more);
      this.warn(err);
      return false;
    }
  }

  /**
   * Each cause once until a batch is written again, in one line: a disk that stays full must not
   * flood stderr, nor one whose write and cut-back fail by turns (two causes, said at each turn).
   */
  private warn(err: unknown): void {
    const message = `contid tail: writing ${this.path}: ${(err as Error).message}`;
    if (this.said.has(message)) return;
    this.said.add(message);
    process.emitWarning(message);
  }

  private openFile(): void {
    try {
      // Never through a link or into a file someone else prepared (see openOutputFile).
      this.fd = openOutputFile(this.path);
      this.size = fstatSync(this.fd).size;
    } catch (err) {
      this.warn(err);
    }
  }

  /** The open file's length when it is still the one named FILE; null when it is not (or cannot be told); 0 with no file open. */
  private lengthIfStillFile(): number | null {
    if (this.fd < 0) return 0;
    try {
      const named = statSync(this.path);
      const open = fstatSync(this.fd);
      return named.ino === open.ino && named.dev === open.dev ? open.size : null;
    } catch {
      return null;
    }
  }

  /** FILE → FILE.1 … (FILE.keep is overwritten) when `incoming` more bytes would take it past the size; the fresh FILE is opened by the next write. */
  private rotate(incoming: number): void {
    const length = this.lengthIfStillFile();
    // FILE removed or moved away meanwhile (by an operator, a logrotate): the file written is no
    // longer FILE. Renaming would fail at every batch after shifting the old files up once more
    // (FILE.keep lost each time) while the events went where no name reaches: a fresh FILE is
    // opened by the next write instead.
    if (length === null) {
      this.closeFile();
      this.size = 0;
      return;
    }
    // What this sink counted is stale when the file was emptied under it (`: >FILE`, logrotate's
    // copytruncate; a cut-back whose fstat failed): rotating by it renamed a file of a few lines
    // to FILE.1 and pushed the oldest kept file out (review34). Measured here, where it decides.
    if (this.fd >= 0) {
      this.size = length;
      if (length === 0 || length + incoming <= this.rotateSize) return;
    }
    try {
      for (let i = this.keep - 1; i >= 1; i--) {
        if (existsSync(`${this.path}.${i}`)) renameSync(`${this.path}.${i}`, `${this.path}.${i + 1}`);
      }
      renameSync(this.path, `${this.path}.1`);
    } catch (err) {
      // Not rotated: the events are written on into the file as it is, over its size.
      this.warn(err);
      return;
    }
    this.closeFile();
    this.size = 0;
  }
}

/**
 * A unix socket server: every client that connects gets the stream from then on. A client
 * that cannot keep up must not stall the kernel reader or the other clients, so its events
 * are dropped and counted once `maxBufferedBytes` are waiting for it.
 */
export class SocketSink implements OutputSink {
  private readonly clients = new Set<Socket>();
  private droppedCount = 0;

  private constructor(private readonly server: Server, private readonly maxBufferedBytes: number) {
    server.on('connection', (client) => {
      this.clients.add(client);
      client.on('error', () => client.destroy());
      client.on('close', () => this.clients.delete(client));
      client.resume(); // clients do not talk to us; discard anything they send
    });
  }

  static async listen(path: string, maxBufferedBytes = 8 * 1024 * 1024): Promise<SocketSink> {
    // Only a stale socket is replaced, and only under directories nobody else can redirect.
    if (!(await clearSocketPath(path))) throw new ContidError(`${path} is in use by another process`);
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) => reject(new ContidError(`cannot listen on ${path}: ${err.code ?? err.message}`)));
      listenWithMode(server, path, 0o600, resolve); // audit data is for root
    });
    return new SocketSink(server, maxBufferedBytes);
  }

  async write(text: OutputText): Promise<void> {
    for (const client of this.clients) {
      if (client.writableLength > this.maxBufferedBytes) this.droppedCount += countLines(text);
      else client.write(text);
    }
  }

  async close(): Promise<void> {
    for (const client of this.clients) client.destroySoon();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  dropped(): number {
    return this.droppedCount;
  }
}

function countLines(text: OutputText): number {
  let n = 0;
  for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) n++;
  return n;
}
