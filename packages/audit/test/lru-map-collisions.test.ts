import fc from 'fast-check';
import type { LruMap as LruMapType } from '../src/lru-map';

/** The LruMap module loaded with its per-process hash seed pinned (Math.random → r): its probe positions are then known. */
function loadWithSeed(r: number): typeof LruMapType {
  let M!: { LruMap: typeof LruMapType };
  const spy = jest.spyOn(Math, 'random').mockReturnValue(r);
  try {
    jest.isolateModules(() => {
      M = require('../src/lru-map');
    });
  } finally {
    spy.mockRestore();
  }
  return M.LruMap;
}

// the module's hash, rebuilt (for a pinned seed) to craft keys that share a probe run
function hashOf(key: string | number, seed: number): number {
  let h: number;
  if (typeof key === 'number') h = (key | 0) ^ Math.imul((key / 4294967296) | 0, 0x27d4eb2d) ^ seed;
  else {
    h = seed ^ 0x811c9dc5;
    for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  }
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return h ^ (h >>> 16);
}

type Key = number | string;
type Op = { kind: 'set'; key: Key; value: number } | { kind: 'get'; key: Key } | { kind: 'peek'; key: Key } | { kind: 'delete'; key: Key } | { kind: 'iterdel'; every: number } | { kind: 'clear' };

function check(LruMap: typeof LruMapType, capacity: number, ops: Op[]): void {
  const lru = new LruMap<Key, number>(capacity);
  const model = new Map<Key, number>();
  let evicted = 0;
  for (const o of ops) {
    if (o.kind === 'set') {
      model.delete(o.key);
      model.set(o.key, o.value);
      if (model.size > capacity) model.delete(model.keys().next().value!), evicted++;
      lru.set(o.key, o.value);
    } else if (o.kind === 'get') {
      const v = model.get(o.key);
      if (model.delete(o.key)) model.set(o.key, v!);
      expect(lru.get(o.key)).toBe(v);
    } else if (o.kind === 'peek') {
      expect(lru.peek(o.key)).toBe(model.get(o.key));
      expect(lru.has(o.key)).toBe(model.has(o.key));
    } else if (o.kind === 'delete') expect(lru.delete(o.key)).toBe(model.delete(o.key));
    else if (o.kind === 'clear') lru.clear(), model.clear();
    else {
      // delete the entry handed, during iteration (what the walk says it allows)
      let n = 0;
      const seen: Key[] = [];
      for (const [k] of lru) {
        seen.push(k);
        if (n++ % o.every === 0) lru.delete(k), model.delete(k);
      }
      expect(seen.length).toBe(n);
    }
    expect(lru.size).toBe(model.size);
  }
  expect([...lru]).toEqual([...model]);
  for (const [k, v] of model) expect(lru.peek(k)).toBe(v);
  expect(lru.evicted).toBe(evicted);
}

