/** No slot: the end of the recency list. */
const NONE = -1;
/** Slots a bounded table starts with; it doubles as entries come, up to its capacity. */
const FIRST_SLOTS = 16;
/**
 * Mixed into every key's hash, different in each process: the keys (node names, session
 * numbers a user can drive) must not be chosen to fall into one probe chain.
 */
const SEED = (Math.random() * 0x100000000) | 0;

/** A key's 32-bit hash: an integer by its two halves, a string by its characters (FNV-1a), then mixed. */
function hashOf(key: string | number): number {
  let h: number;
  if (typeof key === 'number') h = (key | 0) ^ Math.imul((key / 4294967296) | 0, 0x27d4eb2d) ^ SEED;
  else {
    h = SEED ^ 0x811c9dc5;
    for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  }
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return h ^ (h >>> 16);
}

/** Map's key equality (SameValueZero): NaN is itself, 0 is -0. */
const sameKey = (a: unknown, b: unknown): boolean => a === b || (a !== a && b !== b);

/**
 * A Map that holds at most `capacity` entries. Reading an entry (`get`) or writing it makes it
 * the most recently used; adding one beyond capacity drops the least recently used. A live
 * reader needs this for everything it keeps per session or per container: an unprivileged
 * user with an unset loginuid can allocate sessions without end, so a table that only grows
 * is a memory leak an attacker can drive. With the default capacity (Infinity) it is a plain
 * Map: a search over a finite log keeps everything and pays nothing for recency.
 *
 * Bounded, an entry is a slot: its key and value in two arrays, its recency neighbours and its
 * hash in typed arrays, found through an open-addressing index of slot numbers (linear probing,
 * at most half full). No object per entry and no Map: a live tail's session tables are full
 * (16,384 entries) for as long as it runs, and each entry's object and its Map slot outlived
 * young-generation collections, were marked at every full one, and the Map's table, rebuilt
 * as evictions left deleted slots in it, was a large object of up to a megabyte each time.
 * (Moving an entry by deleting and re-inserting it in a Map, earlier, also left a deleted
 * slot per read that every eviction walked over: docs/tail.md.) The slots grow by doubling up
 * to the capacity, so a table that stays small stays small.
 */
export class LruMap<K extends string | number, V> implements Iterable<[K, V]> {
  /** Unbounded: the values themselves. */
  private readonly plain: Map<K, V> | null;
  private keys_: (K | undefined)[] = [];
  private values_: (V | undefined)[] = [];
  private hashes: Int32Array<ArrayBuffer> = new Int32Array(0);
  /** Less recently used neighbour of a slot (NONE: the least recently used). */
  private older: Int32Array<ArrayBuffer> = new Int32Array(0);
  /** More recently used neighbour (NONE: the most recently used). */
  private newer: Int32Array<ArrayBuffer> = new Int32Array(0);
  /** Open addressing: slot + 1 at a key's probe position, 0 for none. */
  private index: Int32Array<ArrayBuffer> = new Int32Array(0);
  private mask = 0;
  /** Slots freed by delete, to be taken again before any never used. */
  private free: number[] = [];
  /** Slots used at least once (slots below it are live or free). */
  private used = 0;
  private count = 0;
  private oldest = NONE;
  private newest = NONE;
  /** Entries dropped for room since creation. */
  evicted = 0;

  constructor(readonly capacity = Infinity) {
    if (!(capacity >= 1)) throw new RangeError('LruMap capacity must be at least 1');
    this.plain = capacity === Infinity ? new Map() : null;
  }

  get size(): number {
    return this.plain !== null ? this.plain.size : this.count;
  }

  get(key: K): V | undefined {
    if (this.plain !== null) return this.plain.get(key);
    const s = this.find(key, hashOf(key));
    if (s === NONE) return undefined;
    if (s !== this.newest) {
      this.unlink(s);
      this.append(s);
    }
    return this.values_[s];
  }

  /** Reads without making the entry recent. */
  peek(key: K): V | undefined {
    if (this.plain !== null) return this.plain.get(key);
    const s = this.find(key, hashOf(key));
    return s === NONE ? undefined : this.values_[s];
  }

  has(key: K): boolean {
    return this.plain !== null ? this.plain.has(key) : this.find(key, hashOf(key)) !== NONE;
  }

  set(key: K, value: V): this {
    if (this.plain !== null) {
      this.plain.set(key, value);
      return this;
    }
    const h = hashOf(key);
    let s = this.find(key, h);
    if (s !== NONE) {
      this.values_[s] = value;
      if (s !== this.newest) {
        this.unlink(s);
        this.append(s);
      }
      return this;
    }
    if (this.count >= this.capacity && this.oldest !== NONE) {
      // the least recently used makes room, and its slot carries the new entry
      s = this.oldest;
      this.unlink(s);
      this.unindex(s);
      this.count--;
      this.evicted++;
    } else s = this.freeSlot();
    this.keys_[s] = key;
    this.values_[s] = value;
    this.hashes[s] = h;
    this.indexSlot(s, h);
    this.append(s);
    this.count++;
    return this;
  }

