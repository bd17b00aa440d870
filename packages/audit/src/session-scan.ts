import { closeSync, fstatSync, readSync } from 'node:fs';
import { openOrNull } from './reader';
import { opensSingleRecordEvent } from './reassembler';
import { recordTypeNumber } from './record';
import { MinHeap } from './min-heap';

export interface SessionScanOptions {
  chunkBytes?: number;
  /** Added to file offsets (position across several files). */
  base?: number;
  from?: number;
  to?: number;
  onBytes?: (n: number) => void;
  /** The reassembler's time-out (ms of audit time): an event ends where an event this much newer opens. */
  timeoutMs?: number;
  /**
   * Instead of decoded lines: each event's lines as raw bytes (enriched parts stripped,
   * newline-terminated) and the event's offset. The buffer is only valid during the call.
   * The needle that found an event says nothing about its session: ` ses=N ` can be text a
   * sender wrote (a user record's msg='…'), so the caller reads the kernel's field.
   */
  onEventBytes?: (bytes: Buffer, offset: number) => void;
  /**
   * After the lines of one event were handed to `onLine`: the event is whole (a later record of
   * its stamp opens another event, as ausearch opens one after the time-out), so the caller's
   * reassembler completes it there.
   */
  onEventEnd?: () => void;
  /**
   * Records that came after their event was completed for the `maxOpen` bound (ausearch, with
   * no bound, would have grouped them): each was read as an event of its own. Called once, at the end, when any.
   */
  onCut?: (records: number) => void;
  /** Bound on the events held open at once (all events, not only the selected sessions'). */
  maxOpen?: number;
}

/** Events held open at once by the scan (a log with endless unterminated events stays flat). */
export const SCAN_MAX_OPEN = 100_000;

/** Chunks kept in memory for the lines of the events found; a line further back is read again from the file. */
const KEEP_CHUNKS = 3;

/**
 * One event of the log, as ausearch groups records into events (see Reassembler): its stamp,
 * the time-out's start, and its lines (a chain in the line pool).
 */
interface ScanEvent {
  key: string | number;
  node: string | null;
  timeMs: number;
  serial: number;
  /** The serial's digits when it is above 15 of them (else `serial` is exact). */
  serialText: string | null;
  since: number;
  seq: number;
  complete: boolean;
  /** A line of it holds ` ses=S ` (after its head) for a selected session. */
  matched: boolean;
  /** Opened by a record that came after its event was completed for the `maxOpen` bound. */
  afterCut: boolean;
  head: number;
  tail: number;
}

/**
 * The events that hold a ` ses=S ` for one of `sessions`, whole: every record whose stamp
 * (node, time, serial) is the event's, however far apart in the file, grouped exactly as
 * ausearch 3.0.9 and the Reassembler group a log file — a record joins the open event of its
 * stamp; an EOE with no open event is dropped; any other record opens an event, complete at
 * once when its type is an event of its own (LOGIN, USER_*), else when an event opens whose
 * stamp is `timeoutMs` newer. One streaming pass reads every line's head (no line is decoded);
 * only the matched events' lines are handed out: as latin1 strings with their global offsets
 * (`onLine`, then `onEventEnd`), or as bytes (`onEventBytes`), one event at a time, in stamp
 * order as far as the open events allow. A line is never handed out twice.
 */
