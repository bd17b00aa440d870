import fc from 'fast-check';
import { forEachLine } from '../src/buffer-lines';

/** The lines forEachLine visits, as text, and whether it walked to the end. */
function walk(text: string, stopAt?: number): { lines: string[]; whole: boolean } {
  const bytes = Buffer.from(text, 'latin1');
  const lines: string[] = [];
  const whole = forEachLine(bytes, (start, end) => {
    lines.push(bytes.toString('latin1', start, end));
    return stopAt === undefined || lines.length < stopAt;
  });
  return { lines, whole };
}

describe('forEachLine: the lines of a buffer (index range, event bytes)', () => {
  test('a last line without a newline is a line; a final newline starts none', () => {
    expect(walk('type=A a=1\ntype=B b=2').lines).toEqual(['type=A a=1', 'type=B b=2']);
    expect(walk('type=A a=1\ntype=B b=2\n').lines).toEqual(['type=A a=1', 'type=B b=2']);
    expect(walk('').lines).toEqual([]);
    expect(walk('\n').lines).toEqual(['']);
  });

  test('empty lines in between are visited, as empty ranges', () => {
    expect(walk('a\n\n\nb\n').lines).toEqual(['a', '', '', 'b']);
  });

  test('returning false stops the walk after that line and says so', () => {
    expect(walk('a\nb\nc\n', 2)).toEqual({ lines: ['a', 'b'], whole: false });
    expect(walk('a\nb\nc\n', 4)).toEqual({ lines: ['a', 'b', 'c'], whole: true });
  });

  test('every buffer: the lines of text.split("\\n"), without the one after a final newline', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom('a', 'b', '\n', '\x1d', ' ')).map((cs) => cs.join('')), (text) => {
        const parts = text.split('\n');
        if (text.endsWith('\n') || text === '') parts.pop();
        expect(walk(text)).toEqual({ lines: parts, whole: true });
      }),
    );
  });
});
