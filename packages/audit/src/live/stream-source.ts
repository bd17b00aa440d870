import type { Readable } from 'node:stream';
import type { BoundedLineQueue } from './bounded-queue';
import { LineSplitter } from './line-splitter';
import type { LineSource, SourceLosses } from './source';

/**
 * Lines the queue holds before the stream is paused. Enough for a few of the writer's
 * batches; a deeper queue only keeps lines alive long enough to be promoted out of V8's
 * young generation (measured: the old 100,000-line queue tripled the heap of a replay).
 */
export const STREAM_QUEUE_LINES = 8192;

/**
 * Lines from a stream: auditd's plugin pipe (`format = string` records on stdin), or a file
 * piped in by hand. When the consumer is slower than the input, the stream is paused — never
 * read and dropped: auditd's pipe then fills and auditd applies its own queue policy
 * (auditd.conf q_depth, overflow_action, disp_qos), which auditd counts and reports, instead
 * of records vanishing inside contid.
 */
export class StreamSource implements LineSource {
  readonly name: string;
  private finish!: () => void;
  readonly done = new Promise<void>((resolve) => (this.finish = resolve));
  private failed: string | null = null;
  private readonly splitter = new LineSplitter();

  constructor(private readonly input: Readable, options: { name?: string } = {}) {
    this.name = options.name ?? 'plugin';
  }

  async start(queue: BoundedLineQueue): Promise<void> {
    const splitter = this.splitter;
    // Paused while a chunk's lines wait for room; chunks are handed on in order.
    let queued = Promise.resolve();
    this.input.on('data', (chunk: Buffer | string) => {
      // blocks of lines as bytes: the pipeline parses records from them, no string per line
      const lines = splitter.pushBlocks(chunk);
      if (lines.length === 0) return;
      this.input.pause();
      queued = queued.then(() => queue.put(lines, STREAM_QUEUE_LINES)).then(() => void this.input.resume());
    });
    this.input.once('end', () => {
      queued = queued.then(() => queue.put(splitter.flush())).then(() => this.finish());
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
    // lines over the line cap (bytes without a newline): not records, but never let go silently
    return { readerDropped: this.splitter.oversized, kernelOverruns: 0 };
  }

  failure(): string | null {
    return this.failed;
  }
}
