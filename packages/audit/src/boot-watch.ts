import { readRanges } from './read-ranges';

/**
 * Boots seen in the log itself. The kernel numbers its records with one counter from boot
 * (`audit(SEC.MSEC:SERIAL)`), so a node's serial falling far below the highest of its current
 * boot means the node booted again — and session numbers restarted with it. auditd's own
 * DAEMON_* records carry auditd's counter (it starts anywhere at each auditd start, measured
 * here), never compared with the kernel's; an auditd restart alone keeps the kernel's counting.
 */

/**
 * How far below its boot's highest serial a record may come and still be of that boot: the
 * kernel queues records out of serial order by the few that are made at once (at most 12
 * measured on this machine's busy logs).
 */
export const SERIAL_JITTER = 50;

/** Per node (`''`: no `node=` prefix), the highest kernel serial of its current boot. */
export class SerialWatch {
  private readonly highest = new Map<string, number>();

  /** Feeds one record's serial in log order; true when it begins a new boot of `node`. */
  startsBoot(node: string, serial: number): boolean {
    const top = this.highest.get(node);
    if (top !== undefined && serial + SERIAL_JITTER < top) {
      this.highest.set(node, serial);
      return true;
    }
    if (top === undefined || serial > top) this.highest.set(node, serial);
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

/** The kernel serial of the line [start, end) by byte search; -1 for a line that is not a record, or is auditd's own (DAEMON_*). */
export function kernelSerial(buf: Buffer, start: number, end: number): number {
  let t = start;
  if (buf[start] === 0x6e /* node= */) {
    const sp = buf.indexOf(0x20, start);
    if (sp < 0 || sp >= end || sp - start > 256) return -1;
    t = sp + 1;
  }
  if (buf[t + 5] === 0x44 /* D */ && buf.compare(DAEMON, 0, DAEMON.length, t, t + DAEMON.length) === 0) return -1;
  const open = buf.indexOf(KEY_OPEN, t);
  if (open < 0 || open >= end || open - t > 300) return -1;
  const close = buf.indexOf(0x29 /* ) */, open);
  let i = buf.indexOf(0x3a /* : */, open);
  if (i < 0 || close < 0 || i > close || close >= end) return -1;
  let serial = 0;
  for (i++; i < close; i++) {
    const d = buf[i] - 0x30;
    if (d < 0 || d > 9) return -1;
    serial = serial * 10 + d;
  }
  return serial;
}

/**
 * The few lines of one log file from which its boots can be found again without reading it
 * all (the search index keeps them with the binding lines): per node, each line whose serial
 * is the lowest so far (a boot at the file's start shows against the file before it), each
 * line that began a boot, and the highest-serial line before each boot and at the end (what
 * the next line is compared with). Replayed in order through a SerialWatch they give the
 * boots that reading every line gives.
 */
export class BootLines {
  private readonly watch = new SerialWatch();
  private readonly nodes = new Map<string, { lowest: number; peak: number; peakAt: number; peakEnd: number }>();
  private readonly kept = new Map<number, string>();
  private readonly peaks: [number, number][] = [];

  /** One line [start, end) of the file at `offset`, in file order. */
  line(buf: Buffer, start: number, end: number, offset: number): void {
    const serial = kernelSerial(buf, start, end);
    if (serial < 0) return;
    const node = lineNode(buf, start, end);
    const at = offset;
    const lineEnd = offset + (end - start);
    let n = this.nodes.get(node);
    if (n === undefined) {
      this.nodes.set(node, (n = { lowest: serial, peak: serial, peakAt: at, peakEnd: lineEnd }));
      this.kept.set(at, buf.toString('latin1', start, end));
    } else if (serial < n.lowest) {
      n.lowest = serial;
      this.kept.set(at, buf.toString('latin1', start, end));
    }
    if (this.watch.startsBoot(node, serial)) {
      this.peaks.push([n.peakAt, n.peakEnd]);
      this.kept.set(at, buf.toString('latin1', start, end));
      n.peak = -1; // this line is the new boot's first peak
    }
    if (serial > n.peak) {
      n.peak = serial;
      n.peakAt = at;
      n.peakEnd = lineEnd;
    }
  }

  /** The kept lines of the file at `path`, ascending, each once (the peaks are read now). */
  finish(path: string): { offset: number; line: string }[] {
    for (const n of this.nodes.values()) this.peaks.push([n.peakAt, n.peakEnd]);
    const wanted = [...new Map(this.peaks.filter(([s]) => !this.kept.has(s)).map((p) => [p[0], p])).values()].sort((a, b) => a[0] - b[0]);
    readRanges(path, wanted, (buf, at) => this.kept.set(at, buf.toString('latin1')));
    return [...this.kept].sort((a, b) => a[0] - b[0]).map(([offset, line]) => ({ offset, line }));
  }
}
