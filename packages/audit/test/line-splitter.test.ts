import { PassThrough } from 'node:stream';
import { BoundedLineQueue } from '../src/live/bounded-queue';
import { LineBlock, LineSplitter, type QueuedLines } from '../src/live/line-splitter';
import { StreamSource } from '../src/live/stream-source';

/**
 * A live reader's input is read in chunks and split into lines; a line that never ends (a
 * stream of bytes without a newline piped into `contid tail --source plugin`) must not grow
 * memory without bound. As search's reader does (its 16 MiB line cap), a line over the cap is
 * dropped and counted — reported as the reader's drops — and the next line is read.
 */
describe('line splitter', () => {
  test('blocks of bytes (pushBlocks) hold the lines push() gives, with the same cap and count, over random chunkings', () => {
    // what the plugin source now queues: the same lines, as views of the chunks read
    const strings = (items: QueuedLines[]): string[] => items.flatMap((i) => (typeof i === 'string' ? [i] : i.strings()));
    let seed = 7;
    const rand = (n: number): number => ((seed = (seed * 1103515245 + 12345) % 2147483648), seed % n);
    for (let round = 0; round < 300; round++) {
      const parts: string[] = [];
      for (let i = rand(40); i > 0; i--) {
        const kind = rand(10);
        parts.push(kind === 0 ? '' : kind === 1 ? 'x'.repeat(40 + rand(80)) : `type=USER msg=audit(1.000:${i}): a=${'\x1d\xe9\r'.charAt(rand(3))}${i}`);
      }
      const text = parts.join('\n') + (rand(2) ? '\n' : '');
      const bytes = Buffer.from(text, 'latin1');
      const cap = 20 + rand(100);
      const a = new LineSplitter({ maxLineBytes: cap });
      const b = new LineSplitter({ maxLineBytes: cap });
      const viaPush: string[] = [];
      const viaBlocks: QueuedLines[] = [];
      for (let at = 0; at < bytes.length; ) {
        const n = 1 + rand(60);
        const chunk = bytes.subarray(at, at + n);
        viaPush.push(...a.push(chunk));
        const items = b.pushBlocks(chunk, 1 + rand(5));
        for (const item of items) if (item instanceof LineBlock) expect(item.strings().length).toBeLessThanOrEqual(item.lines);
        viaBlocks.push(...items);
        at += n;
      }
      viaPush.push(...a.flush());
      viaBlocks.push(...b.flush());
      expect(strings(viaBlocks)).toEqual(viaPush);
      expect(b.oversized).toBe(a.oversized);
    }
  });

  test('a block split where the queue has room keeps every line once, in order', () => {
    const block = new LineBlock(Buffer.from('a\nbb\n\nccc\nd\n', 'latin1'), 5);
    const [head, rest] = block.split(2);
    expect([head.lines, rest.lines]).toEqual([2, 3]);
    expect([...head.strings(), ...rest.strings()]).toEqual(['a', 'bb', 'ccc', 'd']);
  });

  test('lines across chunks come out whole', () => {
    const s = new LineSplitter();
    expect([...s.push('type=A a'), ...s.push('=1\ntype=B'), ...s.push(' b=2\n'), ...s.flush()]).toEqual(['type=A a=1', 'type=B b=2']);
  });

  test('a line over the cap is dropped and counted, never kept whole; the next line comes out', () => {
    const s = new LineSplitter({ maxLineBytes: 1 << 20 });
    const chunk = Buffer.alloc(64 * 1024, 0x41);
    const out: string[] = [...s.push('type=USER msg=audit(1.000:1): a=')];
    for (let i = 0; i < 100; i++) {
      out.push(...s.push(chunk));
      expect(s.pendingBytes).toBeLessThanOrEqual(1 << 20);
    }
    out.push(...s.push('AAAA\ntype=USER msg=audit(1.000:2): b=1\n'), ...s.flush());
    expect(out).toEqual(['type=USER msg=audit(1.000:2): b=1']);
    expect(s.oversized).toBe(1);
  });

  test('the plugin source reports an endless line as dropped by the reader', async () => {
    const input = new PassThrough();
    const source = new StreamSource(input);
    const queue = new BoundedLineQueue(100);
    await source.start(queue);
    input.write('type=USER msg=audit(1.000:1): a=1\n');
    for (let i = 0; i < 300; i++) input.write(Buffer.alloc(64 * 1024, 0x41)); // 19 MiB, no newline
    input.end('\ntype=USER msg=audit(1.000:3): c=1\n');
    await source.done;
    const got: string[] = [];
    queue.close();
    for (let b = await queue.take(100); b; b = await queue.take(100)) for (const item of b) got.push(...(typeof item === 'string' ? [item] : item.strings()));
    expect(got).toEqual(['type=USER msg=audit(1.000:1): a=1', 'type=USER msg=audit(1.000:3): c=1']);
    expect(source.losses().readerDropped).toBe(1);
  });
});
