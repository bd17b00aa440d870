import type { Readable } from 'node:stream';
import type { BoundedLineQueue } from './bounded-queue';
import { LineSplitter } from './line-splitter';
import type { LineSource, SourceLosses } from './source';

/**
 * Lines from a stream: auditd's plugin pipe (`format = string` records on stdin).
 * auditd-plugins(5): a plugin must dequeue as fast as it can, or auditd's own queue fills
 * and it stops draining the kernel's backlog — so by default (`lossy`) this source never
 * pauses the pipe: what the bounded queue cannot take is dropped and counted. With
 * `lossy: false` (a file piped in by hand) it pauses the stream instead.
 */
export class StreamSource implements LineSource {
  readonly name: string;
  private finish!: () => void;
  readonly done = new Promise<void>((resolve) => (this.finish = resolve));
  private failed: string | null = null;

  private readonly lossy: boolean;

  constructor(private readonly input: Readable, options: { name?: string; lossy?: boolean } = {}) {
    this.name = options.name ?? 'plugin';
    this.lossy = options.lossy ?? true;
  }

  async start(queue: BoundedLineQueue): Promise<void> {
    const splitter = new LineSplitter();
    this.input.on('data', (chunk: Buffer | string) => {
      const lines = splitter.push(chunk);
      if (lines.length === 0) return;
      if (this.lossy) {
        queue.offer(lines);
        return;
      }
      this.input.pause();
      void queue.put(lines).then(() => this.input.resume());
    });
    this.input.once('end', () => {
      void queue.put(splitter.flush()).then(() => this.finish());
    });
    this.input.once('error', (err) => {
      this.failed = `reading ${this.name} input: ${err.message}`;
      this.finish();
    });
  }

  async stop(): Promise<void> {
    this.input.destroy();
    this.finish();
  }

  losses(): SourceLosses {
    return { readerDropped: 0, kernelOverruns: 0 };
  }

  failure(): string | null {
    return this.failed;
  }
}
