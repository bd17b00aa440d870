import { createWriteStream, existsSync, renameSync, statSync, type WriteStream } from 'node:fs';
import { dirname } from 'node:path';
import { createServer, type Server, type Socket } from 'node:net';
import type { Writable } from 'node:stream';
import { ContidError, clearSocketPath, listenWithMode, makeDirectory, openOutputFile } from '@contid/core';
import type { OutputText } from './output-bytes';

/** Where formatted events go. write() resolves when the sink can take more (back-pressure). */
export interface OutputSink {
  write(text: OutputText): Promise<void>;
  close(): Promise<void>;
  /** Events a sink had to drop (a slow socket client); 0 for sinks that push back instead. */
  dropped(): number;
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
 */
export class RotatingFileSink implements OutputSink {
  private stream: WriteStream;
  private size: number;

  constructor(private readonly path: string, private readonly rotateSize = 0, private readonly keep = 5) {
    makeDirectory(dirname(path));
    this.size = existsSync(path) ? statSync(path).size : 0;
    this.stream = this.open();
  }

  async write(text: OutputText): Promise<void> {
    const bytes = Buffer.byteLength(text);
    if (this.rotateSize > 0 && this.size > 0 && this.size + bytes > this.rotateSize) await this.rotate();
    this.size += bytes;
    await writeWithDrain(this.stream, text);
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => this.stream.end(resolve));
  }

  dropped(): number {
    return 0;
  }

  private open(): WriteStream {
    // Never through a link or into a file someone else prepared (see openOutputFile).
    const stream = createWriteStream(this.path, { fd: openOutputFile(this.path) });
    stream.on('error', (err) => process.emitWarning(`contid tail: writing ${this.path}: ${err.message}`));
    return stream;
  }

  private async rotate(): Promise<void> {
    await this.close();
    for (let i = this.keep - 1; i >= 1; i--) {
      if (existsSync(`${this.path}.${i}`)) renameSync(`${this.path}.${i}`, `${this.path}.${i + 1}`);
    }
    renameSync(this.path, `${this.path}.1`);
    this.size = 0;
    this.stream = this.open();
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
