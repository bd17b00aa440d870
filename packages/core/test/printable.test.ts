import fc from 'fast-check';
import { escapeText, isPrintable } from '../src/printable';

describe('escapeText', () => {
  it.each([
    ['plain', 'web-1', 'web-1'],
    ['newline (a forged log line)', 'x\ncontid serve: end by pid 1', 'x\\ncontid serve: end by pid 1'],
    ['carriage return', 'ok\rEVIL', 'ok\\rEVIL'],
    ['terminal escape sequence', '\x1b[2J\x1b]0;title\x07', '\\x1b[2J\\x1b]0;title\\x07'],
    ['backslash is doubled', 'a\\nb', 'a\\\\nb'],
    ['NUL and DEL', '\x00\x7f', '\\x00\\x7f'],
    ['C1 CSI', 'a\u009bb', 'a\\x9bb'],
    ['line separator', 'a\u2028b', 'a\\u2028b'],
    ['bidi override', 'abc\u202edcb', 'abc\\u202edcb'],
    ['non-ASCII letters stay', 'café-数据', 'café-数据'],
    // outside attack 10, U1: characters that print as nothing or as a plain space
    ['zero-width space (web\u200b prints as web)', 'web\u200b', 'web\\u200b'],
    ['no-break space', 'a\u00a0contid=1', 'a\\xa0contid=1'],
    ['soft hyphen, word joiner, BOM', '\u00ad\u2060\ufeff', '\\xad\\u2060\\ufeff'],
    ['left-to-right mark', 'a\u200eb', 'a\\u200eb'],
  ])('%s', (_what, input, expected) => {
    expect(escapeText(input)).toBe(expected);
    expect(isPrintable(input)).toBe(input === expected);
  });

  it('never lets a control character through, whatever the input', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (s) => {
        const out = escapeText(s);
        expect(out).not.toMatch(/[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]/);
        expect(isPrintable(out)).toBe(!/\\/.test(out));
      }),
    );
  });

  it('is injective: two different inputs never print the same', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), fc.string({ unit: 'binary' }), (a, b) => {
        if (a !== b) expect(escapeText(a)).not.toBe(escapeText(b));
      }),
    );
  });
});
