import { readRanges } from './read-ranges';
import { bytesAt, typeAt } from './line-bytes';
import { LruMap } from './lru-map';

/**
 * Boots seen in the log itself. The kernel numbers its records with one counter from boot
 * (`audit(SEC.MSEC:SERIAL)`), so a node's serial falling far below the highest of its current
 * boot, at a time no earlier than any of that boot's, means the node booted again — and session
 * numbers restarted with it. A record written late keeps its event's older stamp (this
 * machine's logs hold PROCTITLE lines 469 serials behind, with their event's time): no boot.
 * auditd's own
 * DAEMON_* records carry auditd's counter (it starts anywhere at each auditd start, measured
 * here), never compared with the kernel's; an auditd restart alone keeps the kernel's counting.
 */

/**
 * How far below its boot's highest serial a record may come and still be of that boot: the
 * kernel queues records out of serial order by the few that are made at once (at most 12
 * measured on this machine's busy logs).
 */
export const SERIAL_JITTER = 50;

/** What a drop in a node's serial turned out to be (see SerialWatch). */
export interface BootVerdict {
  node: string;
  /** True: the next record of the node counted on low too, a boot; false: it went on with the old count. */
  boot: boolean;
  /** The record that dropped low, the highest serial before it, and the next record that settled it. */
  serial: number;
  timeMs: number;
  previousSerial: number;
  nextSerial: number;
  nextTimeMs: number;
}

interface NodeWatch {
  serial: number;
  timeMs: number;
  /** A record whose serial fell low, waiting for the node's next record to say whether it began a boot. */
  drop?: { serial: number; timeMs: number };
}

/**
 * Per node (`''`: no `node=` prefix), the highest kernel serial and latest time of its current
 * boot. A record whose serial falls far below that (at a time no earlier) is a *drop*; it
 * begins a boot only when the node's next record counts on low too (a serial also far below
 * the old boot's highest, at a time no earlier than the drop's). One record alone never starts a
 * boot: a sender on a collector chooses its `node=` text, and one forged line with a low serial
 * used to end every binding epoch of the node it named (outside attack 4). A real boot writes
 * many records of the new count (a crash's first event alone is SYSCALL + PROCTITLE under one
 * serial); a lone low record followed by the old count is no boot (and said so by the caller:
 * `onVerdict`). startsBoot() is true for the drop: the caller keeps that record (the boot
 * begins there) until the verdict.
 *
 * A live reader bounds the nodes it watches (`maxNodes`, least recently seen let go and
 * counted in `forgotten`): one name per record would otherwise grow it without end. A node let
 * go is watched afresh from its next record — a boot between its last record kept and that one
 * is not seen.
 */
export class SerialWatch {
  private readonly boots: LruMap<string, NodeWatch>;

  constructor(
    maxNodes = Infinity,
    private readonly onVerdict?: (v: BootVerdict) => void,
  ) {
    this.boots = new LruMap(maxNodes);
  }

  /** Nodes watched now. */
  get size(): number {
    return this.boots.size;
  }

  /** Nodes let go for room since creation. */
  get forgotten(): number {
    return this.boots.evicted;
  }

  /** True while `node`'s last drop waits for its next record (see the class). */
  pending(node: string): boolean {
    return this.boots.peek(node)?.drop !== undefined;
  }

  /** Feeds one record's serial and time (ms) in log order; true when it drops low (a boot if the node's next record confirms it). */
  startsBoot(node: string, serial: number, timeMs: number): boolean {
    const top = this.boots.get(node);
    if (top === undefined) {
      this.boots.set(node, { serial, timeMs });
      return false;
    }
    const drop = top.drop;
    if (drop !== undefined) {
      top.drop = undefined;
      const boot = serial + SERIAL_JITTER < top.serial && timeMs >= drop.timeMs;
      this.onVerdict?.({ node, boot, serial: drop.serial, timeMs: drop.timeMs, previousSerial: top.serial, nextSerial: serial, nextTimeMs: timeMs });
      if (boot) {
        top.serial = Math.max(serial, drop.serial);
        top.timeMs = timeMs;
        return false;
      }
    }
    if (serial + SERIAL_JITTER < top.serial && timeMs >= top.timeMs) {
      top.drop = { serial, timeMs };
      return true;
    }
    if (serial > top.serial) top.serial = serial;
    if (timeMs > top.timeMs) top.timeMs = timeMs;
    return false;
  }
}

const KEY_OPEN = Buffer.from('msg=audit(');
const DAEMON = Buffer.from('type=DAEMON_');

/** The node of the line at `start` ('' without a `node=` prefix: no string is made for it). */
export function lineNode(buf: Buffer, start: number, end: number): string {
  if (buf[start] !== 0x6e /* node= */) return '';
  const sp = buf.indexOf(0x20, start);
  return sp < 0 || sp >= end ? '' : buf.toString('latin1', start + 5, sp);
}

/** A line's stamp: kernelStamp() writes it here (one object, reused: no allocation per line). */
export interface Stamp {
  serial: number;
  timeMs: number;
}

/**
 * The kernel stamp of the line [start, end) by byte search, into `into`; false for a line that
 * is not a record, or is auditd's own (DAEMON_*). Plain loops over the head's bytes (see
 * line-bytes.ts): called for every line of a log by search's first pass.
 */
