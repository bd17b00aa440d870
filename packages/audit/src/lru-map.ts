/** One entry of a bounded LruMap, in its recency list. */
interface Entry<K, V> {
  key: K;
  value: V;
  /** Less recently used neighbour (null: the least recently used). */
  older: Entry<K, V> | null;
  /** More recently used neighbour (null: the most recently used). */
  newer: Entry<K, V> | null;
}

/**
 * A Map that holds at most `capacity` entries. Reading an entry (`get`) or writing it makes it
 * the most recently used; adding one beyond capacity drops the least recently used. A live
 * reader needs this for everything it keeps per session or per container: an unprivileged
 * user with an unset loginuid can allocate sessions without end, so a table that only grows
 * is a memory leak an attacker can drive. With the default capacity (Infinity) it is a plain
 * Map: a search over a finite log keeps everything and pays nothing for recency.
 *
 * Bounded, recency is a linked list beside the Map, so a read relinks two entries and leaves
 * the Map alone. (Moving an entry by deleting and re-inserting it in the Map, as before, left
 * a deleted slot per read at the front of V8's ordered table, and every eviction's
 * `keys().next()` walked over them: 11 % of a live tail's CPU, docs/tail.md.) An evicted
 * entry's object is reused for the entry that took its room: a full table allocates nothing.
 */
export class LruMap<K, V> implements Iterable<[K, V]> {
  /** Unbounded: the values themselves. */
  private readonly plain: Map<K, V> | null;
  /** Bounded: the entries of the recency list. */
  private readonly entries_: Map<K, Entry<K, V>> | null;
  private oldest: Entry<K, V> | null = null;
  private newest: Entry<K, V> | null = null;
  /** Entries dropped for room since creation. */
  evicted = 0;

  constructor(readonly capacity = Infinity) {
    if (!(capacity >= 1)) throw new RangeError('LruMap capacity must be at least 1');
    this.plain = capacity === Infinity ? new Map() : null;
    this.entries_ = capacity === Infinity ? null : new Map();
  }

  get size(): number {
    return this.plain !== null ? this.plain.size : this.entries_!.size;
  }

  get(key: K): V | undefined {
    if (this.plain !== null) return this.plain.get(key);
    const e = this.entries_!.get(key);
    if (e === undefined) return undefined;
    if (e !== this.newest) {
      this.unlink(e);
      this.append(e);
    }
    return e.value;
  }

  /** Reads without making the entry recent. */
  peek(key: K): V | undefined {
    return this.plain !== null ? this.plain.get(key) : this.entries_!.get(key)?.value;
  }

  has(key: K): boolean {
    return this.plain !== null ? this.plain.has(key) : this.entries_!.has(key);
  }

  set(key: K, value: V): this {
    if (this.plain !== null) {
      this.plain.set(key, value);
      return this;
    }
    const entries = this.entries_!;
    let e = entries.get(key);
    if (e !== undefined) {
      e.value = value;
      if (e !== this.newest) {
        this.unlink(e);
        this.append(e);
      }
      return this;
    }
    if (entries.size >= this.capacity && this.oldest !== null) {
      // the least recently used makes room, and its object carries the new entry
      e = this.oldest;
      this.unlink(e);
      entries.delete(e.key);
      this.evicted++;
      e.key = key;
      e.value = value;
    } else e = { key, value, older: null, newer: null };
    entries.set(key, e);
    this.append(e);
    return this;
  }

  delete(key: K): boolean {
    if (this.plain !== null) return this.plain.delete(key);
    const e = this.entries_!.get(key);
    if (e === undefined) return false;
    this.unlink(e);
    return this.entries_!.delete(key);
  }

  clear(): void {
    this.plain?.clear();
    this.entries_?.clear();
    this.oldest = this.newest = null;
  }

  /** Least recently used first. */
  keys(): IterableIterator<K> {
    return this.plain !== null ? this.plain.keys() : this.walk((e) => e.key);
  }

  values(): IterableIterator<V> {
    return this.plain !== null ? this.plain.values() : this.walk((e) => e.value);
  }

  entries(): IterableIterator<[K, V]> {
    return this.plain !== null ? this.plain.entries() : this.walk((e): [K, V] => [e.key, e.value]);
  }

  [Symbol.iterator](): IterableIterator<[K, V]> {
    return this.entries();
  }

  private *walk<T>(pick: (e: Entry<K, V>) => T): IterableIterator<T> {
    for (let e = this.oldest; e !== null; ) {
      // the next one is read first: the caller may delete the entry it was handed
      const next: Entry<K, V> | null = e.newer;
      yield pick(e);
      e = next;
    }
  }

  private unlink(e: Entry<K, V>): void {
    if (e.older !== null) e.older.newer = e.newer;
    else this.oldest = e.newer;
    if (e.newer !== null) e.newer.older = e.older;
    else this.newest = e.older;
    e.older = e.newer = null;
  }

  private append(e: Entry<K, V>): void {
    e.older = this.newest;
    e.newer = null;
    if (this.newest !== null) this.newest.newer = e;
    else this.oldest = e;
    this.newest = e;
  }
}
