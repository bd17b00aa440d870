import fc from 'fast-check';
import { MinHeap } from '../src/min-heap';

/** Items with a strict total order: a key, then the order they were pushed (as the reassembler's seq). */
interface Item {
  key: number;
  seq: number;
}
const less = (a: Item, b: Item): boolean => a.key < b.key || (a.key === b.key && a.seq < b.seq);

describe('MinHeap (the reassembler queues: a sorted ring for items in order, a heap for the rest)', () => {
  test('pops what a sorted model pops, under any mix of in-order, out-of-order and equal keys', () => {
    const op = fc.oneof(
      // mostly rising keys, as a log's stamps, with jumps back and repeats
      fc.record({ kind: fc.constant('push' as const), step: fc.integer({ min: -5, max: 8 }) }),
      fc.record({ kind: fc.constant('pop' as const) }),
      fc.record({ kind: fc.constant('peek' as const) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 400 }), (ops) => {
        const heap = new MinHeap<Item>(less);
        let model: Item[] = [];
        let key = 0;
        let seq = 0;
        for (const o of ops) {
          if (o.kind === 'push') {
            key += o.step;
            const item = { key, seq: seq++ };
            heap.push(item);
            model.push(item);
            model.sort((a, b) => (less(a, b) ? -1 : less(b, a) ? 1 : 0));
          } else if (o.kind === 'pop') {
            expect(heap.pop()).toBe(model.shift());
          } else expect(heap.peek()).toBe(model[0]);
          expect(heap.size).toBe(model.length);
          expect([...heap.values()].sort((a, b) => a.seq - b.seq)).toEqual([...model].sort((a, b) => a.seq - b.seq));
        }
        while (model.length > 0) expect(heap.pop()).toBe(model.shift());
        expect(heap.pop()).toBeUndefined();
        model = [];
      }),
      { numRuns: 300 },
    );
  });

  test('numbers pushed in any order come out ascending (the reassembler reuses free slots lowest first)', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 1000 }), { maxLength: 300 }), (xs) => {
        const heap = new MinHeap<number>((a, b) => a < b);
        for (const x of xs) heap.push(x);
        const out: number[] = [];
        for (let x = heap.pop(); x !== undefined; x = heap.pop()) out.push(x);
        expect(out).toEqual([...xs].sort((a, b) => a - b));
      }),
    );
  });
});
