/** Search's line cap (reader.ts): no audit record comes near it; a line over it is not one. */
export const MAX_LINE_BYTES = 16 << 20;

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

  /** What is left when the input ends without a final newline. */
  flush(): string[] {
    const rest = this.pending > 0 ? Buffer.concat(this.pieces).toString('latin1') : '';
    this.pieces = [];
    this.pending = 0;
    this.skipping = false;
    return rest.length > 0 ? [rest] : [];
  }
}
