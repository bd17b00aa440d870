/**
 * Caller-controlled text (container names, refs, labels, runtime ids, error messages that quote
 * them) made safe to print on a terminal or write as one log line: it can neither start a new
 * line (forging a journal or log entry), move the cursor (CR, escape sequences), nor reorder
 * what follows (bidi overrides). Printable text, non-ASCII letters included, stays as it is.
 *
 * Escapes are unambiguous: a backslash in the input is doubled, so `\n` in the output always
 * means the input had a newline there.
 */

const NAMED: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t', '\\': '\\\\' };

// C0 controls, backslash, DEL, C1 controls, line/paragraph separators, bidi embeddings,
// overrides and isolates; and characters that print as nothing or as a plain space (no-break
// and soft hyphen, zero-width spaces and joiners, LRM/RLM, word joiner, BOM), so `web\u200b`
// cannot print exactly like `web` (outside attack 10, U1).
const UNSAFE = /[\x00-\x1f\\\x7f-\xa0\xad\u180e\u200b-\u200f\u2028\u2029\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]/g;

function escapeOne(ch: string): string {
  const named = NAMED[ch];
  if (named) return named;
  const code = ch.charCodeAt(0);
  return code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
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
