import { detachRecord, explicitSerialText, type AuditRecord } from './record';
import { MinHeap } from './min-heap';

/** The records of one kernel or user event, in arrival order. */
export interface AuditEvent {
  node: string | null;
  time: string;
  timeMs: number;
  serial: number;
  /**
   * The serial's digits, exact at any size (`serial` is not above 2^53). Left out where
   * String(serial) gives them: readers use `serialText ?? String(serial)`.
   */
  serialText?: string;
  records: AuditRecord[];
}

/**
 * ausearch 3.0.9 (src/ausearch-lol.c, check_events) decides by the type of an event's
 * *first* record whether more records may follow: these are complete as soon as they open.
 * Everything else (1300–1699 but PROCTITLE, the NetLabel range excepted) waits for the
 * time-out, so an AVC, MAC_POLICY_LOAD, BPF or APPARMOR_* record and the SYSCALL with its
 * stamp form one event, while LOGIN or CONTAINER_OP (< 1300) are events of their own.
 * An unknown type name (-1 in libaudit) counts as < 1300.
 */
export function opensSingleRecordEvent(typeNumber: number | null): boolean {
  const t = typeNumber ?? -1;
  return t === 1327 || t < 1300 || t >= 1700 || t === 2000 || (t >= 1406 && t <= 1419);
}

export interface ReassemblerOptions {
  /**
   * Log files (no `clock`): an open event completes when an event opens whose stamp is this
   * much newer, in whole seconds of audit time like ausearch's end_of_event_timeout (2 s).
   * Live streams (`clock`): this much wall-clock time after the event opened.
   */
  timeoutMs?: number;
  /**
   * Wall clock for live streams. Then events also complete at their end markers (PROCTITLE,
   * EOE) and come out in completion order; without it they come out in time order, as
   * ausearch prints them.
   */
  clock?: () => number;
  /** Bound on open events (memory stays flat on a log with endless unterminated events). */
  maxOpen?: number;
  /**
   * Note the events a record joins or opens, for detachOpened(): a live reader whose records
   * point into the bytes read lets those of events still open have their own text.
   */
  noteOpened?: boolean;
}

interface Open {
  /** Opened by a record that came after its event was completed for the `maxOpen` bound. */
  afterCut?: boolean;
  /** Its key in `open` (see Reassembler.keyOf). */
  key: string | number;
  event: AuditEvent;
  /** Audit-time seconds (log files) or clock ms (live) the time-out counts from. */
  since: number;
  complete: boolean;
  /** See AuditEvent.serialText: null where String(serial) gives it. */
  serialText: string | null;
  /** Arrival order. */
  seq: number;
  /** The noteOpened round it was last noted in (-1: never). */
  noted: number;
  /**
   * ausearch keeps held events in an array and reuses the first free slot; between equal
   * stamps (a LOGIN and the SYSCALL after it) the lower slot is printed first.
   */
  slot: number;
}

const earlier = (a: Open, b: Open): boolean => {
  if (a.event.timeMs !== b.event.timeMs) return a.event.timeMs < b.event.timeMs;
  // digits of equal length compare as the numbers do (no leading zeros): no strings made
  if (a.serialText === null && b.serialText === null) return a.event.serial !== b.event.serial ? a.event.serial < b.event.serial : a.slot < b.slot;
  const x = a.serialText ?? String(a.event.serial);
  const y = b.serialText ?? String(b.event.serial);
  if (x.length !== y.length) return x.length < y.length;
  if (x !== y) return x < y;
  return a.slot < b.slot;
};

/**
 * No events completed: one array for every such call, so callers must only read what the
 * reassembler returns (search and the live pipeline iterate it). Not frozen: V8 iterates a
 * frozen array through iterator objects, one per step.
 */
const NONE: AuditEvent[] = [];

/** Kernel markers of an event's last record: only a live stream may rely on them. */
const END_MARKERS = new Set(['EOE', 'PROCTITLE']);

/**
 * Groups records into events by `[node] audit(TIME:SERIAL)`, even when events interleave,
 * with ausearch's rules (see opensSingleRecordEvent): a record joins the open event of its
 * stamp; an EOE with no open event is dropped (its event already completed); any other
 * record opens a new event. Every event times out on its own (no head-of-line blocking);
 * `flush` ends the rest.
 */
