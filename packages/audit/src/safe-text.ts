import { isUtf8 } from 'node:buffer';

/**
 * Text from the log for output. Log lines are read as latin1 strings (one char per byte, so
 * byte offsets stay exact); what is printed or put in JSON must be valid UTF-8 text.
 */

/** ausearch's tty escape (auparse AUPARSE_ESC_TTY): a byte as backslash and three octal digits. */
const octal = (b: number): string => `\\${(b >> 6) & 7}${(b >> 3) & 7}${b & 7}`;

/** C0 controls, DEL and C1 controls (U+0080–U+009F, which terminals also obey): never printed raw. */
const CONTROL = /[\x00-\x1f\x7f-\x9f]/;
const ALL_PLAIN = /^[\x20-\x7e]*$/;

export interface TextOptions {
  /** Text output (a terminal may read it): escape control characters too. JSON needs not. */
  escapeControls: boolean;
}

/**
 * The bytes of `binary` (a latin1 string) as text: valid UTF-8 decoded, every byte of an
 * invalid sequence written as `\ooo`, and with `escapeControls` every control character too
 * (the UTF-8 bytes of a C1 control each as `\ooo`), the way ausearch escapes for a tty.
 */
export function bytesToText(binary: string, options: TextOptions): string {
  if (ALL_PLAIN.test(binary)) return binary;
  const buf = Buffer.from(binary, 'latin1');
  if (isUtf8(buf)) {
    const text = buf.toString('utf8');
    if (!options.escapeControls || !CONTROL.test(text)) return text;
  }
  let out = '';
  for (let i = 0; i < buf.length; ) {
    const n = sequenceLength(buf, i);
    if (n === 0) {
      out += octal(buf[i]);
      i++;
      continue;
    }
    const ch = buf.toString('utf8', i, i + n);
    out += options.escapeControls && CONTROL.test(ch) ? [...buf.subarray(i, i + n)].map(octal).join('') : ch;
    i += n;
  }
  return out;
}

/** Decoded text (already a JS string, e.g. from hex) with control characters escaped for a terminal. */
export function escapeControls(text: string): string {
  return CONTROL.test(text) ? bytesToText(Buffer.from(text, 'utf8').toString('latin1'), { escapeControls: true }) : text;
}

/** Length of the valid UTF-8 sequence at `i` (1–4), or 0 when the byte there starts none. */
function sequenceLength(b: Buffer, i: number): number {
  const c = b[i];
  if (c < 0x80) return 1;
  const cont = (k: number): boolean => i + k < b.length && (b[i + k] & 0xc0) === 0x80;
  if (c >= 0xc2 && c <= 0xdf) return cont(1) ? 2 : 0;
  if (c >= 0xe0 && c <= 0xef) {
    if (!cont(1) || !cont(2)) return 0;
    const c1 = b[i + 1];
    if ((c === 0xe0 && c1 < 0xa0) || (c === 0xed && c1 > 0x9f)) return 0; // overlong, surrogate
    return 3;
  }
  if (c >= 0xf0 && c <= 0xf4) {
    if (!cont(1) || !cont(2) || !cont(3)) return 0;
    const c1 = b[i + 1];
    if ((c === 0xf0 && c1 < 0x90) || (c === 0xf4 && c1 > 0x8f)) return 0;
    return 4;
  }
  return 0;
}

/**
 * Raw log bytes copied straight to the output (an index range): returned as they are when
 * they are valid UTF-8 without control characters (the usual case, checked without
 * decoding), else line by line through bytesToText.
 */
export function safeRawBytes(buf: Buffer): Buffer {
  if (isUtf8(buf) && !hasControl(buf)) return buf;
  const text = buf.toString('latin1').split('\n').map((line) => bytesToText(line, { escapeControls: true })).join('\n');
  return Buffer.from(text, 'utf8');
}

/**
 * True when valid UTF-8 `buf` holds a control character other than the newline: a C0 byte, DEL,
 * or a C1 control (0xC2 0x80–0x9F). The index's direct path runs it over every byte it prints,
 * so it reads four bytes a step: a word of printable ASCII (0x20–0x7E) is passed with a few
 * integer operations, any other word byte by byte.
 */
function hasControl(buf: Buffer): boolean {
  const n = buf.length;
  // bytes up to a 4-byte boundary of the memory, then whole words, then the tail
  const head = Math.min(n, (4 - (buf.byteOffset & 3)) & 3);
  for (let i = 0; i < head; i++) if (controlAt(buf, i, n)) return true;
  const words = (n - head) >> 2;
  if (words > 0) {
    const w32 = new Int32Array(buf.buffer, buf.byteOffset + head, words);
    for (let j = 0; j < words; j++) {
      const w = w32[j];
      const del = w ^ 0x7f7f7f7f;
      // a byte ≥ 0x80, a byte < 0x20 (hasless), a byte equal to 0x7F (haszero of w ^ 0x7F…)
      if (((w | ((w - 0x20202020) & ~w) | ((del - 0x01010101) & ~del)) & HIGH_BITS) === 0) continue;
      const at = head + 4 * j;
      for (let i = at; i < at + 4; i++) if (controlAt(buf, i, n)) return true;
    }
  }
  for (let i = head + 4 * words; i < n; i++) if (controlAt(buf, i, n)) return true;
  return false;
}

const HIGH_BITS = 0x80808080 | 0;

/** The byte at `i` is a control character other than the newline (a C1 control: 0xC2 and its next byte). */
function controlAt(buf: Buffer, i: number, n: number): boolean {
  const b = buf[i];
  if ((b - 0x20) >>> 0 < 0x5f) return false; // 0x20–0x7E
  if (b === 0x0a || (b >= 0x80 && b !== 0xc2)) return false;
  if (b !== 0xc2) return true; // C0 or DEL
  const c = i + 1 < n ? buf[i + 1] : 0;
  return c >= 0x80 && c <= 0x9f;
}
