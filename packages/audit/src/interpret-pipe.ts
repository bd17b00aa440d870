import { existsSync } from 'node:fs';
import { ContidError } from '@contid/core/dist/errors';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { MessageChannel, MessagePort, Worker, receiveMessageOnPort } from 'node:worker_threads';
import type { AuditEvent } from './reassembler';
import { parseRecordBytes, recordLineLength, recordRawLength, splitAuditFields, writeRecordLine } from './record';
import { interpretedRecords } from './format';
import { AusearchInterpreter, type InterpretedRecord } from './interpret';
import { writeLinesSync } from './write-all';

/**
 * `search --format interpret` on two cores: the thread that reads, groups and attributes hands
 * each matching event (its container line and its records' bytes) to one worker thread that
 * interprets it (libauparse) and writes it to stdout. One worker and batches taken in order:
 * the output is the single thread's, byte for byte — ausearch's state between events (the last
 * SYSCALL's a0/a1) lives in the one interpreter that sees every event. Until the first batch
 * is full no worker is started: a small answer is interpreted on the reading thread.
 *
 * A batch is events back to back: u32 container-line index (into the batch's lines), f64 time
 * (ms), the node (u32 length or NO_NODE, latin1), the serial's digits (u32 length, latin1),
 * u32 record count, then each record: f64 type number (NaN: none), u32 length of its raw part
 * (before 0x1D), its whole line (u32 length, latin1 bytes). The worker reads what the
 * interpreter needs from these without parsing the line again.
 */

/** Bytes of events per batch: large enough that posting costs nothing, small enough to overlap. */
const BATCH_BYTES = 1 << 20;
/** Batches posted and not yet written: the reader waits beyond this (memory stays bounded). */
const MAX_IN_FLIGHT = 4;
const NO_NODE = 0xffffffff;
/** Input from which the worker is started before the first event (see InterpretPipe.prestart): tens of batches' worth. */
const PRESTART_BYTES = 32 << 20;
/** Output written per write(2). */
const OUT_BYTES = 1 << 20;
/**
 * The worker's young generation from its start (MB per semi-space): a batch's strings and
 * the interpreter's pieces live for a whole batch, so V8's default start (1 MB, grown slowly)
 * scavenges every few hundred events and copies them each time. V8 reads these flags when an
 * isolate is made, so the main thread's heap keeps its own sizes; they stay set for any isolate
 * made later in the process — only `contid search` makes this pipe, and it starts no other worker.
 */
const WORKER_SEMI_SPACE_MB = 16;
/**
 * The reading thread's young generation on an input the worker is started early for (see
 * readerRestartFlags): the same sizes as the worker's.
 */
const READER_YOUNG_FLAGS = [`--min-semi-space-size=${WORKER_SEMI_SPACE_MB}`, `--max-semi-space-size=${2 * WORKER_SEMI_SPACE_MB}`];

/** Shared counters (Int32Array indexes). */
const POSTED = 0;
const DONE = 1;
const STATUS = 2;
const STATUS_OK = 0;
const STATUS_EPIPE = 1;
const STATUS_ERROR = 2;

interface Batch {
  buf: ArrayBuffer;
  size: number;
  lines: string[];
}

/** Where `--format interpret` output goes, as text (valid UTF-8 once encoded); `ascii`: every char is below 0x80. */
export type TextSink = (text: string, ascii: boolean) => void;

const ASCII = /^[\x00-\x7f]*$/;

/** A record as the worker reads it from a batch: what the interpreter reads, the line not parsed again. */
class BatchRecord implements InterpretedRecord {
  private enriched_: Map<string, string> | null | undefined;
  constructor(
    readonly raw: string,
    readonly typeNumber: number | null,
    readonly enrichedText: string | null,
  ) {}
  get enriched(): Map<string, string> | null {
    if (this.enriched_ === undefined) this.enriched_ = this.enrichedText === null ? null : splitAuditFields(this.enrichedText);
    return this.enriched_;
  }
}

