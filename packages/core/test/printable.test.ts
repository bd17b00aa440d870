import fc from 'fast-check';
import { escapeText, isPrintable } from '../src/printable';
import { SPACE_LIKE_CLASS } from '../src/space-like';

const SPACE_LIKE = new RegExp(`[${SPACE_LIKE_CLASS}]`, 'u');
const ANY_SPACE_LIKE = new RegExp(`[${SPACE_LIKE_CLASS}]`, 'gu');
/** Every code point of the shared class (about 4,200, most of them tag characters). */
const SPACE_LIKE_CODES = Array.from({ length: 0x110000 }, (_, c) => c).filter((c) => (c < 0xd800 || c > 0xdfff) && SPACE_LIKE.test(String.fromCodePoint(c)));

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
    // a space of another kind printed raw reads as a word break: `web (contid 5)`
    ['em space', 'web\u2003(contid 5)', 'web\\u2003(contid 5)'],
    ['ideographic space', 'web\u3000x', 'web\\u3000x'],
    ['ogham space mark', 'web\u1680x', 'web\\u1680x'],
    ['narrow no-break and medium mathematical spaces', '\u202f\u205f', '\\u202f\\u205f'],
    ['hangul filler, braille blank', 'web\u3164\u2800', 'web\\u3164\\u2800'],
    ['a tag character (above U+FFFF, prints as nothing)', 'web\u{e0041}', 'web\\u{e0041}'],
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

  it('escapes each character of the shared space-like class, alone, to backslash and its code', () => {
    expect(SPACE_LIKE_CODES.length).toBeGreaterThan(4000);
    for (const c of SPACE_LIKE_CODES) {
      const out = escapeText(String.fromCodePoint(c));
      expect([c, out]).toEqual([c, c < 0x100 ? `\\x${c.toString(16)}` : c < 0x10000 ? `\\u${c.toString(16).padStart(4, '0')}` : `\\u{${c.toString(16)}}`]);
    }
  });

  it('prints none of the space-like class, whatever surrounds them', () => {
    const spaceLike = fc.constantFrom(...SPACE_LIKE_CODES).map((c) => String.fromCodePoint(c));
    fc.assert(
      fc.property(fc.array(fc.oneof(spaceLike, fc.string({ unit: 'binary' }))), (parts) => {
        const out = escapeText(parts.join(''));
        expect(out.match(ANY_SPACE_LIKE)).toBeNull();
        expect(isPrintable(out)).toBe(!/\\/.test(out));
      }),
      { numRuns: 500 },
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
