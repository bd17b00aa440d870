import { BoundedLineQueue } from './bounded-queue';
import type { OutputSink } from './output-sink';
import type { OutputText } from './output-bytes';
import type { LineSource } from './source';
import { linesOf, type QueuedLines } from './line-splitter';

/**
 * What turns raw log lines into output text: parse → reassemble → attribute → filter →
 * format. Supplied by the caller (the search package's stream), so tail and search agree.
 */
export interface EventPipeline {
  /** Feeds lines (strings, or blocks of lines as bytes); returns the formatted events (each ending in \n) completed by them. */
  push(lines: readonly QueuedLines[]): OutputText;
  /** Events whose completion timeout has passed by `nowMs` (records that never got an EOE). */
  expire(nowMs: number): OutputText;
  /** Everything still pending, at the end. */
  flush(): OutputText;
  /** Events sent before they were complete or bound, because what waits is bounded (counted, never dropped). */
  readonly releasedEarly?: number;
  /** Nodes whose boot tracking was let go for room (more `node=` names than it keeps). */
  readonly nodesForgotten?: number;
  /** True when expire/flush left due output for the next call (each call returns a bounded text). */
  more?(): boolean;
}

const EXPIRY_INTERVAL_MS = 250;
/**
 * Lines the pipeline takes at a time. Small: a batch's lines and the text made of them live
 * until the batch is written, and whatever lives across two young-generation collections is
 * copied to the old generation and collected again there (docs/tail.md, "Cost": 1,024-line
 * batches promoted about a third more to the old generation than these).
 */
const WRITE_BATCH_LINES = 128;

export interface LiveTailOptions {
  source: LineSource;
  pipeline: EventPipeline;
  sink: OutputSink;
  /** Lines the queue between reader and writer holds at most. */
  queueCapacity?: number;
  /** How often to report new drops. */
  reportIntervalMs?: number;
  /** Where drop reports go (stderr in the CLI). */
  report: (message: string) => void;
}

export interface TailSummary {
  source: string;
  received: number;
  dropped: number;
  droppedQueue: number;
  droppedReader: number;
  kernelOverruns: number;
  droppedOutput: number;
  /** Events the pipeline sent before their binding could come (see EventPipeline.releasedEarly). */
  releasedEarly: number;
  /** See EventPipeline.nodesForgotten. */
  nodesForgotten: number;
}

/**
 * Runs one source through the pipeline into the sink. The queue is the only buffer between
 * the reader and the writer, so memory stays bounded whatever the consumer does; every loss
 * is counted, reported while running (`dropped N records`) and in the final summary.
 */
export class LiveTail {
  private readonly queue: BoundedLineQueue;
  private received = 0;
  private reportedDrops = 0;
  private reportedOverruns = 0;
  private reportedEarly = 0;
  private reportedForgotten = 0;
  private timer: NodeJS.Timeout | undefined;
  private expiryTimer: NodeJS.Timeout | undefined;
  private writer: Promise<void> | undefined;
  private writeChain: Promise<void> = Promise.resolve();
  private stopping: Promise<TailSummary> | undefined;
  private expiring = false;

  constructor(private readonly options: LiveTailOptions) {
    this.queue = new BoundedLineQueue(options.queueCapacity ?? 100_000);
  }

  /** Resolves once the source is receiving (the moment to print "ready"). */
  async start(): Promise<void> {
    await this.options.source.start(this.queue);
    void this.options.source.done.then(() => this.queue.close());
    this.writer = this.writeLoop();
    // Incomplete events and events waiting for a binding leave on time even when no more
    // records arrive; drop reports come at their own (slower) pace.
    this.expiryTimer = setInterval(() => void this.expireDue(), EXPIRY_INTERVAL_MS);
    this.expiryTimer.unref();
    this.timer = setInterval(() => this.reportDrops(this.summary(), false), this.options.reportIntervalMs ?? 5000);
    this.timer.unref();
  }

  /** Resolves when the source has ended (stdin closed) and everything was written. */
  async finished(): Promise<TailSummary> {
    await this.options.source.done;
    return this.shutdown();
  }

