/** What a live pipeline hands to its sink: UTF-8 bytes (or text, which a sink encodes as UTF-8). */
export type OutputText = string | Buffer;

const INITIAL_BYTES = 1 << 16;
const EMPTY = Buffer.alloc(0);

/**
 * A live pipeline's output, gathered as the UTF-8 bytes the sink writes: a JSON document is
 * copied in from the writer's buffer (json-event.ts) without becoming a string, and one
 * Buffer per call goes to the sink instead of a string per event joined and encoded again
 * (those strings were the largest thing a tail allocated).
 */
export class OutputBytes {
  private buf: Buffer = Buffer.allocUnsafe(INITIAL_BYTES);
  private end = 0;

  /** Bytes gathered since the last take(). */
  get length(): number {
    return this.end;
  }

  appendText(text: string): void {
    if (text.length === 0) return;
    this.room(text.length * 3);
    this.end += this.buf.write(text, this.end, 'utf8');
  }

  appendBytes(bytes: Uint8Array): void {
    this.room(bytes.length);
    this.buf.set(bytes, this.end);
    this.end += bytes.length;
  }

  /** The buffer gathered into (for a writer that appends at `length` itself: see adopt). */
  get buffer(): Buffer {
    return this.buf;
  }

  /** A writer appended to `buffer` up to `end` — into `buf`, `buffer` itself or a larger copy of it. */
  adopt(buf: Buffer, end: number): void {
    this.buf = buf;
    this.end = end;
  }

  /**
   * What was gathered, as a Buffer of its own (the gathering buffer itself, not a copy of it);
   * the gatherer starts again empty, in a new buffer.
   */
  take(): Buffer {
    if (this.end === 0) return EMPTY;
    const taken = this.buf.subarray(0, this.end);
    this.buf = Buffer.allocUnsafe(INITIAL_BYTES);
    this.end = 0;
    return taken;
  }

  private room(n: number): void {
    if (this.end + n <= this.buf.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.end + n));
    this.buf.copy(bigger, 0, 0, this.end);
    this.buf = bigger;
  }
}