export function kernelStamp(buf: Buffer, start: number, end: number, into: Stamp): boolean {
  const t = typeAt(buf, start, end);
  if (t < 0) return false;
  if (buf[t + 5] === 0x44 /* D */ && bytesAt(buf, t, end, DAEMON)) return false;
  // findBytes(buf, t, min(end, t + 310), KEY_OPEN) with the needle's bytes written out: the
  // shared loop, called with other needles too, cost most of the first pass
  let open = -1;
  for (let k = t, last = Math.min(end, t + 300 + KEY_OPEN.length) - KEY_OPEN.length; k <= last; k++) {
    if (
      buf[k] === 0x6d /* m */ &&
      buf[k + 9] === 0x28 /* ( */ &&
      buf[k + 1] === 0x73 &&
      buf[k + 2] === 0x67 &&
      buf[k + 3] === 0x3d &&
      buf[k + 4] === 0x61 &&
      buf[k + 5] === 0x75 &&
      buf[k + 6] === 0x64 &&
      buf[k + 7] === 0x69 &&
      buf[k + 8] === 0x74
    ) {
      open = k;
      break;
    }
  }
  if (open < 0) return false;
  let close = open + KEY_OPEN.length;
  while (close < end && buf[close] !== 0x29 /* ) */) close++;
  if (close >= end) return false;
  let sec = 0;
  let ms = 0;
  let serial = 0;
  let i = open + KEY_OPEN.length;
  for (; i < close && buf[i] !== 0x2e /* . */; i++) sec = sec * 10 + buf[i] - 0x30;
  for (i++; i < close && buf[i] !== 0x3a /* : */; i++) ms = ms * 10 + buf[i] - 0x30;
  if (i >= close) return false;
  for (i++; i < close; i++) {
    const d = buf[i] - 0x30;
    if (d < 0 || d > 9) return false;
    serial = serial * 10 + d;
  }
  into.serial = serial;
  into.timeMs = sec * 1000 + ms;
  return true;
}

/** In place: a line is passed for nearly every line of a log, no array is made for each. */
function set(t: [number, number, number], a: number, b: number, c: number): void {
  t[0] = a;
  t[1] = b;
  t[2] = c;
}

/** Per node of one file: what BootLines tracks. */
interface NodeLines {
  /** The lowest serial kept among lines no older than every line before them in the file. */
  low: number;
  /** The latest time in the file so far. */
  fileTime: number;
  /** The current boot's highest-serial line and latest line: [offset, end, value]. */
  peak: [number, number, number];
  latest: [number, number, number];
  /** The node's next line is kept: it settles a drop (see SerialWatch) kept just before. */
  keepNext: boolean;
}

/**
 * The few lines of one log file from which its boots can be found again without reading it
 * all (the search index keeps them with the binding lines), per node: each line no older than
 * every line before it whose serial is the lowest such so far (a boot at the file's start shows
 * against the file before it), each line that began a boot, and the highest-serial and the
 * latest line before each boot and at the end (what the next line is compared with), and the
 * line after each of the first two (it confirms or refutes the drop: SerialWatch). Replayed
 * in order through a SerialWatch they give the boots that reading every line gives.
 */
export class BootLines {
  private readonly watch = new SerialWatch();
  private readonly nodes = new Map<string, NodeLines>();
  private readonly kept = new Map<number, string>();
  private readonly toRead: [number, number][] = [];
  private readonly stamp: Stamp = { serial: 0, timeMs: 0 };

  /** One line [start, end) of the file at `offset`, in file order. */
  line(buf: Buffer, start: number, end: number, offset: number): void {
    if (!kernelStamp(buf, start, end, this.stamp)) return;
    const { serial, timeMs } = this.stamp;
    const node = lineNode(buf, start, end);
    const lineEnd = offset + (end - start);
    let n = this.nodes.get(node);
    if (n === undefined) this.nodes.set(node, (n = { low: Infinity, fileTime: -Infinity, peak: [offset, lineEnd, -1], latest: [offset, lineEnd, -Infinity], keepNext: false }));
    let keep = n.keepNext;
    n.keepNext = false;
    if (timeMs >= n.fileTime) {
      n.fileTime = timeMs;
      if (serial < n.low) {
        n.low = serial;
        // a drop against the file before: the line after it says whether it began a boot
        keep = n.keepNext = true;
      }
    }
    if (this.watch.startsBoot(node, serial, timeMs)) {
      this.toRead.push([n.peak[0], n.peak[1]], [n.latest[0], n.latest[1]]);
      keep = n.keepNext = true;
      n.peak[2] = -1;
      n.latest[2] = -Infinity;
    }
    if (keep) this.kept.set(offset, buf.toString('latin1', start, end));
    if (serial > n.peak[2]) set(n.peak, offset, lineEnd, serial);
    if (timeMs > n.latest[2]) set(n.latest, offset, lineEnd, timeMs);
  }

  /** The kept lines of the file at `path`, ascending, each once (the peaks are read now). */
  finish(path: string): { offset: number; line: string }[] {
    for (const n of this.nodes.values()) this.toRead.push([n.peak[0], n.peak[1]], [n.latest[0], n.latest[1]]);
    const wanted = [...new Map(this.toRead.filter(([s]) => !this.kept.has(s)).map((p) => [p[0], p])).values()].sort((a, b) => a[0] - b[0]);
    readRanges(path, wanted.flat(), (buf, at) => this.kept.set(at, buf.toString('latin1')));
    return [...this.kept].sort((a, b) => a[0] - b[0]).map(([offset, line]) => ({ offset, line }));
  }
}
