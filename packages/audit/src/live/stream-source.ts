import type { Readable } from 'node:stream';
import type { BoundedLineQueue } from './bounded-queue';
import { LineSplitter } from './line-splitter';
import type { LineSource, SourceLosses } from './source';

/**
 * Lines from a stream: auditd's plugin pipe (`format = string` records on stdin). The
 * stream is paused while the queue is full, so auditd buffers (and reports its own
 * overflow) instead of this process growing without bound.
 */
export class StreamSource implements LineSource {
  readonly name: string;
  private finish!: () => void;
  readonly done = new Promise<void>((resolve) => (this.finish = resolve));

  constructor(private readonly input: Readable, name = 'plugin') {
    this.name = name;
  }

  async start(queue: BoundedLineQueue): Promise<void> {
    const splitter = new LineSplitter();
    this.input.setEncoding('latin1');
    this.input.on('data', (chunk: string) => {
      const lines = splitter.push(chunk);
      if (lines.length === 0) return;
      this.input.pause();
      void queue.put(lines).then(() => this.input.resume());
    });
    this.input.once('end', () => {
      void queue.put(splitter.flush()).then(() => this.finish());
    });
    this.input.once('error', () => this.finish());
  }

  async stop(): Promise<void> {
    this.input.destroy();
    this.finish();
  }

  losses(): SourceLosses {
    return { readerDropped: 0, kernelOverruns: 0 };
  }
}
