import { promises as fs } from 'node:fs';
import { ContidError } from '@contid/core';
import type { BoundedLineQueue } from './bounded-queue';
import { LineSplitter } from './line-splitter';
import type { LineSource, SourceLosses } from './source';

export interface FollowOptions {
  /** Read the file from its beginning instead of from its current end. */
  fromStart?: boolean;
  /** How often to look for new data and for rotation when at end of file. */
  pollMs?: number;
}

const CHUNK = 256 * 1024;

/**
 * Follows a log file like `tail -F`, across rotation: when the path names a new inode, the
 * old file is read to its end first, then the new one from its start; when the file shrinks
 * (copytruncate), reading restarts at 0. A file is durable, so a full queue makes the
 * follower wait instead of dropping.
 */
export class FileFollower implements LineSource {
  readonly name = 'file';
  private stopping = false;
  private finish!: () => void;
  readonly done = new Promise<void>((resolve) => (this.finish = resolve));
  private failed: string | null = null;
  /** Completed rotations and truncations seen, for reports and tests. */
  rotations = 0;
  truncations = 0;
  /** Lines over the line cap in the files read before the current one; the current splitter counts its own. */
  private oversized = 0;
  private splitter: LineSplitter | null = null;

  constructor(private readonly path: string, private readonly options: FollowOptions = {}) {}

  async start(queue: BoundedLineQueue): Promise<void> {
    let handle: fs.FileHandle;
    try {
      handle = await fs.open(this.path, 'r');
    } catch (err) {
      throw new ContidError(`cannot follow ${this.path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
    const st = await handle.stat();
    const position = this.options.fromStart ? 0 : st.size;
    void this.run(queue, handle, st.ino, position)
      .catch((err: Error) => (this.failed = `following ${this.path}: ${err.message}`))
      .finally(() => this.finish());
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await this.done;
  }

  losses(): SourceLosses {
    return { readerDropped: this.oversized + (this.splitter?.oversized ?? 0), kernelOverruns: 0 };
  }

  failure(): string | null {
    return this.failed;
  }

  /** A splitter for the next file (or the same file truncated), keeping the count of the last one. */
  private newSplitter(): LineSplitter {
    this.oversized += this.splitter?.oversized ?? 0;
    this.splitter = new LineSplitter();
    return this.splitter;
  }

  private async run(queue: BoundedLineQueue, first: fs.FileHandle, firstIno: number, start: number): Promise<void> {
    let handle = first;
    let ino = firstIno;
    let position = start;
    let splitter = this.newSplitter();
    const buffer = Buffer.alloc(CHUNK);
    const pollMs = this.options.pollMs ?? 100;
    let drainedOld = false;
    try {
      for (;;) {
        const { bytesRead } = await handle.read(buffer, 0, CHUNK, position);
        if (bytesRead > 0) {
          position += bytesRead;
          await queue.put(splitter.push(buffer.subarray(0, bytesRead)));
          continue;
        }
        if (this.stopping) break;
        const now = await fs.stat(this.path).catch(() => undefined);
        if (now && now.ino !== ino) {
          // Rotated. What the writer appended between our last read and the rename is
          // still in the old file: read it to its end once more before switching.
          if (!drainedOld) {
            drainedOld = true;
            continue;
          }
          drainedOld = false;
          await queue.put(splitter.flush());
          await handle.close();
          handle = await fs.open(this.path, 'r');
          ino = (await handle.stat()).ino;
          position = 0;
          splitter = this.newSplitter();
          this.rotations++;
          continue;
        }
        if (now && now.size < position) {
          position = 0;
          splitter = this.newSplitter();
          this.truncations++;
          continue;
        }
        await new Promise((r) => setTimeout(r, pollMs));
      }
      await queue.put(splitter.flush());
    } finally {
      await handle.close();
    }
  }
}