describe('LruMap under adversarial keys', () => {
  test('numbers whose hash is the same whatever the seed (the two halves cancel), and numbers/strings alike', () => {
    const LruMap = loadWithSeed(0.123);
    // lo ^ imul(hi, 0x27d4eb2d) fixed: one full hash for all of them
    const same = Array.from({ length: 40 }, (_, hi) => hi * 4294967296 + ((0x1234 ^ Math.imul(hi, 0x27d4eb2d)) >>> 0));
    expect(new Set(same.map((k) => hashOf(k, 7))).size).toBe(1);
    const key = fc.oneof(fc.constantFrom(...same), fc.constantFrom(...same.map(String)), fc.constantFrom(0, NaN, 1.5, 1, '1', '', 0x1234, 2 ** 53 - 1));
    const op: fc.Arbitrary<Op> = fc.oneof(
      { weight: 5, arbitrary: fc.record({ kind: fc.constant('set' as const), key, value: fc.integer() }) },
      { weight: 2, arbitrary: fc.record({ kind: fc.constant('get' as const), key }) },
      { weight: 2, arbitrary: fc.record({ kind: fc.constant('peek' as const), key }) },
      { weight: 2, arbitrary: fc.record({ kind: fc.constant('delete' as const), key }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('iterdel' as const), every: fc.integer({ min: 1, max: 4 }) }) },
    );
    fc.assert(fc.property(fc.integer({ min: 1, max: 70 }), fc.array(op, { maxLength: 600 }), (c, ops) => check(LruMap, c, ops)), { numRuns: 300 });
  });

  test('keys crafted into one probe run of the index (seed pinned), with wrap-around, heavy churn', () => {
    for (const r of [0, 0.5, 0.999]) {
      const seed = (r * 0x100000000) | 0;
      const LruMap = loadWithSeed(r);
      for (const capacity of [1, 2, 3, 16, 17, 64]) {
        // index size: the smallest power of two ≥ 2 × slots (slots ≤ capacity, grown by doubling from 16)
        let size = 2;
        while (size < 2 * Math.min(capacity, 16)) size *= 2;
        const mask = size - 1;
        const full = (() => {
          let s = 2;
          while (s < 2 * capacity) s *= 2;
          return s - 1;
        })();
        // keys whose probe position is the last one (runs wrap to 0) for both the first and the final index
        const nums: number[] = [];
        const strs: string[] = [];
        for (let k = 0; nums.length < 3 * capacity + 8; k++) if ((hashOf(k, seed) & mask) === mask && (hashOf(k, seed) & full) === full) nums.push(k);
        for (let k = 0; strs.length < 3 * capacity + 8; k++) if ((hashOf(`s${k}`, seed) & mask) === mask && (hashOf(`s${k}`, seed) & full) === full) strs.push(`s${k}`);
        const key = fc.constantFrom<Key>(...nums, ...strs);
        const op: fc.Arbitrary<Op> = fc.oneof(
          { weight: 6, arbitrary: fc.record({ kind: fc.constant('set' as const), key, value: fc.integer() }) },
          { weight: 2, arbitrary: fc.record({ kind: fc.constant('get' as const), key }) },
          { weight: 2, arbitrary: fc.record({ kind: fc.constant('peek' as const), key }) },
          { weight: 3, arbitrary: fc.record({ kind: fc.constant('delete' as const), key }) },
          { weight: 1, arbitrary: fc.record({ kind: fc.constant('iterdel' as const), every: fc.integer({ min: 1, max: 3 }) }) },
          { weight: 1, arbitrary: fc.constant({ kind: 'clear' as const }) },
        );
        fc.assert(fc.property(fc.array(op, { maxLength: 400 }), (ops) => check(LruMap, capacity, ops)), { numRuns: 60 });
      }
    }
  });

  test('a session table at its capacity under churn: re-inserted after eviction, every key still found', () => {
    const LruMap = loadWithSeed(0.25);
    const capacity = 1000;
    const lru = new LruMap<number, number>(capacity);
    const model = new Map<number, number>();
    const wrong: [string, number, number][] = [];
    let x = 1;
    for (let i = 0; i < 200_000; i++) {
      x = (x * 48271) % 2147483647;
      const key = x % 3000;
      const v = i;
      if (x % 7 === 0) {
        if (lru.delete(key) !== model.delete(key)) wrong.push(['delete', key, i]);
        continue;
      }
      if (x % 5 === 0) {
        const m = model.get(key);
        if (model.delete(key)) model.set(key, m!);
        if (lru.get(key) !== m) wrong.push(['get', key, i]);
        continue;
      }
      model.delete(key);
      model.set(key, v);
      if (model.size > capacity) model.delete(model.keys().next().value!);
      lru.set(key, v);
    }
    expect(wrong).toEqual([]);
    expect([...lru]).toEqual([...model]);
    expect(Array.from({ length: 3000 }, (_, k) => lru.peek(k))).toEqual(Array.from({ length: 3000 }, (_, k) => model.get(k)));
  });
});