export function scanSessions(path: string, sessions: number[], onLine: (line: string, offset: number) => void, options: SessionScanOptions = {}): void {
  if (sessions.length === 0) return;
  const needles = sessions.map((s) => Buffer.from(` ses=${s} `));
  const chunk = options.chunkBytes ?? 1 << 20;
  const base = options.base ?? 0;
  const fd = openOrNull(path);
  if (fd === null) return; // rotated away since it was listed: nothing to read
  try {
    const from = options.from ?? 0;
    const size = options.to ?? fstatSync(fd).size;
    const scan = new EventScan(fd, options.timeoutMs ?? 2000, options.maxOpen ?? SCAN_MAX_OPEN, (lines) => handOut(lines));
    const out = { buf: Buffer.allocUnsafe(64 << 10) };
    const handOut = (lines: Buffer[]): void => {
      const offsets = scan.offsets;
      if (options.onEventBytes) {
        options.onEventBytes(rawLines(lines, out), base + offsets[0]);
        return;
      }
      lines.forEach((l, i) => onLine(l.toString('latin1'), base + offsets[i]));
      options.onEventEnd?.();
    };
    let carry: Buffer | null = null;
    let bufAt = from; // file offset of the next buffer's byte 0
    for (let pos = from; pos < size; ) {
      const keep: number = carry === null ? 0 : carry.length;
      const need = keep + Math.min(chunk, size - pos);
      // the oldest buffer kept goes out of use here: it is read into again
      const old = scan.chunks.length >= KEEP_CHUNKS ? scan.chunks.shift()!.buf : null;
      const buf = old !== null && old.length >= need ? old : Buffer.allocUnsafe(Math.max(need, chunk));
      if (carry !== null) carry.copy(buf, 0);
      const n: number = readSync(fd, buf, keep, need - keep, pos);
      pos += n;
      options.onBytes?.(n);
      const eof: boolean = pos >= size || n === 0;
      const len = keep + n;
      // complete lines only, unless at the end
      const lastNl: number = eof ? len : buf.lastIndexOf(10, len - 1) + 1;
      if (lastNl > 0) {
        scan.chunk(buf, bufAt, lastNl, hitsIn(buf, lastNl, needles));
        bufAt += lastNl;
      }
      carry = lastNl < len ? Buffer.from(buf.subarray(lastNl, len)) : null;
      if (eof) break;
    }
    scan.end();
    if (scan.recordsAfterCut > 0) options.onCut?.(scan.recordsAfterCut);
  } finally {
    closeSync(fd);
  }
}

/** Where the needles occur in buf[0, limit), ascending. */
function hitsIn(buf: Buffer, limit: number, needles: Buffer[]): number[] {
  const hits: number[] = [];
  for (const needle of needles) for (let at = buf.indexOf(needle); at >= 0 && at < limit; at = buf.indexOf(needle, at + needle.length)) hits.push(at);
  if (needles.length > 1) hits.sort((a, b) => a - b);
  return hits;
}

/** The lines, each cut at 0x1D (the enriched part) and newline-terminated, in a reused buffer. */
function rawLines(lines: Buffer[], out: { buf: Buffer }): Buffer {
  let need = 0;
  for (const l of lines) need += l.length + 1;
  if (need > out.buf.length) out.buf = Buffer.allocUnsafe(need);
  let n = 0;
  for (const l of lines) {
    const gs = l.indexOf(0x1d);
    n += l.copy(out.buf, n, 0, gs >= 0 ? gs : l.length);
    out.buf[n++] = 10;
  }
  return out.buf.subarray(0, n);
}

/** The end of a name in the head: a blank (as `\S` in HEAD) or the enriched part's 0x1D. */
const endsName = (b: number): boolean => b === 0x20 || b === 0x1d || (b >= 0x09 && b <= 0x0d) || b === 0xa0;

/**
 * The head of one line, read from its bytes by parseRecordBytes' grammar (record.ts): a line
 * that one takes for no record is none here either, and the stamp is the same. Plain
 * comparisons of constant bytes: it reads the head of every line of the log.
 */
class Head {
  node: string | null = null;
  typeStart = 0;
  typeEnd = 0;
  timeMs = 0;
  serial = 0;
  serialText: string | null = null;

