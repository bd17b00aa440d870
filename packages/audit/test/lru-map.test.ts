import fc from 'fast-check';
import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';
import { LruMap } from '../src/lru-map';

describe('LruMap (bounded per-session tables)', () => {
  test('behaves like a reference LRU model under any sequence of get/set/delete', () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant('set' as const), key: fc.integer({ min: 0, max: 20 }), value: fc.integer() }),
      fc.record({ kind: fc.constant('get' as const), key: fc.integer({ min: 0, max: 20 }) }),
      fc.record({ kind: fc.constant('delete' as const), key: fc.integer({ min: 0, max: 20 }) }),
    );
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 8 }), fc.array(op, { maxLength: 200 }), (capacity, ops) => {
        const lru = new LruMap<number, number>(capacity);
        // The model: an array of [key, value], least recently used first.
        let model: [number, number][] = [];
        let evicted = 0;
        for (const o of ops) {
          const at = model.findIndex(([k]) => k === o.key);
          if (o.kind === 'set') {
            if (at >= 0) model.splice(at, 1);
            model.push([o.key, o.value]);
            if (model.length > capacity) (model = model.slice(1)), evicted++;
            lru.set(o.key, o.value);
          } else if (o.kind === 'get') {
            const expected = at >= 0 ? model[at][1] : undefined;
            if (at >= 0) model.push(...model.splice(at, 1));
            expect(lru.get(o.key)).toBe(expected);
          } else {
            if (at >= 0) model.splice(at, 1);
            expect(lru.delete(o.key)).toBe(at >= 0);
          }
          expect(lru.size).toBeLessThanOrEqual(capacity);
        }
        expect([...lru]).toEqual(model);
        expect(lru.evicted).toBe(evicted);
      }),
    );
  });

  test('peek does not make an entry recent; unbounded keeps everything in insertion order', () => {
    const lru = new LruMap<string, number>(2);
    lru.set('a', 1).set('b', 2);
    expect(lru.peek('a')).toBe(1);
    lru.set('c', 3);
    expect([...lru.keys()]).toEqual(['b', 'c']);
    const all = new LruMap<number, number>();
    for (let i = 0; i < 10_000; i++) all.set(i, i);
    all.get(0);
    expect(all.size).toBe(10_000);
    expect(all.keys().next().value).toBe(0);
    expect(() => new LruMap(0)).toThrow(RangeError);
  });
});

describe('LruMap: tables of many entries', () => {
  test('number and string keys, capacities that make it grow, any sequence: the reference model', () => {
    const key = fc.oneof(fc.integer({ min: 0, max: 600 }), fc.integer({ min: 0, max: 600 }).map((n) => `n${n}`), fc.constantFrom(2 ** 32 - 1, 2 ** 40 + 7, -5, 1.5, '1', 1, ''));
    const op = fc.oneof(
      fc.record({ kind: fc.constant('set' as const), key, value: fc.integer() }),
      fc.record({ kind: fc.constant('get' as const), key }),
      fc.record({ kind: fc.constant('peek' as const), key }),
      fc.record({ kind: fc.constant('delete' as const), key }),
    );
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 300 }), fc.array(op, { maxLength: 1500 }), (capacity, ops) => {
        const lru = new LruMap<number | string, number>(capacity);
        const model = new Map<number | string, number>(); // insertion order = recency, oldest first
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
          } else expect(lru.delete(o.key)).toBe(model.delete(o.key));
        }
        expect(lru.size).toBe(model.size);
        expect([...lru]).toEqual([...model]);
        expect(lru.evicted).toBe(evicted);
      }),
      { numRuns: 200 },
    );
  });

  test('a full session table keeps no object per entry: under 64 bytes of heap and buffers an entry', () => {
    // A live tail's session tables stay full for as long as it runs: what each entry costs
    // beyond its value is paid 16,384 times per table, and was marked by every full collection.
    v8.setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const used = (): number => {
      gc();
      gc();
      const m = process.memoryUsage();
      return m.heapUsed + m.arrayBuffers;
    };
    const value = {};
    const before = used();
    const capacity = 65_536;
    const lru = new LruMap<number, object>(capacity);
    for (let ses = 1; ses <= 3 * capacity; ses++) {
      lru.set(ses, value);
      if (ses % 3 === 0) lru.get(ses - 100);
    }
    const cost = used() - before;
    expect(lru.size).toBe(capacity);
    expect(cost / capacity).toBeLessThan(64);
  });
});
