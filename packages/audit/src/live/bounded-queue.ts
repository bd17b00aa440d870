import { linesOf, type QueuedLines } from './line-splitter';

/**
 * The bounded queue between a source (reader) and the writer. Durable sources (a file,
 * auditd's pipe) wait for space, so nothing is lost and the producer slows down; the
 * kernel multicast source cannot wait (the kernel would overrun its socket), so what does
 * not fit is dropped and counted, never silently. Its bound and batches count lines: an item
 * is a line, or a block of lines as bytes (LineBlock) from a source that reads bytes.
 */
export class BoundedLineQueue {
  /** Taken items are cleared (null): a block taken must not stay alive behind the head. */
  private items: (QueuedLines | null)[] = [];
  private head = 0;
  /** Lines in the items from head on. */
  private count = 0;
  private closed = false;
  private spaceWaiters: (() => void)[] = [];
  private dataWaiter: (() => void) | undefined;
  /** Lines refused because the queue was full (lossy offers only). */
  dropped = 0;

  constructor(readonly capacity: number) {
    if (capacity < 1) throw new RangeError('queue capacity must be at least 1');
  }

  /** Lines queued now. */
  get length(): number {
    return this.count;
  }

  /** Takes what fits; counts and drops the rest. Returns the number accepted. */
  offer(lines: readonly string[]): number {
    if (this.closed) return 0;
    const room = Math.max(0, this.capacity - this.length);
    const accepted = Math.min(room, lines.length);
    for (let i = 0; i < accepted; i++) this.items.push(lines[i]);
    this.count += accepted;
    this.dropped += lines.length - accepted;
    if (accepted > 0) this.wakeReader();
    return accepted;
  }

  /**
   * Adds every line, waiting for room as needed (back-pressure for durable sources). With
   * `limit`, waits already once that many lines are queued: a source that can be paused
   * needs no deep queue, and lines that wait long survive into V8's old generation.
   */
  async put(lines: readonly QueuedLines[], limit = this.capacity): Promise<void> {
    const room = Math.max(1, Math.min(limit, this.capacity));
    let i = 0;
    /** The rest of a block that did not fit whole, still to go in. */
    let rest: QueuedLines | null = null;
    while ((rest !== null || i < lines.length) && !this.closed) {
      if (this.count >= room) {
        await new Promise<void>((resolve) => this.spaceWaiters.push(resolve));
        continue;
      }
      while ((rest !== null || i < lines.length) && this.count < room) {
        let item: QueuedLines = rest ?? lines[i++];
        rest = null;
        // a block larger than the room left goes in as far as it fits: the bound is in lines
        if (typeof item !== 'string' && item.lines > room - this.count) [item, rest] = item.split(room - this.count);
        this.items.push(item);
        this.count += linesOf(item);
      }
      this.wakeReader();
    }
  }

  /** Items of up to `max` lines (at least one item); waits while empty; null once closed and drained. */
  async take(max: number): Promise<QueuedLines[] | null> {
    while (this.count === 0) {
      if (this.closed) return null;
      await new Promise<void>((resolve) => (this.dataWaiter = resolve));
    }
    const batch: QueuedLines[] = [];
    let n = 0;
    while (this.head < this.items.length && (batch.length === 0 || n + linesOf(this.items[this.head]!) <= max)) {
      const item = this.items[this.head]!;
      this.items[this.head++] = null;
      batch.push(item);
      n += linesOf(item);
    }
    this.count -= n;
    if (this.head > 4096 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    const waiters = this.spaceWaiters;
    this.spaceWaiters = [];
    for (const w of waiters) w();
    return batch;
  }

  /** No more input: the reader drains what is left, then take() returns null. */
  close(): void {
    this.closed = true;
    this.wakeReader();
    const waiters = this.spaceWaiters;
    this.spaceWaiters = [];
    for (const w of waiters) w();
  }

  private wakeReader(): void {
    const w = this.dataWaiter;
    this.dataWaiter = undefined;
    w?.();
  }
}
