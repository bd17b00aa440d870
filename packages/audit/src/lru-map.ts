/**
 * A Map that holds at most `capacity` entries. Reading an entry (`get`) or writing it makes it
 * the most recently used; adding one beyond capacity drops the least recently used. A live
 * reader needs this for everything it keeps per session or per container: an unprivileged
 * user with an unset loginuid can allocate sessions without end, so a table that only grows
 * is a memory leak an attacker can drive. With the default capacity (Infinity) it is a plain
 * Map: a search over a finite log keeps everything and pays nothing for recency.
 */
export class LruMap<K, V> implements Iterable<[K, V]> {
  private readonly map = new Map<K, V>();
  /** The most recently used key (a live reader asks for the same session several times in a row: no move then). */
  private newest: K | undefined = undefined;
  /** Entries dropped for room since creation. */
  evicted = 0;

  constructor(readonly capacity = Infinity) {
    if (!(capacity >= 1)) throw new RangeError('LruMap capacity must be at least 1');
  }

  get size(): number {
    return this.map.size;
  }

  get(key: K): V | undefined {
    const value = this.map.get(key);
    // Map keeps insertion order: re-inserting moves the entry to the most recent end.
    if (value !== undefined && this.capacity !== Infinity && key !== this.newest) {
      this.map.delete(key);
      this.map.set(key, value);
      this.newest = key;
    }
    return value;
  }

  /** Reads without making the entry recent. */
  peek(key: K): V | undefined {
    return this.map.get(key);
  }

  has(key: K): boolean {
    return this.map.has(key);
  }

  set(key: K, value: V): this {
    if (this.capacity !== Infinity && key !== this.newest) this.map.delete(key);
    this.map.set(key, value);
    this.newest = key;
    while (this.map.size > this.capacity) {
      this.map.delete(this.map.keys().next().value as K);
      this.evicted++;
    }
    return this;
  }

  delete(key: K): boolean {
    if (key === this.newest) this.newest = undefined;
    return this.map.delete(key);
  }

  clear(): void {
    this.newest = undefined;
    this.map.clear();
  }

  /** Least recently used first. */
  keys(): IterableIterator<K> {
    return this.map.keys();
  }

  values(): IterableIterator<V> {
    return this.map.values();
  }

  entries(): IterableIterator<[K, V]> {
    return this.map.entries();
  }

  [Symbol.iterator](): IterableIterator<[K, V]> {
    return this.map.entries();
  }
}
