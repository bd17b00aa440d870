import fc from 'fast-check';
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
