import fc from 'fast-check';
import { bytesToText, safeRawBytes } from '../src/safe-text';

/*
 * Raw bytes copied to the output (the index's direct path, the session scan's raw events) go
 * out as they are only when escaping them line by line would change nothing: valid UTF-8 with
 * no control character but the newline. Whatever the bytes, the result equals the escaped lines.
 */
const escapedLines = (buf: Buffer): Buffer =>
  Buffer.from(
    buf
      .toString('latin1')
      .split('\n')
      .map((line) => bytesToText(line, { escapeControls: true }))
      .join('\n'),
    'utf8',
  );

const piece = fc.oneof(
  fc.constantFrom('type=SYSCALL msg=audit(1.2:3): ses=7 comm="ls"\n', '\n', 'a', '\x1b[31m', '\x07', '\x7f', '\x00', '\t', '\r'),
  fc.string({ unit: 'grapheme', maxLength: 8 }).map((s) => Buffer.from(s, 'utf8').toString('latin1')), // valid UTF-8, any script
  fc.constantFrom('\xc2\x80', '\xc2\x9f', '\xc2\xa0', '\xc2', '\xe4\xb8\x8a', '\xe4\xb8', '\xff', '\xed\xa0\x80', '\xf0\x9f\x98\x80'), // C1, NBSP, cut and invalid sequences
);

describe('safeRawBytes: raw bytes as they are only when escaping would change nothing', () => {
  test('equals the lines escaped one by one, for any bytes (property)', () => {
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 40 }), (pieces) => {
        const buf = Buffer.from(pieces.join(''), 'latin1');
        expect(safeRawBytes(buf).equals(escapedLines(buf))).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  test('the same wherever the bytes lie in memory: any alignment, any length (property)', () => {
    // the control-character test reads four bytes a step from the first 4-byte boundary
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 40 }), fc.nat(7), fc.constantFrom('', '\x01', '\x7f', '\xc2\x85'), (pieces, at, after) => {
        const bytes = Buffer.from(pieces.join(''), 'latin1');
        const backing = Buffer.alloc(at + bytes.length + after.length + 8, 0x41);
        bytes.copy(backing, at);
        backing.write(after, at + bytes.length, 'latin1'); // a control byte just past the view must not count
        const view = backing.subarray(at, at + bytes.length);
        expect(safeRawBytes(view).equals(escapedLines(Buffer.from(bytes)))).toBe(true);
      }),
      { numRuns: 3000 },
    );
  });

  test('clean bytes are the same buffer, not a copy', () => {
    const buf = Buffer.from('type=PATH msg=audit(1.2:3): name="/srv/上"\n', 'utf8');
    expect(safeRawBytes(buf)).toBe(buf);
    expect(safeRawBytes(Buffer.from('a\xc2\x85b\n', 'latin1')).toString('utf8')).toBe('a\\302\\205b\n');
  });
});
