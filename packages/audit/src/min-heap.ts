/**
 * A min-priority queue under `less` (a strict total order on the items held): the
 * reassembler's time-ordered queues.
 *
 * Items mostly come in order (a log's stamps rise): an item not less than the last one queued
 * in order goes to the end of a ring, which stays sorted; any other goes into a binary heap.
 * The least item is the ring's first or the heap's top. Queued in order, the items stay in
 * their slots until they leave. With a binary heap alone (items moved up and down on every
 * push and pop) a full scan's scavenges copied and promoted records of events long gone,
 * most of the reading thread's collection time; with the ring they do not (measured with
 * --trace-gc-nvp, see the commit that made it).
 */
export class MinHeap<T> {
  /** Sorted under `less`, from `head` on (`count` items, wrapping). */
  private ring: (T | undefined)[] = new Array(16).fill(undefined);
  private head = 0;
  private count = 0;
  /** The rest, as a binary heap (`heapSize` items). */
  private heap: (T | undefined)[] = [];
  private heapSize = 0;

  constructor(private readonly less: (a: T, b: T) => boolean) {}

  get size(): number {
    return this.count + this.heapSize;
  }

  /** Every item, in no particular order. */
  values(): readonly T[] {
    const out: T[] = [];
    for (let i = 0; i < this.count; i++) out.push(this.ring[(this.head + i) & (this.ring.length - 1)] as T);
    for (let i = 0; i < this.heapSize; i++) out.push(this.heap[i] as T);
    return out;
  }

  peek(): T | undefined {
    const r = this.count > 0 ? this.ring[this.head] : undefined;
    const h = this.heapSize > 0 ? this.heap[0] : undefined;
    if (r === undefined) return h;
    if (h === undefined) return r;
    return this.less(h, r) ? h : r;
  }

  push(item: T): void {
    const ring = this.ring;
    const mask = ring.length - 1;
    if (this.count === 0 || !this.less(item, ring[(this.head + this.count - 1) & mask] as T)) {
      if (this.count === ring.length) this.growRing();
      this.ring[(this.head + this.count) & (this.ring.length - 1)] = item;
      this.count++;
      return;
    }
    this.heapPush(item);
  }

  pop(): T | undefined {
    const r = this.count > 0 ? this.ring[this.head] : undefined;
    if (r !== undefined && (this.heapSize === 0 || !this.less(this.heap[0] as T, r))) {
      this.ring[this.head] = undefined;
      this.head = (this.head + 1) & (this.ring.length - 1);
      this.count--;
      return r;
    }
    return this.heapPop();
  }

  /** Twice the room, the items in order from slot 0. */
  private growRing(): void {
    const old = this.ring;
    const bigger = new Array<T | undefined>(old.length * 2).fill(undefined);
    for (let i = 0; i < this.count; i++) bigger[i] = old[(this.head + i) & (old.length - 1)];
    this.ring = bigger;
    this.head = 0;
  }

  private heapPush(item: T): void {
    const a = this.heap;
    let i = this.heapSize++;
    while (i > 0) {
      const up = (i - 1) >> 1;
      const parent = a[up] as T;
      if (!this.less(item, parent)) break;
      a[i] = parent;
      i = up;
    }
    a[i] = item;
  }

  private heapPop(): T | undefined {
    if (this.heapSize === 0) return undefined;
    const a = this.heap;
    const top = a[0];
    const n = --this.heapSize;
    const last = a[n] as T;
    a[n] = undefined;
    if (n > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= n) break;
        const r = l + 1;
        const m = r < n && this.less(a[r] as T, a[l] as T) ? r : l;
        if (!this.less(a[m] as T, last)) break;
        a[i] = a[m];
        i = m;
      }
      a[i] = last;
    }
    return top;
  }
}