/** The interpreter of this thread's batches (null without libauparse: then records are parsed whole, see interpretBatch). */
let batchInterpreter: AusearchInterpreter | null | undefined;

/** Writes batches' events, interpreted, as text to `sink`. */
export function interpretBatch(batch: Batch, sink: TextSink): void {
  if (batchInterpreter === undefined) batchInterpreter = AusearchInterpreter.open();
  const interpreter = batchInterpreter;
  const buf = Buffer.from(batch.buf, 0, batch.size);
  // DataView: its getters cost a fraction of Buffer's read* (checked JavaScript), once per field of every record
  const view = new DataView(batch.buf, 0, batch.size);
  const asciiLines = batch.lines.map((l) => ASCII.test(l));
  let p = 0;
  const u32 = (): number => {
    const v = view.getUint32(p, true);
    p += 4;
    return v;
  };
  while (p < batch.size) {
    const lineIndex = u32();
    const line = batch.lines[lineIndex];
    const timeMs = view.getFloat64(p, true);
    p += 8;
    const nodeLen = u32();
    let node: string | null = null;
    if (nodeLen !== NO_NODE) {
      node = buf.toString('latin1', p, p + nodeLen);
      p += nodeLen;
    }
    const serialLen = u32();
    const serialText = buf.toString('latin1', p, p + serialLen);
    p += serialLen;
    const n = u32();
    if (interpreter !== null) {
      const records: BatchRecord[] = [];
      for (let i = 0; i < n; i++) {
        const type = view.getFloat64(p, true);
        p += 8;
        const rawLen = u32();
        const len = u32();
        const raw = buf.toString('latin1', p, p + rawLen);
        records.push(new BatchRecord(raw, Number.isNaN(type) ? null : type, rawLen < len ? buf.toString('latin1', p + rawLen + 1, p + len) : null));
        p += len;
      }
      const text = interpreter.event({ node, timeMs, serial: Number(serialText), serialText, records });
      sink(line, asciiLines[lineIndex]);
      sink(text, interpreter.lastPlain);
      continue;
    }
    // no libauparse: the fallback reads every field of the records
    const records = [];
    for (let i = 0; i < n; i++) {
      p += 12;
      const len = u32();
      const rec = parseRecordBytes(buf, p, p + len, -1);
      // the reader parsed these very bytes: a line that no longer parses is a bug, not input
      if (rec === null) throw new Error('interpret worker: a record of the batch does not parse');
      records.push(rec);
      p += len;
    }
    const event: AuditEvent = { node, time: '', timeMs, serial: Number(serialText), serialText, records };
    sink(line + interpretedRecords(event), false);
  }
}

/** The number of decimal digits of a non-negative safe integer. */
function digitCount(n: number): number {
  let d = 1;
  for (let x = n; x >= 10; x = Math.floor(x / 10)) d++;
  return d;
}

/** Writes the `count` decimal digits of `n` (a non-negative safe integer) at `at`; returns `count`. */
function writeDigits(buf: Buffer, at: number, n: number, count: number): number {
  let x = n;
  for (let i = at + count - 1; i >= at; i--) {
    buf[i] = 0x30 + (x % 10);
    x = Math.floor(x / 10);
  }
  return count;
}

/** Text encoded straight into a 1 MB buffer, written to a file descriptor when full: no joined string, no second copy. */
class TextOut {
  private readonly buf = Buffer.allocUnsafe(OUT_BYTES);
  private size = 0;
  constructor(private readonly fd: number) {}
  /** `ascii`: every char is below 0x80, so its UTF-8 is its latin1 (copied, not encoded). */
  write(text: string, ascii: boolean): void {
    // a UTF-16 code unit is at most 3 bytes of UTF-8: room for the worst case, so nothing is cut
    const most = ascii ? text.length : text.length * 3;
    if (this.size + most > this.buf.length) {
      this.flush();
      if (most > this.buf.length) return writeLinesSync(this.fd, Buffer.from(text, 'utf8'));
    }
    this.size += ascii ? this.buf.write(text, this.size, 'latin1') : this.buf.write(text, this.size, 'utf8');
  }
  flush(): void {
    if (this.size === 0) return;
    const n = this.size;
    this.size = 0;
    writeLinesSync(this.fd, this.buf.subarray(0, n));
  }
}

