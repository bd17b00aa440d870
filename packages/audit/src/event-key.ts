/**
 * Byte-level reading of an audit line's head, `[node=X ]type=T msg=audit(SEC.MSEC:SERIAL): …`,
 * shared by the index builder and the check of what it built: both must group a line with
 * its event, and find its session, in exactly the same way.
 */

const KEY_OPEN = Buffer.from('msg=audit(');
const SES = Buffer.from(' ses=');
const UNSET_SESSION = 4294967295;
/** The head (node, type) is short: `msg=audit(` further in is part of a message, not the stamp. */
const MAX_HEAD = 300;

/** Where the stamp of the line [start, end) lies: `from` after `audit(`, `to` at `)`; null when it is not an audit record. */
export function stampSpan(buf: Buffer, start: number, end: number): { from: number; to: number } | null {
  const open = buf.indexOf(KEY_OPEN, start);
  if (open < 0 || open >= end || open - start > MAX_HEAD) return null;
  const close = buf.indexOf(0x29 /* ) */, open);
  if (close < 0 || close >= end) return null;
  return { from: open + KEY_OPEN.length, to: close };
}

/**
 * The event of a line: its node and its whole stamp (seconds, milliseconds and serial), never
 * the text between them (`type=…` differs per record of one event). The seconds matter: a
 * later boot counts serials from 1 again, so serial and milliseconds alone can name an earlier
 * boot's event, and an outside attack had an event filed under that event's session.
 */
export function eventKey(buf: Buffer, lineStart: number, from: number, to: number): string {
  if (buf[lineStart] === 0x6e /* node= */) {
    const sp = buf.indexOf(0x20, lineStart);
    return `${buf.toString('latin1', lineStart, sp < 0 || sp > from ? from : sp)} ${buf.toString('latin1', from, to)}`;
  }
  return buf.toString('latin1', from, to);
}

/** The first ` ses=N` after the stamp (`to`) and before `end`: N, or -1 when absent or unset. */
export function sessionAfter(buf: Buffer, to: number, end: number): number {
  const at = buf.indexOf(SES, to);
  if (at < 0 || at >= end) return -1;
  let v = 0;
  let i = at + SES.length;
  for (; i < end && buf[i] >= 0x30 && buf[i] <= 0x39 && i - at < 16; i++) v = v * 10 + buf[i] - 0x30;
  return i > at + SES.length && v !== UNSET_SESSION ? v : -1;
}