export class Reassembler {
  /**
   * Open events by stamp. A record without node= whose serial is exact is looked up by the
   * serial alone (a number: no key string made per record) and its time compared; the rare
   * second open event of one serial (another boot, another second) is kept under its full
   * string key, as every record with a node= is.
   */
  private readonly open = new Map<string | number, Open>();
  /** Open events kept under a string key although they have no node= (see `open`). */
  private displaced = 0;
  /** Open events by age, for time-outs. */
  private readonly byAge = new MinHeap<Open>((a, b) => a.since < b.since || (a.since === b.since && a.seq < b.seq));
  /** Log files: every held event by stamp; the earliest goes out once it is complete. */
  private readonly byTime = new MinHeap<Open>(earlier);
  private readonly timeoutMs: number;
  private readonly maxOpen: number;
  private seq = 0;
  /** Events completed by the `maxOpen` bound before their time-out, newest last (bounded too). */
  private readonly cut = new Set<string | number>();
  /**
   * Records that came after their event was completed by the `maxOpen` bound (ausearch, with
   * no bound, would have grouped them): each opened an event of its own. Callers report it.
   */
  recordsAfterCut = 0;
  private readonly freeSlots = new MinHeap<number>((a, b) => a < b);
  /** Where push() gathers the events it completes (see handOut). */
  private readonly scratch: AuditEvent[] = [];
  /** Events a record joined or opened since the last detachOpened() (noteOpened), once each. */
  private readonly noted: Open[] = [];
  private noteRound = 0;
  private nextSlot = 0;

  constructor(private readonly options: ReassemblerOptions = {}) {
    this.timeoutMs = options.timeoutMs ?? 2000;
    this.maxOpen = options.maxOpen ?? 10_000;
  }

  /** The open event of the record's stamp, and the key a new event of it is kept under. */
  private find(rec: AuditRecord): { entry: Open | undefined; key: string | number } {
    const stringKey = (): string => `${rec.node ?? ''}|${rec.timeMs}:${rec.serialText}`;
    if (rec.node !== null || !Number.isSafeInteger(rec.serial)) {
      const key = stringKey();
      return { entry: this.open.get(key), key };
    }
    const bySerial = this.open.get(rec.serial);
    if (bySerial !== undefined && bySerial.event.timeMs === rec.timeMs && bySerial.event.node === null) return { entry: bySerial, key: rec.serial };
    if (bySerial === undefined && this.displaced === 0) return { entry: undefined, key: rec.serial };
    const key = stringKey();
    return { entry: this.open.get(key), key: bySerial === undefined ? rec.serial : key };
  }

  push(rec: AuditRecord): AuditEvent[] {
    const { entry, key } = this.find(rec);
    const done = this.scratch;
    if (entry) {
      entry.event.records.push(rec);
      if (entry.afterCut) this.recordsAfterCut++;
      if (this.options.clock && END_MARKERS.has(rec.type)) this.complete(entry, done);
      else this.note(entry);
      return this.drain(done);
    }
    const afterCut = this.cut.size > 0 && this.cut.has(key);
    if (afterCut) this.recordsAfterCut++;
    if (rec.type === 'EOE') return this.drain(done);
    const live = this.options.clock !== undefined;
    if (live && !afterCut && (opensSingleRecordEvent(rec.typeNumber) || END_MARKERS.has(rec.type))) {
      // complete as it opens (a LOGIN): out at once, never entered in `open` — a Map entry set
      // and deleted per record left holes that made V8 rebuild the table again and again
      const serialText = explicitSerialText(rec);
      const event: AuditEvent = { node: rec.node, time: rec.time, timeMs: rec.timeMs, serial: rec.serial, records: [rec] };
      if (serialText !== null) event.serialText = serialText;
      this.seq++;
      done.push(event);
      this.expire(this.options.clock!(), done);
      return this.drain(done);
    }
    // the serial's text only where String(serial) would not give it (see explicitSerialText)
    const serialText = explicitSerialText(rec);
    const event: AuditEvent = { node: rec.node, time: rec.time, timeMs: rec.timeMs, serial: rec.serial, records: [rec] };
    if (serialText !== null) event.serialText = serialText;
    const opened: Open = {
      key,
      event,
      since: live ? this.options.clock!() : Math.floor(rec.timeMs / 1000) * 1000,
      complete: false,
      serialText,
      seq: this.seq++,
      noted: -1,
      slot: live ? 0 : (this.freeSlots.pop() ?? this.nextSlot++),
      afterCut,
    };
    this.open.set(key, opened);
    if (typeof key === 'string' && rec.node === null) this.displaced++;
    if (!live) this.byTime.push(opened);
    if (opensSingleRecordEvent(rec.typeNumber) || (live && END_MARKERS.has(rec.type))) this.complete(opened, done);
    else {
      this.byAge.push(opened);
      this.note(opened);
    }
    // ausearch checks time-outs against the stamp of each event that opens.
    this.expire(opened.since, done);
    return this.drain(done);
  }

