/**
 * Caller-controlled text (container names, refs, labels, runtime ids, error messages that quote
 * them) made safe to print on a terminal or write as one log line: it can neither start a new
 * line (forging a journal or log entry), move the cursor (CR, escape sequences), nor reorder
 * what follows (bidi overrides). Printable text, non-ASCII letters included, stays as it is.
 *
 * Escapes are unambiguous: a backslash in the input is doubled, so `\n` in the output always
 * means the input had a newline there.
 */

import { SPACE_LIKE_CLASS } from './space-like';

const NAMED: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t', '\\': '\\\\' };

// C0 controls, backslash, DEL and C1 controls; and every character that prints as a space
// or as nothing, or reorders or breaks the line (space-like.ts: the list search's formats
// escape too), so `web\u200b` cannot print exactly like `web` (outside attack 10, U1) nor
// `web\u2003(contid 5)` as two words. `u`: the class holds property escapes and characters
// above U+FFFF, matched as one code point each.
const UNSAFE = new RegExp(`[\\x00-\\x1f\\\\\\x7f-\\x9f${SPACE_LIKE_CLASS}]`, 'gu');

function escapeOne(ch: string): string {
  const named = NAMED[ch];
  if (named) return named;
  const code = ch.codePointAt(0)!;
  if (code < 0x100) return `\\x${code.toString(16).padStart(2, '0')}`;
  return code < 0x10000 ? `\\u${code.toString(16).padStart(4, '0')}` : `\\u{${code.toString(16)}}`;
}

/** `text` with every unsafe character escaped (see above); the same string when there is none. */
export function escapeText(text: string): string {
  return text.replace(UNSAFE, escapeOne);
}

/** True when `text` prints as itself (no character would be escaped). */
export function isPrintable(text: string): boolean {
  UNSAFE.lastIndex = 0;
  const found = UNSAFE.test(text);
  UNSAFE.lastIndex = 0;
  return !found;
}
