/**
 * Byte-level reading of an audit line's head, `[node=X ]type=T msg=audit(SEC.MSEC:SERIAL): …`,
 * shared by the index builder and the check of what it built: both must group a line with
 * its event in exactly the same way, and both read its session as a scan does (sessionOfRecordLine).
 */

import { findBytes } from './line-bytes';
import { sessionOfRecordLine } from './record';

const KEY_OPEN = Buffer.from('msg=audit(');
const SES_NAME = Buffer.from('ses=');
/** The head (node, type) is short: `msg=audit(` further in is part of a message, not the stamp. */
const MAX_HEAD = 300;

/**
 * Where the stamp of the line [start, end) lies: `from` after `audit(`, `to` at `)`; null when it
 * is not an audit record. Plain loops over the head (called for every line an index is built
 * from or checked against: see line-bytes.ts).
 */
export function stampSpan(buf: Buffer, start: number, end: number): { from: number; to: number } | null {
  const open = findBytes(buf, start, Math.min(end, start + MAX_HEAD + KEY_OPEN.length), KEY_OPEN);
  if (open < 0) return null;
  let close = open + KEY_OPEN.length;
  while (close < end && buf[close] !== 0x29 /* ) */) close++;
  return close < end ? { from: open + KEY_OPEN.length, to: close } : null;
}

/**
 * The lines of one buffer, read in order as `end = buf.indexOf(10, start)`, stampSpan(buf,
 * start, end) and sessionOfRecordLine(buf, start, end) read each: `end` (its newline), the
 * stamp [from, to) and its session (`ses`: kernelSession's answer, as every decoded path reads
 * it). The check of an index's ranges reads every line it prints this way: one native search
 * for the newline a line, one each for `ses=` and `'` shared by the lines up to the one that has
 * it (a line without either names no session: PATH, CWD, PROCTITLE…), loops over the head.
 */
export class LineHeads {
  end = 0;
  from = 0;
  to = 0;
  ses: number | null | undefined = undefined;
  private buf: Buffer = Buffer.alloc(0);
  /** The first `ses=` at or after the last place searched (buf.length: none). */
  private next = -1;
  /** The first `'` likewise. */
  private nextBody = -1;

  /** Starts reading `buf`, which must end with a newline. */
  reset(buf: Buffer): void {
    this.buf = buf;
    this.next = -1;
    this.nextBody = -1;
  }

  /** Reads the line at `start` (a line start at or after the last one read); false when it is not an audit record. */
  read(start: number): boolean {
    const buf = this.buf;
    const end = buf.indexOf(0x0a, start);
    if (end < 0) return false;
    this.end = end;
    const open = findBytes(buf, start, Math.min(end, start + MAX_HEAD + KEY_OPEN.length), KEY_OPEN);
    if (open < 0) return false;
    let close = open + KEY_OPEN.length;
    while (close < end && buf[close] !== 0x29 /* ) */) close++;
    if (close >= end) return false;
    this.from = open + KEY_OPEN.length;
    this.to = close;
    if (this.next < close) {
      const at = buf.indexOf(SES_NAME, close + 1);
      this.next = at < 0 ? buf.length : at;
    }
    if (this.nextBody < close) {
      // a body's `'`: a byte's search costs far less than a word's
      const at = buf.indexOf(0x27, close + 1);
      this.nextBody = at < 0 ? buf.length : at;
    }
    // no `ses=` and no `'` (so no msg='…' body, whose cut can join one: `ses` + body + `=7`)
    // in the line: no field the split finds is named ses
    this.ses = this.next < end || this.nextBody < end ? sessionOfRecordLine(buf, start, end, this.next) : undefined;
    return true;
  }
}

/**
 * A plain line's stamp `SEC.MSEC:SERIAL` at [from, to) as two numbers — `SEC * 1000 + MSEC` and
 * SERIAL into `into` — when it is written the one way String() writes them (no leading zero,
 * three millisecond digits, SEC ≤ 12 and SERIAL ≤ 15 digits: exact doubles); then two stamps are
 * the same text exactly when their numbers are equal. False otherwise (the text is the key).
 */
export function canonicalStamp(buf: Buffer, from: number, to: number, into: { timeMs: number; serial: number }): boolean {
  let i = from;
  let sec = 0;
  while (i < to && buf[i] >= 0x30 && buf[i] <= 0x39) sec = sec * 10 + buf[i++] - 0x30;
  if (i === from || i - from > 12 || (buf[from] === 0x30 && i - from > 1) || buf[i] !== 0x2e /* . */ || i + 4 >= to) return false;
  let ms = 0;
  for (let k = i + 1; k < i + 4; k++) {
    if (buf[k] < 0x30 || buf[k] > 0x39) return false;
    ms = ms * 10 + buf[k] - 0x30;
  }
  i += 4;
  if (buf[i] !== 0x3a /* : */) return false;
  const s0 = ++i;
  let serial = 0;
  while (i < to && buf[i] >= 0x30 && buf[i] <= 0x39) serial = serial * 10 + buf[i++] - 0x30;
  if (i !== to || i === s0 || i - s0 > 15 || (buf[s0] === 0x30 && i - s0 > 1)) return false;
  into.timeMs = sec * 1000 + ms;
  into.serial = serial;
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