  /**
   * Completes the open event of `rec`'s stamp: a caller that pushed all of an event's records
   * (the session scan hands out whole events) ends it here, so that a later record of the
   * stamp opens another event, as it did in the log.
   */
  endEventOf(rec: AuditRecord): AuditEvent[] {
    const { entry } = this.find(rec);
    const done: AuditEvent[] = [];
    if (entry) this.complete(entry, done);
    return this.drain(done);
  }

  private note(o: Open): void {
    if (!this.options.noteOpened || o.noted === this.noteRound) return;
    o.noted = this.noteRound;
    this.noted.push(o);
  }

  /**
   * Gives every record of the events noted since the last call that are still open its own
   * text (detachRecord): the buffer its line was read into is no longer held by it (noteOpened).
   */
  detachOpened(): void {
    for (const o of this.noted) if (!o.complete) for (const r of o.event.records) detachRecord(r);
    this.noted.length = 0;
    this.noteRound++;
  }

  /** The records of every event still held (open, or complete and waiting for an earlier one). */
  *heldRecords(): IterableIterator<AuditRecord> {
    for (const o of this.options.clock ? this.open.values() : this.byTime.values()) yield* o.event.records;
  }

  /** Completes events whose time-out has passed by the clock (live streams; call periodically). */
  tick(): AuditEvent[] {
    const done: AuditEvent[] = [];
    if (this.options.clock) this.expire(this.options.clock(), done);
    return this.drain(done);
  }

  /** Completes every open event (end of input). */
  flush(): AuditEvent[] {
    const done: AuditEvent[] = [];
    for (let o = this.byAge.pop(); o; o = this.byAge.pop()) this.complete(o, done);
    return this.drain(done);
  }

  private expire(now: number, done: AuditEvent[]): void {
    for (let o = this.byAge.peek(); o; o = this.byAge.peek()) {
      if (o.complete) this.byAge.pop();
      else if (o.since + this.timeoutMs <= now) this.complete(this.byAge.pop()!, done);
      else if (this.open.size > this.maxOpen) {
        this.complete(this.byAge.pop()!, done);
        this.cut.add(o.key);
        if (this.cut.size > this.maxOpen) this.cut.delete(this.cut.values().next().value as string | number);
      } else break;
    }
  }

  private complete(o: Open, done: AuditEvent[]): void {
    if (o.complete) return;
    o.complete = true;
    this.open.delete(o.key);
    if (typeof o.key === 'string' && o.event.node === null) this.displaced--;
    if (this.options.clock) done.push(o.event);
  }

  /**
   * Log files: completed events leave in stamp order, each once nothing earlier is still
   * open. A log whose clock went backwards could hold every later event behind one open
   * event: past a bound the earliest is completed anyway.
   */
  private drain(done: AuditEvent[]): AuditEvent[] {
    if (this.options.clock) return this.handOut(done);
    for (let o = this.byTime.peek(); o; o = this.byTime.peek()) {
      if (!o.complete && this.byTime.size <= 4 * this.maxOpen) break;
      this.complete(o, done);
      done.push(this.byTime.pop()!.event);
      this.freeSlots.push(o.slot);
    }
    return this.handOut(done);
  }

  /**
   * What a call completed: NONE when nothing (most records complete no event), else an array
   * of its own. push() gathers into `scratch`: no array made per record only to stay empty.
   */
  private handOut(done: AuditEvent[]): AuditEvent[] {
    if (done !== this.scratch) return done;
    return done.length === 0 ? NONE : done.splice(0);
  }
}