  read(buf: Buffer, start: number, end: number): boolean {
    let p = start;
    let node: string | null = null;
    if (buf[p] === 0x6e /* node= */) {
      if (p + 5 > end || buf[p + 1] !== 0x6f || buf[p + 2] !== 0x64 || buf[p + 3] !== 0x65 || buf[p + 4] !== 0x3d) return false;
      let q = p + 5;
      while (q < end && !endsName(buf[q])) q++;
      if (q === p + 5 || q >= end || buf[q] !== 0x20) return false;
      node = buf.toString('latin1', p + 5, q);
      p = q + 1;
    }
    // type=
    if (p + 5 > end || buf[p] !== 0x74 || buf[p + 1] !== 0x79 || buf[p + 2] !== 0x70 || buf[p + 3] !== 0x65 || buf[p + 4] !== 0x3d) return false;
    const typeStart = p + 5;
    let q = typeStart;
    for (;;) {
      if (q >= end) return false;
      if (endsName(buf[q])) break;
      q++;
    }
    // ' msg=audit(' (its rarest bytes first)
    if (
      q === typeStart ||
      q + 11 > end ||
      buf[q + 1] !== 0x6d ||
      buf[q + 5] !== 0x61 ||
      buf[q + 10] !== 0x28 ||
      buf[q] !== 0x20 ||
      buf[q + 2] !== 0x73 ||
      buf[q + 3] !== 0x67 ||
      buf[q + 4] !== 0x3d ||
      buf[q + 6] !== 0x75 ||
      buf[q + 7] !== 0x64 ||
      buf[q + 8] !== 0x69 ||
      buf[q + 9] !== 0x74
    )
      return false;
    p = q + 11;
    // SEC (1–12 digits), then .MSEC (1–3), then :SERIAL (1–20), then ')'
    const secStart = p;
    let sec = 0;
    let d = 0;
    while (p < end && (d = buf[p] - 0x30) >= 0 && d <= 9) {
      sec = sec * 10 + d;
      p++;
    }
    if (p === secStart || p - secStart > 12) return false;
    let ms = 0;
    if (p < end && buf[p] === 0x2e /* . */) {
      const m0 = ++p;
      while (p < end && (d = buf[p] - 0x30) >= 0 && d <= 9) {
        ms = ms * 10 + d;
        p++;
      }
      if (p === m0 || p - m0 > 3) return false;
    }
    let serial = 0;
    let serialText: string | null = null;
    if (p < end && buf[p] === 0x3a /* : */) {
      const s0 = ++p;
      while (p < end && (d = buf[p] - 0x30) >= 0 && d <= 9) {
        serial = serial * 10 + d;
        p++;
      }
      if (p === s0 || p - s0 > 20) return false;
      if (p - s0 > 15) {
        let z = s0;
        while (z < p - 1 && buf[z] === 0x30) z++; // leading zeros, as parseRecord drops them
        if (p - z > 15) {
          serialText = buf.toString('latin1', z, p);
          serial = Number(serialText);
        }
      }
    }
    if (p >= end || buf[p] !== 0x29 /* ) */) return false;
    this.node = node;
    this.typeStart = typeStart;
    this.typeEnd = q;
    this.timeMs = sec * 1000 + ms;
    this.serial = serial;
    this.serialText = serialText;
    return true;
  }

  /** An EOE record (the kernel's end-of-event marker). */
  isEOE(buf: Buffer): boolean {
    const t = this.typeStart;
    return this.typeEnd - t === 3 && buf[t] === 0x45 && buf[t + 1] === 0x4f && buf[t + 2] === 0x45;
  }
}


/** Whether a record type (its name's bytes) is an event of its own; names seen before make no string. */
class SingleTypes {
  private readonly seen = new Map<number, { name: Buffer; single: boolean }[]>();

  of(buf: Buffer, start: number, end: number): boolean {
    const len = end - start;
    const slot = len * 65536 + buf[start] * 256 + buf[end - 1];
    const list = this.seen.get(slot);
    if (list)
      for (const t of list) {
        let i = 0;
        while (i < len && t.name[i] === buf[start + i]) i++;
        if (i === len) return t.single;
      }
    const name = Buffer.from(buf.subarray(start, end));
    const single = opensSingleRecordEvent(recordTypeNumber(name.toString('latin1')));
    if (this.seen.size < 4096 && (list?.length ?? 0) < 8) {
      if (list) list.push({ name, single });
      else this.seen.set(slot, [{ name, single }]);
    }
    return single;
  }
}

const earlier = (a: ScanEvent, b: ScanEvent): boolean => {
  if (a.timeMs !== b.timeMs) return a.timeMs < b.timeMs;
  if (a.serialText === null && b.serialText === null) return a.serial !== b.serial ? a.serial < b.serial : a.seq < b.seq;
  const x = a.serialText ?? String(a.serial);
  const y = b.serialText ?? String(b.serial);
  if (x.length !== y.length) return x.length < y.length;
  return x !== y ? x < y : a.seq < b.seq;
};

/**
 * The Reassembler's grouping (log-file mode) over line heads only: every event of the log is
 * held while open (key, time-out, its lines as file offsets in a pool), the matched ones are
 * handed out whole once complete. Written for speed (it sees every line of the log): no
 * object a line, event objects reused, and events queued for their time-out in a FIFO while
 * they open in time order (a heap takes the rest).
 */