/**
 * The Node flags this process should be started again with (execve: same pid, same stdio)
 * before it reads an input of `inputBytes` for the interpreting thread, or null. The reading
 * thread holds every event still open in the reassembler (ausearch's two seconds of audit
 * time): with V8's default young generation a collection comes every few seconds of a busy
 * log, so a large share of what it allocated is still alive then, copied, and moved to the old
 * generation, which then needs full collections. With the worker's sizes those events are a
 * small share of each collection. V8 sizes an isolate's heap when the isolate is made, so for
 * the main thread only a new process can have them. Null on a small input (where the worker is
 * not started early either: see PRESTART_BYTES), or when this process was started with semi-space
 * flags (ours or the user's, on the command line or in NODE_OPTIONS).
 */
export function readerRestartFlags(inputBytes: number): string[] | null {
  if (inputBytes < PRESTART_BYTES) return null;
  const given = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)];
  if (given.some((a) => /^--(min|max)[-_]semi[-_]space[-_]size\b/.test(a))) return null;
  return READER_YOUNG_FLAGS;
}

/** The worker's loop: batches from `port` in order until an empty message, each written out. */
export function runInterpretWorker(data: { port: MessagePort; shared: SharedArrayBuffer; fd: number }): void {
  const ctrl = new Int32Array(data.shared);
  const out = new TextOut(data.fd);
  const sink = (text: string, ascii: boolean): void => out.write(text, ascii);
  try {
    // libauparse (koffi, dlopen) loaded before the first batch: a worker started early (see
    // InterpretPipe.prestart) does it while the reader is still in its first pass
    if (batchInterpreter === undefined) batchInterpreter = AusearchInterpreter.open();
    for (;;) {
      const seen = Atomics.load(ctrl, POSTED);
      const m = receiveMessageOnPort(data.port);
      if (m === undefined) {
        // nothing queued yet: sleep until the reader posts (the counter moves)
        Atomics.wait(ctrl, POSTED, seen, 1000);
        continue;
      }
      const batch = m.message as Batch | null;
      if (batch === null) break;
      interpretBatch(batch, sink);
      if (Atomics.load(ctrl, POSTED) - Atomics.load(ctrl, DONE) <= 1) out.flush(); // nothing waiting: out now
      Atomics.add(ctrl, DONE, 1);
      Atomics.notify(ctrl, DONE);
    }
    out.flush();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    Atomics.store(ctrl, STATUS, code === 'EPIPE' ? STATUS_EPIPE : STATUS_ERROR);
    // a write the output refused (a full disk: ENOSPC) is the environment, said as such; anything else a bug, with its stack
    if (code !== 'EPIPE') data.port.postMessage(typeof code === 'string' && (err as NodeJS.ErrnoException).syscall === 'write' ? { writeCode: code } : String((err as Error).stack ?? err));
  }
  Atomics.add(ctrl, DONE, 1_000_000); // finished: the reader stops waiting
  Atomics.notify(ctrl, DONE);
}

/** A write(2) of the output refused (ENOSPC, EIO …): one line for the user, not an internal error. */
const outputError = (code: string): ContidError => new ContidError(`cannot write the output: ${code}`);

/** The compiled module the worker loads (under Jest the sources are TypeScript: the built one, if any). */
function workerModule(): string | null {
  if (__filename.endsWith('.js')) return __filename;
  const built = join(__dirname, '..', 'dist', 'interpret-pipe.js');
  return existsSync(built) ? built : null;
}

