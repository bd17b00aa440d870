/** Search's line cap (reader.ts): no audit record comes near it; a line over it is not one. */
export const MAX_LINE_BYTES = 16 << 20;

/**
 * Lines a block carries at most (see LineSplitter.pushBlocks): about what the writer takes
 * at a time (live-tail.ts), so a block is not kept for long once its lines are handled.
 */
export const BLOCK_LINES = 128;

/**
 * Complete lines (each ending in \n, latin1 bytes as auditd writes them) as a view of the bytes
 * read: no string is made per line. The pipeline parses records straight from them
 * (parseRecordBytes); the bytes are never written again.
 */
export class LineBlock {
  constructor(
    readonly bytes: Buffer,
    /** Lines in it (empty ones included: the pipeline skips them). */
    readonly lines: number,
  ) {}

  /** Its first `n` lines (0 < n < lines) and the rest, as two blocks of the same bytes. */
  split(n: number): [LineBlock, LineBlock] {
    let end = 0;
    for (let i = 0; i < n; i++) end = this.bytes.indexOf(10, end) + 1;
    return [new LineBlock(this.bytes.subarray(0, end), n), new LineBlock(this.bytes.subarray(end), this.lines - n)];
  }

  /** Its lines as strings (latin1), empty ones left out as LineSplitter.push leaves them. */
  strings(): string[] {
    const out: string[] = [];
    const b = this.bytes;
    for (let start = 0, nl = b.indexOf(10); nl >= 0; start = nl + 1, nl = b.indexOf(10, start)) if (nl > start) out.push(b.toString('latin1', start, nl));
    return out;
  }
}

/** What a source hands the queue: a line as a string, or a block of lines as bytes. */
export type QueuedLines = string | LineBlock;

/** Lines an item stands for (the queue's bound and the received count are in lines). */
export const linesOf = (item: QueuedLines): number => (typeof item === 'string' ? 1 : item.lines);

export interface LineSplitterOptions {
  /** Longer lines are dropped and counted (`oversized`), never kept whole. */
  maxLineBytes?: number;
}

/**
 * Splits a byte stream into lines (latin1: one char per byte, as auditd writes them), keeping
 * a trailing partial line for the next chunk. Each line is a string of its own: lines taken
 * out of a chunk string with split() are slices that keep the whole 64 KB chunk alive, and a
 * live reader keeps pieces of lines (container names, held events) for hours — measured: a
 * replay of 450,000 sessions grew contid tail to 1 GB that way. A line that never ends (bytes
 * without a newline piped in) is bounded by the cap: once over it, its bytes are let go until
 * the next newline, and it is counted for the reader's drop report.
 */
export class LineSplitter {
  /** The pieces of the line still open (copies: a view would keep the caller's chunk alive). */
  private pieces: Buffer[] = [];
  private pending = 0;
  /** Inside a line over the cap: its bytes are skipped up to the next newline. */
  private skipping = false;
  private readonly maxLine: number;
  /** Lines dropped for being longer than the cap. */
  oversized = 0;

  constructor(options: LineSplitterOptions = {}) {
    this.maxLine = options.maxLineBytes ?? MAX_LINE_BYTES;
  }

  /** Bytes of the open line kept now (at most the cap). */
  get pendingBytes(): number {
    return this.pending;
  }

  push(chunk: Buffer | string): string[] {
    const data = typeof chunk === 'string' ? Buffer.from(chunk, 'latin1') : chunk;
    const lines: string[] = [];
    let start = 0;
    for (let nl = data.indexOf(10); nl >= 0; nl = data.indexOf(10, start)) {
      if (this.skipping) this.skipping = false;
      else if (this.pending + (nl - start) > this.maxLine) this.oversized++;
      else if (this.pending > 0) lines.push(Buffer.concat([...this.pieces, data.subarray(start, nl)]).toString('latin1'));
      else if (nl > start) lines.push(data.toString('latin1', start, nl));
      this.pieces = [];
      this.pending = 0;
      start = nl + 1;
    }
    if (start < data.length && !this.skipping) {
      if (this.pending + (data.length - start) > this.maxLine) {
        // Over the cap without its end: let it go now, count it once.
        this.oversized++;
        this.skipping = true;
        this.pieces = [];
        this.pending = 0;
      } else {
        this.pieces.push(Buffer.from(data.subarray(start)));
        this.pending += data.length - start;
      }
    }
    return lines;
  }

  /**
   * push(), but the complete lines inside the chunk come out as blocks of at most `maxLines`
   * lines (views of `chunk`, which the caller must not write again) instead of a string
   * each; only a line begun in an earlier chunk is made a string (its pieces were copies).
   * The same lines either way, the same cap (an oversized line is left out and counted);
   * empty lines stay in a block.
   */
  pushBlocks(chunk: Buffer | string, maxLines = BLOCK_LINES): QueuedLines[] {
    const data = typeof chunk === 'string' ? Buffer.from(chunk, 'latin1') : chunk;
    const items: QueuedLines[] = [];
    let start = 0;
    if (this.pending > 0 || this.skipping) {
      // the open line's end first, through push() (it holds the line's start)
      const nl = data.indexOf(10);
      if (nl < 0) return this.push(data);
      for (const line of this.push(data.subarray(0, nl + 1))) items.push(line);
      start = nl + 1;
    }
    let blockStart = start;
    let lines = 0;
    for (let nl = data.indexOf(10, start); nl >= 0; nl = data.indexOf(10, start)) {
      if (nl - start > this.maxLine) {
        // over the cap: the block ends before it, and it is counted, not kept
        if (lines > 0) items.push(new LineBlock(data.subarray(blockStart, start), lines));
        this.oversized++;
        lines = 0;
        blockStart = nl + 1;
      } else if (++lines === maxLines) {
        items.push(new LineBlock(data.subarray(blockStart, nl + 1), lines));
        lines = 0;
        blockStart = nl + 1;
      }
      start = nl + 1;
    }
    if (lines > 0) items.push(new LineBlock(data.subarray(blockStart, start), lines));
    // what follows the last newline begins the next line: push() keeps a copy of it
    if (start < data.length) this.push(data.subarray(start));
    return items;
  }

  /** What is left when the input ends without a final newline. */
  flush(): string[] {
    const rest = this.pending > 0 ? Buffer.concat(this.pieces).toString('latin1') : '';
    this.pieces = [];
    this.pending = 0;
    this.skipping = false;
    return rest.length > 0 ? [rest] : [];
  }
}