class EventScan {
  /** Open events by serial (no node=, exact serial: nearly every event) and by string key (the rest). */
  private readonly bySerial = new SerialTable();
  private readonly byString = new Map<string, ScanEvent>();
  private displaced = 0;
  /** Open events in opening order while their `since` does not fall (the usual log): a queue. */
  private fifo: ScanEvent[] = [];
  private fifoHead = 0;
  /** Open events that opened older than the last one queued in `fifo` (a clock that went back, skewed nodes). */
  private readonly late = new MinHeap<ScanEvent>((a, b) => a.since < b.since || (a.since === b.since && a.seq < b.seq));
  /** Complete matched events, out in stamp order once no open event can be earlier. */
  private readonly held = new MinHeap<ScanEvent>(earlier);
  private readonly cut = new Set<string | number>();
  recordsAfterCut = 0;
  private seq = 0;
  private readonly head = new Head();
  private readonly single = new SingleTypes();
  private readonly spare: ScanEvent[] = [];
  // the line pool: [start, end) file offsets and the next line of the same event (-1: last)
  private starts = new Float64Array(1 << 14);
  private ends = new Float64Array(1 << 14);
  private next = new Int32Array(1 << 14);
  private free = -1;
  private used = 0;
  /** Recent buffers read (whole lines), for the lines handed out. */
  readonly chunks: { buf: Buffer; at: number; end: number }[] = [];
  /** File offsets of the lines of the event being handed out. */
  offsets: number[] = [];
  // find()'s answer
  private found: ScanEvent | undefined = undefined;
  private foundKey: string | number = 0;
  /** The open event of the last record read (null: none, or it was recycled). */
  private last: ScanEvent | null = null;

  constructor(
    private readonly fd: number,
    private readonly timeoutMs: number,
    private readonly maxOpen: number,
    private readonly out: (lines: Buffer[]) => void,
  ) {}

  /** The lines of buf[0, limit) (whole lines; buf[0] is at file offset `at`); `hits` ascending. */
  chunk(buf: Buffer, at: number, limit: number, hits: number[]): void {
    this.chunks.push({ buf, at, end: at + limit });
    if (this.chunks.length > KEEP_CHUNKS) this.chunks.shift();
    const h = this.head;
    let k = 0;
    for (let ls = 0; ls < limit; ) {
      let le = buf.indexOf(10, ls);
      if (le < 0 || le > limit) le = limit;
      if (le > ls && h.read(buf, ls, le)) {
        while (k < hits.length && hits[k] < h.typeStart) k++;
        this.record(buf, at + ls, at + le, k < hits.length && hits[k] < le);
      }
      ls = le + 1;
    }
    this.release(false);
  }

  /** End of input: every open event completes. */
  end(): void {
    for (let o = this.oldest(); o; o = this.oldest()) this.complete(this.popOldest());
    this.release(true);
  }

  private record(buf: Buffer, start: number, end: number, hit: boolean): void {
    const h = this.head;
    const last = this.last;
    // most lines continue the event of the line before: no lookup
    if (last !== null && !last.complete && last.timeMs === h.timeMs && last.serial === h.serial && last.node === h.node && last.serialText === h.serialText) {
      this.link(last, start, end);
      if (hit) last.matched = true;
      if (last.afterCut) this.recordsAfterCut++;
      return;
    }
    this.find();
    const entry = this.found;
    const key = this.foundKey;
    if (entry !== undefined) {
      this.last = entry;
      this.link(entry, start, end);
      if (hit) entry.matched = true;
      if (entry.afterCut) this.recordsAfterCut++;
      return;
    }
    const afterCut = this.cut.size > 0 && this.cut.has(key);
    if (afterCut) this.recordsAfterCut++;
    if (h.isEOE(buf)) return; // its event already completed: ausearch drops it too
    const ev = this.spare.pop() ?? { key: 0, node: null, timeMs: 0, serial: 0, serialText: null, since: 0, seq: 0, complete: false, matched: false, afterCut: false, head: -1, tail: -1 };
    ev.key = key;
    ev.node = h.node;
    ev.timeMs = h.timeMs;
    ev.serial = h.serial;
    ev.serialText = h.serialText;
    ev.since = Math.floor(h.timeMs / 1000) * 1000;
    ev.seq = this.seq++;
    ev.complete = false;
    ev.matched = hit;
    ev.afterCut = afterCut;
    ev.head = ev.tail = -1;
    this.link(ev, start, end);
    this.last = ev;
    if (typeof key === 'number') this.bySerial.set(key, ev);
    else {
      this.byString.set(key, ev);
      if (h.node === null) this.displaced++;
    }
    if (this.single.of(buf, h.typeStart, h.typeEnd)) this.complete(ev);
    else if (this.fifoHead === this.fifo.length || this.fifo[this.fifo.length - 1].since <= ev.since) this.fifo.push(ev);
    else this.late.push(ev);
    // ausearch checks time-outs against the stamp of each event that opens
    this.expire(ev.since);
  }