  async stop(): Promise<TailSummary> {
    await this.options.source.stop();
    return this.shutdown();
  }

  /** Why the source stopped on its own, or null (ended normally or stopped). */
  failure(): string | null {
    return this.options.source.failure();
  }

  summary(): TailSummary {
    const l = this.options.source.losses();
    const droppedQueue = this.queue.dropped;
    const droppedOutput = this.options.sink.dropped();
    return {
      source: this.options.source.name,
      received: this.received,
      dropped: droppedQueue + l.readerDropped + droppedOutput,
      droppedQueue,
      droppedReader: l.readerDropped,
      kernelOverruns: l.kernelOverruns,
      droppedOutput,
      releasedEarly: this.options.pipeline.releasedEarly ?? 0,
      nodesForgotten: this.options.pipeline.nodesForgotten ?? 0,
    };
  }

  private shutdown(): Promise<TailSummary> {
    this.stopping ??= this.drainAndClose();
    return this.stopping;
  }

  private async drainAndClose(): Promise<TailSummary> {
    this.queue.close();
    await this.writer;
    if (this.timer) clearInterval(this.timer);
    if (this.expiryTimer) clearInterval(this.expiryTimer);
    const pipeline = this.options.pipeline;
    // piece by piece, each written before the next is made (see LivePipeline.releaseDue)
    do await this.emit(pipeline.flush());
    while (pipeline.more?.());
    await this.writeChain;
    await this.options.sink.close();
    const s = this.summary();
    this.reportDrops(s, true);
    return s;
  }

  private async writeLoop(): Promise<void> {
    for (let batch = await this.queue.take(WRITE_BATCH_LINES); batch; batch = await this.queue.take(WRITE_BATCH_LINES)) {
      for (const item of batch) this.received += linesOf(item);
      await this.emit(this.options.pipeline.push(batch));
    }
  }

  /** Expired and due events, a bounded text at a time, each written before the next is made; one pass at a time. */
  private async expireDue(): Promise<void> {
    if (this.expiring) return;
    this.expiring = true;
    try {
      const pipeline = this.options.pipeline;
      do await this.emit(pipeline.expire(Date.now()));
      while (pipeline.more?.() && !this.stopping);
    } finally {
      this.expiring = false;
    }
  }

  private emit(text: OutputText): Promise<void> {
    if (text.length === 0) return this.writeChain;
    this.writeChain = this.writeChain.then(() => this.options.sink.write(text));
    return this.writeChain;
  }

  private reportDrops(s: TailSummary, final: boolean): void {
    if (final) {
      this.options.report(
        `tail (${s.source}): received ${s.received} records, dropped ${s.dropped}` +
          ` (queue full ${s.droppedQueue}, reader ${s.droppedReader}, output not written ${s.droppedOutput}),` +
          ` kernel socket overruns ${s.kernelOverruns}, sent before their binding could come ${s.releasedEarly}` +
          (s.nodesForgotten > 0 ? `, nodes whose boot tracking was let go ${s.nodesForgotten}` : ''),
      );
      return;
    }
    if (s.nodesForgotten > this.reportedForgotten) {
      this.options.report(
        `more node= names than tail tracks: the boot tracking of ${s.nodesForgotten - this.reportedForgotten} least recently seen node(s) was let go (${s.nodesForgotten} since start); a boot of such a node before its next record is not seen`,
      );
      this.reportedForgotten = s.nodesForgotten;
    }
    if (s.dropped > this.reportedDrops) {
      this.options.report(`dropped ${s.dropped - this.reportedDrops} records (${s.dropped} since start)`);
    }
    if (s.kernelOverruns > this.reportedOverruns) {
      this.options.report(`the kernel overran the audit socket ${s.kernelOverruns - this.reportedOverruns} times: records were lost`);
    }
    if (s.releasedEarly > this.reportedEarly) {
      this.options.report(`${s.releasedEarly - this.reportedEarly} events went out before their binding could come (held events at their bound): they may lack their container`);
    }
    this.reportedDrops = s.dropped;
    this.reportedOverruns = s.kernelOverruns;
    this.reportedEarly = s.releasedEarly;
  }
}