  delete(key: K): boolean {
    if (this.plain !== null) return this.plain.delete(key);
    const s = this.find(key, hashOf(key));
    if (s === NONE) return false;
    this.unlink(s);
    this.unindex(s);
    this.keys_[s] = undefined;
    this.values_[s] = undefined;
    this.free.push(s);
    this.count--;
    return true;
  }

  clear(): void {
    if (this.plain !== null) return this.plain.clear();
    this.keys_ = [];
    this.values_ = [];
    this.hashes = this.older = this.newer = this.index = new Int32Array(0);
    this.mask = 0;
    this.free = [];
    this.used = this.count = 0;
    this.oldest = this.newest = NONE;
  }

  /** Least recently used first. */
  keys(): IterableIterator<K> {
    return this.plain !== null ? this.plain.keys() : this.walk((s) => this.keys_[s] as K);
  }

  values(): IterableIterator<V> {
    return this.plain !== null ? this.plain.values() : this.walk((s) => this.values_[s] as V);
  }

  entries(): IterableIterator<[K, V]> {
    return this.plain !== null ? this.plain.entries() : this.walk((s): [K, V] => [this.keys_[s] as K, this.values_[s] as V]);
  }

  [Symbol.iterator](): IterableIterator<[K, V]> {
    return this.entries();
  }

  private *walk<T>(pick: (s: number) => T): IterableIterator<T> {
    for (let s = this.oldest; s !== NONE; ) {
      // the next one is read first: the caller may delete the entry it was handed
      const next = this.newer[s];
      yield pick(s);
      s = next;
    }
  }

  /** The slot holding `key` (hash `h`), or NONE. */
  private find(key: K, h: number): number {
    const index = this.index;
    const mask = this.mask;
    if (index.length === 0) return NONE;
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const s = index[i] - 1;
      if (s === NONE) return NONE;
      if (this.hashes[s] === h && sameKey(this.keys_[s], key)) return s;
    }
  }

  private indexSlot(s: number, h: number): void {
    const index = this.index;
    const mask = this.mask;
    let i = h & mask;
    while (index[i] !== 0) i = (i + 1) & mask;
    index[i] = s + 1;
  }

  /** Takes slot `s` out of the index, moving back the entries of its probe run that may fill its place. */
  private unindex(s: number): void {
    const index = this.index;
    const mask = this.mask;
    let i = this.hashes[s] & mask;
    while (index[i] !== s + 1) i = (i + 1) & mask;
    for (let j = (i + 1) & mask; index[j] !== 0; j = (j + 1) & mask) {
      const home = this.hashes[index[j] - 1] & mask;
      // an entry stays where it is when its home lies cyclically in (i, j]
      if (i <= j ? i < home && home <= j : i < home || home <= j) continue;
      index[i] = index[j];
      i = j;
    }
    index[i] = 0;
  }

  /** A slot for a new entry: a freed one, else one never used (the slots doubled when all are). */
  private freeSlot(): number {
    const freed = this.free.pop();
    if (freed !== undefined) return freed;
    if (this.used === this.older.length) this.grow();
    return this.used++;
  }

  private grow(): void {
    const n = Math.min(Math.max(FIRST_SLOTS, this.older.length * 2), Math.ceil(this.capacity));
    const widen = (a: Int32Array): Int32Array<ArrayBuffer> => {
      const b = new Int32Array(n);
      b.set(a);
      return b;
    };
    this.hashes = widen(this.hashes);
    this.older = widen(this.older);
    this.newer = widen(this.newer);
    // new Array(n): fast holey elements (lengthening an empty array could make it a dictionary)
    const keys: (K | undefined)[] = new Array(n);
    const values: (V | undefined)[] = new Array(n);
    for (let s = 0; s < this.used; s++) {
      keys[s] = this.keys_[s];
      values[s] = this.values_[s];
    }
    this.keys_ = keys;
    this.values_ = values;
    let size = 2;
    while (size < n * 2) size *= 2;
    this.index = new Int32Array(size);
    this.mask = size - 1;
    for (let s = this.oldest; s !== NONE; s = this.newer[s]) this.indexSlot(s, this.hashes[s]);
  }

  private unlink(s: number): void {
    const older = this.older[s];
    const newer = this.newer[s];
    if (older !== NONE) this.newer[older] = newer;
    else this.oldest = newer;
    if (newer !== NONE) this.older[newer] = older;
    else this.newest = older;
    this.older[s] = this.newer[s] = NONE;
  }

  private append(s: number): void {
    this.older[s] = this.newest;
    this.newer[s] = NONE;
    if (this.newest !== NONE) this.newer[this.newest] = s;
    else this.oldest = s;
    this.newest = s;
  }
}