  /** Reassembler.find over the head just read, into `found` / `foundKey`. */
  private find(): void {
    const h = this.head;
    if (h.node === null && h.serialText === null) {
      const bySerial = this.bySerial.get(h.serial);
      if (bySerial !== undefined && bySerial.timeMs === h.timeMs && bySerial.node === null) {
        this.found = bySerial;
        this.foundKey = h.serial;
        return;
      }
      if (bySerial === undefined && this.displaced === 0) {
        this.found = undefined;
        this.foundKey = h.serial;
        return;
      }
      const key = `|${h.timeMs}:${h.serial}`;
      this.found = this.byString.get(key);
      this.foundKey = bySerial === undefined ? h.serial : key;
      return;
    }
    const key = `${h.node ?? ''}|${h.timeMs}:${h.serialText ?? h.serial}`;
    this.found = this.byString.get(key);
    this.foundKey = key;
  }

  /** The open event that times out first (opened earliest, then first), or undefined. */
  private oldest(): ScanEvent | undefined {
    const a = this.fifoHead < this.fifo.length ? this.fifo[this.fifoHead] : undefined;
    const b = this.late.peek();
    if (a === undefined) return b;
    if (b === undefined) return a;
    return b.since < a.since || (b.since === a.since && b.seq < a.seq) ? b : a;
  }

  private popOldest(): ScanEvent {
    const o = this.oldest()!;
    if (o === this.late.peek()) return this.late.pop()!;
    this.fifo[this.fifoHead++] = undefined as unknown as ScanEvent;
    if (this.fifoHead === this.fifo.length) {
      this.fifo.length = 0;
      this.fifoHead = 0;
    } else if (this.fifoHead > 4096 && this.fifoHead * 2 > this.fifo.length) {
      this.fifo = this.fifo.slice(this.fifoHead);
      this.fifoHead = 0;
    }
    return o;
  }

  private expire(now: number): void {
    for (let o = this.oldest(); o; o = this.oldest()) {
      if (o.since + this.timeoutMs <= now) this.complete(this.popOldest());
      else if (this.bySerial.size + this.byString.size > this.maxOpen) {
        this.complete(this.popOldest());
        this.cut.add(o.key);
        if (this.cut.size > this.maxOpen) this.cut.delete(this.cut.values().next().value as string | number);
      } else break;
    }
  }

  private complete(ev: ScanEvent): void {
    if (ev.complete) return;
    ev.complete = true;
    if (typeof ev.key === 'number') this.bySerial.delete(ev.key);
    else {
      this.byString.delete(ev.key);
      if (ev.node === null) this.displaced--;
    }
    if (ev.matched) this.held.push(ev);
    else this.recycle(ev);
  }

  private recycle(ev: ScanEvent): void {
    this.unlink(ev);
    if (ev === this.last) this.last = null;
    if (this.spare.length < 1024) this.spare.push(ev);
  }

  /** Hands out held events in stamp order: each once no open event can have an earlier stamp (or all, at the end). */
  private release(all: boolean): void {
    for (let ev = this.held.peek(); ev; ev = this.held.peek()) {
      const oldest = this.oldest();
      // (a log whose clock stands still holds them all: past the bound they go out anyway)
      if (!all && oldest !== undefined && ev.timeMs >= oldest.since && this.held.size <= this.maxOpen) break;
      this.held.pop();
      const lines: Buffer[] = [];
      this.offsets = [];
      for (let i = ev.head; i >= 0; i = this.next[i]) {
        lines.push(this.bytes(this.starts[i], this.ends[i]));
        this.offsets.push(this.starts[i]);
      }
      this.recycle(ev);
      this.out(lines);
    }
  }