/**
 * The reading side. `event` copies an event into the current batch; a full batch goes to
 * the worker (started then); `finish` writes what is left and waits for the worker. Output
 * is written to `fd` directly (the caller writes nothing else there meanwhile).
 */
export class InterpretPipe {
  private batch: Batch;
  private buf: Buffer;
  /** The batch's bytes for the numbers written into it (DataView's setters cost less than Buffer's write*). */
  private view: DataView;
  private lineIndex = new Map<string, number>();
  private worker: Worker | null = null;
  private port: MessagePort | null = null;
  private ctrl: Int32Array | null = null;
  private posted = 0;
  private started = false;
  private readonly local: TextOut;

  /**
   * `onClosed`: the reader of `fd` went away (EPIPE): ausearch ends quietly, so may the caller.
   * `threads`: false interprets every event on this thread (the same bytes, one core).
   */
  constructor(
    private readonly onClosed: () => never,
    private readonly fd = 1,
    private readonly threads = true,
  ) {
    this.local = new TextOut(fd);
    this.buf = Buffer.allocUnsafeSlow(BATCH_BYTES);
    this.view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.length);
    this.batch = { buf: this.buf.buffer as ArrayBuffer, size: 0, lines: [] };
  }

  /** `line`: the event's `----…` line with its newline. */
  event(event: AuditEvent, line: string): void {
    // node and serial text are latin1 strings (one byte a char); a serial without its text is
    // written as digits from the number (no String(): see explicitSerialText)
    const node = event.node;
    const serialText = event.serialText;
    const serialLength = serialText === undefined ? digitCount(event.serial) : serialText.length;
    const records = event.records;
    let need = 4 + 8 + 4 + (node?.length ?? 0) + 4 + serialLength + 4 + 16 * records.length;
    for (const r of records) need += recordLineLength(r);
    this.reserve(need);
    // after reserve: a full batch went out, and the line is indexed in the new one
    let index = this.lineIndex.get(line);
    if (index === undefined) {
      index = this.batch.lines.push(line) - 1;
      this.lineIndex.set(line, index);
    }
    const b = this.buf;
    const v = this.view;
    let p = this.batch.size;
    v.setUint32(p, index, true);
    v.setFloat64(p + 4, event.timeMs, true);
    p += 12;
    if (node === null) {
      v.setUint32(p, NO_NODE, true);
      p += 4;
    } else {
      v.setUint32(p, node.length, true);
      p += 4 + b.write(node, p + 4, 'latin1');
    }
    v.setUint32(p, serialLength, true);
    p += 4 + (serialText === undefined ? writeDigits(b, p + 4, event.serial, serialLength) : b.write(serialText, p + 4, 'latin1'));
    v.setUint32(p, records.length, true);
    p += 4;
    for (const r of records) {
      v.setFloat64(p, r.typeNumber ?? NaN, true);
      v.setUint32(p + 8, recordRawLength(r), true);
      const end = writeRecordLine(r, b, p + 16);
      v.setUint32(p + 12, end - p - 16, true);
      p = end;
    }
    this.batch.size = p;
  }

  /** Room for `need` more bytes: the batch goes out when full (an event bigger than a batch gets a batch of its own). */
  private reserve(need: number): void {
    if (this.batch.size + need <= this.buf.length) return;
    if (this.batch.size > 0) this.send();
    if (need > this.buf.length) {
      this.buf = Buffer.allocUnsafeSlow(need);
      this.view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.length);
      this.batch.buf = this.buf.buffer as ArrayBuffer;
    }
  }

  /** The current batch to the worker (or, with no threads or at the end of a small answer, interpreted here). */
  private send(last = false): void {
    const batch = this.batch;
    if (!this.threads || (last && !this.worker) || !this.start()) this.closedIsEnd(() => interpretBatch(batch, (t, ascii) => this.local.write(t, ascii)));
    else {
      const ctrl = this.ctrl!;
      // backpressure: the reader waits while the worker is MAX_IN_FLIGHT batches behind
      while (this.posted - Atomics.load(ctrl, DONE) >= MAX_IN_FLIGHT) {
        this.check();
        Atomics.wait(ctrl, DONE, Atomics.load(ctrl, DONE), 1000);
      }
      this.check();
      this.port!.postMessage(batch, [batch.buf]);
      this.posted++;
      Atomics.add(ctrl, POSTED, 1);
      Atomics.notify(ctrl, POSTED);
    }
    this.buf = Buffer.allocUnsafeSlow(BATCH_BYTES);
    this.view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.length);
    this.batch = { buf: this.buf.buffer as ArrayBuffer, size: 0, lines: [] };
    this.lineIndex = new Map();
  }

  /**
   * Starts the interpreting thread now when the input is at least PRESTART_BYTES: its start
   * (a new isolate, the modules, libauparse through koffi) then runs on the other core while
   * this thread reads the logs' first pass, instead of after it with this thread waiting on
   * it. A smaller input keeps the lazy start (a small answer starts no thread).
   */
  prestart(inputBytes: number): void {
    if (this.threads && inputBytes >= PRESTART_BYTES) this.start();
  }

  /** True once a second thread interprets. */
  get threaded(): boolean {
    return this.started;
  }

  /** The worker, started once; false when it cannot be (no built module): then this thread interprets. */
  private start(): boolean {
    if (this.worker) return true;
    const module = workerModule();
    if (module === null) return false;
    const { port1, port2 } = new MessageChannel();
    const shared = new SharedArrayBuffer(16);
    setFlagsFromString(`--min-semi-space-size=${WORKER_SEMI_SPACE_MB} --max-semi-space-size=${2 * WORKER_SEMI_SPACE_MB}`);
    this.worker = new Worker(`require(${JSON.stringify(module)}).runInterpretWorker(require('node:worker_threads').workerData)`, {
      eval: true,
      workerData: { port: port2, shared, fd: this.fd },
      transferList: [port2],
    });
    this.port = port1;
    this.ctrl = new Int32Array(shared);
    this.started = true;
    return true;
  }

  /** The worker's failure, if any: a closed pipe ends the process quietly (as ausearch); anything else is thrown. */
  private check(): void {
    const status = Atomics.load(this.ctrl!, STATUS);
    if (status === STATUS_OK) return;
    if (status === STATUS_EPIPE) this.onClosed();
    const why: unknown = receiveMessageOnPort(this.port!)?.message;
    if (typeof why === 'object' && why !== null && 'writeCode' in why) throw outputError(String(why.writeCode));
    throw new Error(`the interpreting thread failed: ${String(why ?? 'unknown error')}`);
  }

  /** Everything written: the last batch, then the worker drained and ended. */
  finish(): void {
    if (this.batch.size > 0) this.send(true);
    this.closedIsEnd(() => this.local.flush());
    if (!this.worker) return;
    const ctrl = this.ctrl!;
    this.port!.postMessage(null);
    Atomics.add(ctrl, POSTED, 1);
    Atomics.notify(ctrl, POSTED);
    while (Atomics.load(ctrl, DONE) < 1_000_000) Atomics.wait(ctrl, DONE, Atomics.load(ctrl, DONE), 1000);
    this.check();
    this.close();
  }

  private closedIsEnd(write: () => void): void {
    try {
      write();
    } catch (err) {
      const { code, syscall } = err as NodeJS.ErrnoException;
      if (code === 'EPIPE') this.onClosed();
      if (typeof code === 'string' && syscall === 'write') throw outputError(code);
      throw err;
    }
  }

  /** Stops the worker (after finish, or when the search failed). */
  close(): void {
    this.port?.close();
    void this.worker?.terminate();
    this.worker = null;
  }
}
