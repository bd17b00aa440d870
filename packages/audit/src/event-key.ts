/**
 * Byte-level reading of an audit line's head, `[node=X ]type=T msg=audit(SEC.MSEC:SERIAL): …`,
 * shared by the index builder and the check of what it built: both must group a line with
 * its event, and find its session, in exactly the same way.
 */

import { findBytes } from './line-bytes';

const KEY_OPEN = Buffer.from('msg=audit(');
const SES = Buffer.from(' ses=');
const UNSET_SESSION = 4294967295;
/** The head (node, type) is short: `msg=audit(` further in is part of a message, not the stamp. */
const MAX_HEAD = 300;

/**
 * Where the stamp of the line [start, end) lies: `from` after `audit(`, `to` at `)`; null when it
 * is not an audit record. Plain loops over the head (called for every line an index is built
 * from or checked against: see line-bytes.ts).
 */
export function stampSpan(buf: Buffer, start: number, end: number): { from: number; to: number } | null {
  const span = { from: 0, to: 0 };
  return stampSpanInto(buf, start, end, span) ? span : null;
}

/** stampSpan() into `span` (no object made: the check of an index's ranges reads every line); false when the line is not an audit record. */
export function stampSpanInto(buf: Buffer, start: number, end: number, span: { from: number; to: number }): boolean {
  const open = findBytes(buf, start, Math.min(end, start + MAX_HEAD + KEY_OPEN.length), KEY_OPEN);
  if (open < 0) return false;
  let close = open + KEY_OPEN.length;
  while (close < end && buf[close] !== 0x29 /* ) */) close++;
  if (close >= end) return false;
  span.from = open + KEY_OPEN.length;
  span.to = close;
  return true;
}

/** True when the stamps [aFrom, aTo) and [bFrom, bTo) of `buf` are the same bytes (lines without `node=`: the same eventKey, told without making it). */
export function sameStamp(buf: Buffer, aFrom: number, aTo: number, bFrom: number, bTo: number): boolean {
  if (aTo - aFrom !== bTo - bFrom) return false;
  for (let k = 0; k < aTo - aFrom; k++) if (buf[aFrom + k] !== buf[bFrom + k]) return false;
  return true;
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
  // searched within the line: unbounded, a line without ses= (PATH, CWD, PROCTITLE) was
  // searched on into the next event's lines
  const found = buf.subarray(to, end).indexOf(SES);
  return found < 0 ? -1 : sessionAt(buf, to + found, end);
}

/** The session written after the ` ses=` at `at` (before `end`): N, or -1 when unset or not digits. */
export function sessionAt(buf: Buffer, at: number, end: number): number {
  let v = 0;
  let i = at + SES.length;
  for (; i < end && buf[i] >= 0x30 && buf[i] <= 0x39 && i - at < 16; i++) v = v * 10 + buf[i] - 0x30;
  return i > at + SES.length && v !== UNSET_SESSION ? v : -1;
}

/** ` ses=`: what sessionAfter() searches for. */
export const SESSION_FIELD: Buffer = SES;
