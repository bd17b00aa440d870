import { PassThrough } from 'node:stream';
import { BoundedLineQueue } from '../src/live/bounded-queue';
import { LineSplitter } from '../src/live/line-splitter';
import { StreamSource } from '../src/live/stream-source';

/**
 * A live reader's input is read in chunks and split into lines; a line that never ends (a
 * stream of bytes without a newline piped into `contid tail --source plugin`) must not grow
 * memory without bound. As search's reader does (its 16 MiB line cap), a line over the cap is
 * dropped and counted — reported as the reader's drops — and the next line is read.
 */
describe('line splitter', () => {
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
    for (let b = await queue.take(100); b; b = await queue.take(100)) got.push(...b);
    expect(got).toEqual(['type=USER msg=audit(1.000:1): a=1', 'type=USER msg=audit(1.000:3): c=1']);
    expect(source.losses().readerDropped).toBe(1);
  });
});