  /** The line [start, end) of the file: from a buffer still kept, else read again. */
  private bytes(start: number, end: number): Buffer {
    for (let i = this.chunks.length - 1; i >= 0; i--) {
      const c = this.chunks[i];
      if (start >= c.at && end <= c.end) return c.buf.subarray(start - c.at, end - c.at);
    }
    const b = Buffer.allocUnsafe(end - start);
    let got = 0;
    while (got < b.length) {
      const n = readSync(this.fd, b, got, b.length - got, start + got);
      if (n === 0) break;
      got += n;
    }
    return b.subarray(0, got);
  }

  private link(ev: ScanEvent, start: number, end: number): void {
    let i = this.free;
    if (i >= 0) this.free = this.next[i];
    else {
      if (this.used === this.starts.length) this.grow();
      i = this.used++;
    }
    this.starts[i] = start;
    this.ends[i] = end;
    this.next[i] = -1;
    if (ev.tail >= 0) this.next[ev.tail] = i;
    else ev.head = i;
    ev.tail = i;
  }

  private unlink(ev: ScanEvent): void {
    if (ev.head < 0) return;
    this.next[ev.tail] = this.free;
    this.free = ev.head;
    ev.head = ev.tail = -1;
  }

  private grow(): void {
    const n = this.starts.length * 2;
    const s = new Float64Array(n);
    s.set(this.starts);
    const e = new Float64Array(n);
    e.set(this.ends);
    const x = new Int32Array(n);
    x.set(this.next);
    this.starts = s;
    this.ends = e;
    this.next = x;
  }
}

/**
 * Open events by serial: a hash table with linear probing and backward-shift deletion (a Map
 * costs more for the set, get and delete that every event of the log takes).
 */
class SerialTable {
  private keys = new Float64Array(1 << 12).fill(-1);
  private values: (ScanEvent | undefined)[] = new Array<ScanEvent | undefined>(1 << 12);
  /** 32 − log2(capacity): the top bits of the scrambled key are the slot. */
  private shift = 32 - 12;
  size = 0;

  /** Serials count up: scrambled (Fibonacci hashing), or neighbours would form one long run to probe. */
  private home(key: number): number {
    return Math.imul(key ^ (key / 4294967296), 0x9e3779b1) >>> this.shift;
  }

  private slot(key: number): number {
    const mask = this.keys.length - 1;
    let i = this.home(key);
    while (this.keys[i] !== -1 && this.keys[i] !== key) i = (i + 1) & mask;
    return i;
  }

  get(key: number): ScanEvent | undefined {
    const i = this.slot(key);
    return this.keys[i] === key ? this.values[i] : undefined;
  }

  set(key: number, value: ScanEvent): void {
    if ((this.size + 1) * 2 > this.keys.length) this.grow();
    const i = this.slot(key);
    if (this.keys[i] !== key) this.size++;
    this.keys[i] = key;
    this.values[i] = value;
  }

  delete(key: number): void {
    const mask = this.keys.length - 1;
    let i = this.slot(key);
    if (this.keys[i] !== key) return;
    this.size--;
    // backward shift: every entry after the hole that may sit there moves into it
    for (let j = (i + 1) & mask; this.keys[j] !== -1; j = (j + 1) & mask) {
      const home = this.home(this.keys[j]);
      if ((j > i && (home <= i || home > j)) || (j < i && home <= i && home > j)) {
        this.keys[i] = this.keys[j];
        this.values[i] = this.values[j];
        i = j;
      }
    }
    this.keys[i] = -1;
    this.values[i] = undefined;
  }

  private grow(): void {
    const keys = this.keys;
    const values = this.values;
    this.keys = new Float64Array(keys.length * 2).fill(-1);
    this.shift--;
    this.values = new Array<ScanEvent | undefined>(keys.length * 2);
    this.size = 0;
    for (let i = 0; i < keys.length; i++) if (keys[i] !== -1) this.set(keys[i], values[i]!);
  }
}
