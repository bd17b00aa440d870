/**
 * The bounded queue between a source (reader) and the writer. Durable sources (a file,
 * auditd's pipe) wait for space, so nothing is lost and the producer slows down; the
 * kernel multicast source cannot wait (the kernel would overrun its socket), so what does
 * not fit is dropped and counted, never silently.
 */
export class BoundedLineQueue {
  private items: string[] = [];
  private head = 0;
  private closed = false;
  private spaceWaiters: (() => void)[] = [];
  private dataWaiter: (() => void) | undefined;
  /** Lines refused because the queue was full (lossy offers only). */
  dropped = 0;

  constructor(readonly capacity: number) {
    if (capacity < 1) throw new RangeError('queue capacity must be at least 1');
  }

  get length(): number {
    return this.items.length - this.head;
  }

  /** Takes what fits; counts and drops the rest. Returns the number accepted. */
  offer(lines: readonly string[]): number {
    if (this.closed) return 0;
    const room = Math.max(0, this.capacity - this.length);
    const accepted = Math.min(room, lines.length);
    for (let i = 0; i < accepted; i++) this.items.push(lines[i]);
    this.dropped += lines.length - accepted;
    if (accepted > 0) this.wakeReader();
    return accepted;
  }

  /**
   * Adds every line, waiting for room as needed (back-pressure for durable sources). With
   * `limit`, waits already once that many lines are queued: a source that can be paused
   * needs no deep queue, and lines that wait long survive into V8's old generation.
   */
  async put(lines: readonly string[], limit = this.capacity): Promise<void> {
    const room = Math.max(1, Math.min(limit, this.capacity));
    let i = 0;
    while (i < lines.length && !this.closed) {
      if (this.length >= room) {
        await new Promise<void>((resolve) => this.spaceWaiters.push(resolve));
        continue;
      }
      const n = Math.min(room - this.length, lines.length - i);
      for (let k = 0; k < n; k++) this.items.push(lines[i + k]);
      i += n;
      this.wakeReader();
    }
  }

  /** Up to `max` lines; waits while empty; null once closed and drained. */
  async take(max: number): Promise<string[] | null> {
    while (this.length === 0) {
      if (this.closed) return null;
      await new Promise<void>((resolve) => (this.dataWaiter = resolve));
    }
    const batch = this.items.slice(this.head, this.head + max);
    this.head += batch.length;
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
