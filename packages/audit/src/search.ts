import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { ContainerDirectory, UnknownContainerError, resolveContainerRef } from '@contid/core/dist/container-ref';
import { ContidError } from '@contid/core/dist/errors';
import { encodeValue } from '@contid/core/dist/record-format';
import { formatContainerId } from '@contid/core/dist/container-id';
import { Attributor, AttributedContainer, AttributorOptions, stampKey } from './attributor';
import type { BindingQuery } from './binding-relevance';
import { EventFilter, containerMatches, labelsMatch, matchesFilter, withoutContainerFilter } from './filter';
import { AuditEvent, Reassembler } from './reassembler';
import { AuditRecord, detachRecord, kernelSession, parseRecord, parseRecordBytes, recordRawBytes } from './record';
import { scanLines } from './reader';
import { scanSessions } from './session-scan';
import { Stamp, kernelStamp, lineNode } from './boot-watch';
import { isBindingLine, isEntryLine } from './line-bytes';
import { forEachLine } from './buffer-lines';
import { readRanges } from './read-ranges';
import { SessionMemo } from './session-memo';
import { IndexedFile, IndexedLine, SearchIndex } from './search-index';
import { RangeFacts, SessionRangeCheck, checkBindingLines, checkSessionRanges, rangePairs } from './index-check';
import { SpoolFile } from './spool-file';

export interface SearchOptions {
  /** Log files in time order (see orderLogFiles). */
  files: string[];
  filter: EventFilter;
  attribution?: AttributorOptions;
  /** Reassembly completion timeout in audit time (ms). */
  timeoutMs?: number;
  maxLineBytes?: number;
  onEvent: (event: AuditEvent, chain: AttributedContainer[]) => void;
  /** Bytes read so far of `total` (both passes count): drives a progress bar. */
  onProgress?: (done: number, total: number) => void;
  /**
   * Read every line (counting every malformed one) even when a container filter would let
   * the byte-level session scan skip most of the log. `--strict` sets it.
   */
  fullScan?: boolean;
  /** A sidecar index: used when it describes every input file exactly as it is now. */
  index?: SearchIndex | null;
  /** Stop after this many matching events (ausearch --just-one: 1). */
  limit?: number;
  /**
   * Raw bytes out, for `--format raw` with only container filters: with an index, the
   * matching byte ranges are copied without decoding (enriched parts stripped). The full scan
   * (every line read) writes each matching event's lines through it instead of onEvent when
   * the filter names no container: its bytes go out without becoming strings. The buffer is
   * the caller's only during the call (it is reused).
   */
  rawOut?: (buf: Buffer) => void;
  /**
   * The most bytes of index ranges an indexed raw answer (one session) goes through a spool file
   * (see readSpooledRanges); a bigger one, or 0, reads each range twice. Default SPOOL_MAX_BYTES.
   */
  spoolMaxBytes?: number;
  /** The index was not used because it does not match the logs or cannot be read (one call at most). */
  onIndexProblem?: (reason: string) => void;
  /** SYSCALL records of setns / pivot_root, seen in the first pass (see entries.ts). */
  onEntryRecord?: (rec: AuditRecord) => void;
  /** Learn the bindings and entries only: no event is read (`search --untagged`). */
  firstPassOnly?: boolean;
  /**
   * Verify every binding's signature (`--show-rejected` lists every one that fails). Otherwise
   * only the bindings that can change the answer are verified (see relevantBindings).
   */
  verifyAll?: boolean;
}

/** Above this many selected sessions one pass over every line beats one byte search per session. */
const MAX_SCAN_SESSIONS = 48;

export interface SearchStats {
  lines: number;
  /** Lines that are not audit records (garbage, truncated heads, oversized). */
  skipped: number;
  events: number;
  matched: number;
  /** Binding records that failed the trust rule. */
  rejected: number;
  /**
   * Records read apart from their event, as an event of their own, because more events were
   * open at once than the reassembler holds (ausearch, which holds any number, groups them).
   */
  recordsAfterCut: number;
  /**
   * Records the session scan read apart from their event, as an event of their own, because
   * more events were open at once than it holds (SCAN_MAX_OPEN; ausearch holds any number).
   */
  eventsCut: number;
}


/**
 * Global positions: file i's bytes start at the sum of the sizes before it. A file that
 * vanished since it was listed (auditd rotated it away) is left out, not fatal.
 */
export function fileBases(files: string[]): { file: string; base: number; size: number }[] {
  let base = 0;
  const out: { file: string; base: number; size: number }[] = [];
  for (const file of files) {
    let size: number;
    try {
      size = statSync(file).size;
    } catch {
      continue;
    }
    out.push({ file, base, size });
    base += size;
  }
  return out;
}

/**
 * First pass: only the lines that can carry a binding are parsed (found by byte search),
 * so bindings written after the first events of their session are known before any event
 * is attributed.
 */
export function learnBindings(
  files: string[] | { file: string; base: number }[],
  attributor: Attributor,
  onBytes?: (n: number) => void,
  onEntryRecord?: (rec: AuditRecord) => void,
): void {
  const bases = files.length > 0 && typeof files[0] === 'string' ? fileBases(files as string[]) : (files as { file: string; base: number }[]);
  const stamp: Stamp = { serial: 0, timeMs: 0 };
  for (const { file, base } of bases) {
    let last = base;
    const size = scanLines(
      file,
      (buf, start, end, offset) => {
        if (isBindingLine(buf, start, end)) {
          const rec = parseRecord(buf.toString('latin1', start, end), offset);
          if (rec) attributor.observeRecord(rec);
        } else {
          // every other line by its serial only: a serial restarting low is a new boot of its node
          if (kernelStamp(buf, start, end, stamp) && attributor.watchSerial(lineNode(buf, start, end), stamp.serial, stamp.timeMs)) {
            const rec = parseRecord(buf.toString('latin1', start, end), offset);
            if (rec) attributor.observeBoot(rec);
          }
          if (onEntryRecord && isEntryLine(buf, start, end)) {
            const rec = parseRecord(buf.toString('latin1', start, end), offset);
            if (rec) onEntryRecord(rec);
          }
        }
        if (onBytes && offset - last > 16 << 20) {
          onBytes(offset - last);
          last = offset;
        }
      },
      { base },
    );
    onBytes?.(base + size - last);
  }
}

/** Contids whose events a container/orchestrator filter selects (with nesting when asked). */
export function selectedContainers(attributor: Attributor, f: EventFilter): Set<string> | null {
  if (f.container === undefined && f.containerIds === undefined && f.orchestrator === undefined && f.labels === undefined) return null;
  const out = new Set<string>();
  for (const c of attributor.knownContainers()) {
    const chain = f.includeNested ? attributor.chain(c) : [c];
    const hit = chain.some(
      (x) => containerMatches(f, x) && (f.orchestrator === undefined || x.orchestrator === f.orchestrator) && (f.labels === undefined || labelsMatch(x, f.labels)),
    );
    if (hit) out.add(String(c.contid));
  }
  return out;
}

/**
 * `--container REF` resolved once, by the resolver `show`, `end` and `exec --setns` use, among
 * the containers the log's bindings describe: the host's names first, an ambiguous name an
 * error naming the candidates, a ref of digits never a runtime-id prefix. A ref that no binding
 * in the logs names can match nothing: one line and exit 1 (as ausearch's `<no matches>`), so a
 * mistyped name is not mistaken for a quiet container.
 */
export function resolveContainerFilter(attributor: Attributor, f: EventFilter): EventFilter {
  if (f.container === undefined) return f;
  const known = attributor.knownContainers();
  const dir: ContainerDirectory<AttributedContainer> = {
    byContid: (id) => attributor.container(id),
    byName: (name) => known.filter((c) => c.name === name),
    byRuntimePrefix: (prefix) => known.filter((c) => c.runtimeId !== null && c.runtimeId.startsWith(prefix)),
    kind: 'the logs read',
  };
  try {
    return { ...f, containerIds: new Set(resolveContainerRef(dir, f.container).containers.map((c) => formatContainerId(c.contid))) };
  } catch (e) {
    if (e instanceof UnknownContainerError) throw new ContidError(`unknown container "${f.container}": no binding in the logs read names it${unverifiedNote(attributor, f.container)}`, 1);
    throw e;
  }
}

/**
 * Why a name may be missing: bindings that could not be verified are never used, so a reader
 * without a node's key must be told, in the same line, which key to import.
 */
function unverifiedNote(attributor: Attributor, ref: string): string {
  if (attributor.rejectedCount === 0) return '';
  const why = [...attributor.rejectedBy].map(([reason, n]) => `${n} ${reason}`).join(', ');
  // the keys of rejected bindings that name this container first
  const naming = new Set(
    attributor.rejected
      .filter((r) => r.reason === 'unknown-key' && r.keyId !== undefined && (r.record.body?.includes(` vm=${encodeValue(ref)} `) || r.record.body?.includes(` contid=${ref} `)))
      .map((r) => r.keyId!),
  );
  const unknown = [...attributor.unknownKeys.values()].sort((a, b) => Number(naming.has(b.keyId)) - Number(naming.has(a.keyId)));
  const keys = unknown.slice(0, 3).map((k) => `node ${k.node} key ${k.keyId}`);
  const fix = keys.length > 0 ? `; import the signing node's key (${keys.join(', ')}): contid keys import --node NODE FILE, from contid keys export on that node` : '';
  return ` (rejected ${attributor.rejectedCount} binding record(s) that could not be verified: ${why}${fix}; --show-rejected lists them)`;
}

const ENTRY_OPS: ReadonlySet<string> = new Set(['untagged', 'update']);

/** The containers a filter selects, as the bindings to verify follow from them; null: it may need any. */
function bindingQueryOf(f: EventFilter): BindingQuery | null {
  if (f.labels !== undefined) return null; // labels come from the registry, any container may carry them
  // a nested child may be known as one from the registry only (its create rotated away),
  // which any binding's nesting check can bring in: every binding is verified
  if (f.includeNested) return null;
  if (f.container === undefined && f.containerIds === undefined && f.orchestrator === undefined) return null;
  return { ref: f.container, contids: f.containerIds, orchestrator: f.orchestrator, includeNested: f.includeNested };
}

/** Only container/orchestrator filters: an indexed raw search may copy bytes as they are. */
function onlyContainerFilters(f: EventFilter): boolean {
  const { container: _c, containerIds: _i, orchestrator: _o, includeNested: _n, ...rest } = f;
  return Object.values(rest).every((v) => v === undefined || (Array.isArray(v) && v.length === 0));
}

/** The lines of `buf` without their enriched parts (after 0x1D), as --format raw prints them. */
function withoutEnriched(buf: Buffer): Buffer {
  if (buf.indexOf(0x1d) < 0) return buf;
  const parts: Buffer[] = [];
  forEachLine(buf, (ls, le) => {
    const gs = buf.indexOf(0x1d, ls);
    parts.push(buf.subarray(ls, gs >= 0 && gs < le ? gs : le), Buffer.from('\n'));
  });
  return Buffer.concat(parts);
}

/** Sessions bound to the containers a container/orchestrator filter selects; null without one. */
export function selectedSessions(attributor: Attributor, f: EventFilter): number[] | null {
  const contids = selectedContainers(attributor, f);
  if (contids === null) return null;
  const out = new Set<number>();
  for (const b of attributor.sessionBindings()) {
    if (f.nodes && f.nodes.length > 0 && (b.node === null || !f.nodes.includes(b.node))) continue;
    if (contids.has(String(b.contid))) out.add(b.session);
  }
  return [...out].sort((a, b) => a - b);
}

/**
 * The index's entries for every input file, with their binding lines checked byte for byte
 * against the log; null when a file is not indexed as it is now, or (after one `warn`) when
 * the index cannot be read or does not match — then the logs are scanned instead.
 */
function checkedEntries(
  index: SearchIndex,
  bases: { file: string }[],
  warn: (reason: string) => void,
): { entries: IndexedFile[]; bindings: IndexedLine[][] } | null {
  try {
    const entries = bases.map((b) => index.lookup(b.file));
    if (entries.some((e) => e === null)) return null;
    const bindings = entries.map((e) => index.bindingLines(e!));
    for (const [i, e] of (entries as IndexedFile[]).entries()) {
      const why = checkBindingLines(e.path, e.size, bindings[i]);
      if (why) {
        warn(`it does not match the log ${e.path}: ${why}`);
        return null;
      }
    }
    return { entries: entries as IndexedFile[], bindings };
  } catch (e) {
    warn(`it cannot be read: ${(e as Error).message}`);
    return null;
  }
}

/** One file's ranges of the selected sessions, ascending: flat [start, end) pairs and each range's session. */
interface SessionRanges {
  pairs: Float64Array;
  sessions: Float64Array;
}

/** Per file (`fds`: open on each), the selected sessions' ranges, each checked against the log; null as above. */
function checkedRanges(index: SearchIndex, entries: IndexedFile[], fds: number[], sessions: number[], facts: RangeFacts, warn: (reason: string) => void): SessionRanges[] | null {
  try {
    const out: SessionRanges[] = [];
    for (const [i, e] of entries.entries()) {
      const each: { pairs: Float64Array; session: number }[] = [];
      for (const s of sessions) {
        const pairs = rangePairs(index.sessionRanges(e, s), e.size);
        const why = pairs === null ? `the ranges of session ${s} are not byte ranges of it` : checkSessionRanges(fds[i], s, pairs, facts);
        if (why) {
          warn(`it does not match the log ${e.path}: ${why}`);
          return null;
        }
        each.push({ pairs: pairs!, session: s });
      }
      out.push(mergeRanges(each));
    }
    return out;
  } catch (e) {
    warn(`it cannot be read: ${(e as Error).message}`);
    return null;
  }
}

/** The sessions' ascending ranges as one list in file order (they never overlap: each line is filed once). */
function mergeRanges(each: { pairs: Float64Array; session: number }[]): SessionRanges {
  if (each.length === 1) return { pairs: each[0].pairs, sessions: new Float64Array(each[0].pairs.length / 2).fill(each[0].session) };
  const order: [number, number][] = []; // [list, range]
  each.forEach((x, l) => {
    for (let r = 0; r < x.pairs.length / 2; r++) order.push([l, r]);
  });
  order.sort((a, b) => each[a[0]].pairs[2 * a[1]] - each[b[0]].pairs[2 * b[1]]);
  const out = { pairs: new Float64Array(order.length * 2), sessions: new Float64Array(order.length) };
  order.forEach(([l, r], k) => {
    out.pairs[2 * k] = each[l].pairs[2 * r];
    out.pairs[2 * k + 1] = each[l].pairs[2 * r + 1];
    out.sessions[k] = each[l].session;
  });
  return out;
}

/**
 * Streams the logs through parse → reassemble → attribute → filter. Memory is bounded by
 * the open events and the bindings, not by the log size.
 */
export function searchLogs(options: SearchOptions): SearchStats & { attributor: Attributor } {
  const attributor = new Attributor({ ...options.attribution, deferVerification: true });
  const bases = fileBases(options.files);
  const total = bases.reduce((s, b) => s + b.size, 0) * 2;
  let done = 0;
  const progress = (n: number): void => {
    done += n;
    options.onProgress?.(done, total);
  };
  const warn = options.onIndexProblem ?? ((): void => undefined);
  const entrySessions: { node: string | null; session: number }[] = [];
  const onEntryRecord = options.onEntryRecord && ((rec: AuditRecord): void => {
    const ses = rec.fields.get('ses');
    if (ses !== undefined && /^\d{1,10}$/.test(ses)) entrySessions.push({ node: rec.node, session: Number(ses) });
    options.onEntryRecord!(rec);
  });
  const indexed = options.index && !options.fullScan && !options.attribution?.procfsContid ? checkedEntries(options.index, bases, warn) : null;
  if (indexed) {
    bases.forEach((b, i) => {
      for (const l of indexed.bindings[i]) {
        const rec = parseRecord(l.line, b.base + l.offset);
        if (!rec) continue;
        if (l.boot !== 0) attributor.observeSerial(rec); // a boot line: kept for the boots it shows
        if (l.boot === 1) continue;
        if (rec.type === 'SYSCALL') onEntryRecord?.(rec); // the index keeps entry lines with the bindings
        else attributor.observeBinding(rec);
      }
    });
  } else learnBindings(bases, attributor, progress, onEntryRecord);
  const query = bindingQueryOf(options.filter);
  // entries into the selected containers are judged by who started each root and by the
  // entering session's binding: those bindings are read too
  attributor.settle(options.verifyAll || options.attribution?.procfsContid || query === null ? null : { ...query, sessions: entrySessions, ops: options.onEntryRecord ? ENTRY_OPS : undefined });
  const filter = resolveContainerFilter(attributor, options.filter);
  const stats: SearchStats = { lines: 0, skipped: 0, events: 0, matched: 0, rejected: attributor.rejectedCount, recordsAfterCut: 0, eventsCut: 0 };
  if (options.firstPassOnly) return { ...stats, attributor };
  const reassembler = new Reassembler({ timeoutMs: options.timeoutMs });
  const cheap = withoutContainerFilter(filter);
  // raw bytes out and no container in the filter: the chain is neither printed nor matched on
  const rawWriter = options.rawOut && !hasContainerCriteria(filter) ? new RawEventWriter(options.rawOut) : null;
  const emit = (events: AuditEvent[], bytesOut = false): void => {
    for (const event of events) {
      stats.events++;
      if (!matchesFilter(cheap, event, [])) continue; // attribution only for events that can still match
      if (bytesOut && rawWriter) {
        stats.matched++;
        rawWriter.write(event);
      } else {
        const c = attributor.attribute(event);
        const chain = c ? attributor.chain(c) : [];
        if (!matchesFilter(filter, event, chain)) continue;
        stats.matched++;
        options.onEvent(event, chain);
      }
      if (options.limit !== undefined && stats.matched >= options.limit) throw LIMIT_REACHED;
    }
  };
  try {
    readEvents(options, filter, bases, attributor, indexed, warn, stats, emit, reassembler, progress);
  } catch (err) {
    if (err !== LIMIT_REACHED) throw err;
  }
  stats.recordsAfterCut = reassembler.recordsAfterCut;
  return { ...stats, attributor };
}

/**
 * The container of an event's raw bytes (sessions unique: one node, one boot), found exactly as
 * attribute() finds a decoded event's: by the kernel's `ses=` of the first record that has one
 * (sessionOf), never by the number a byte search matched — text a sender controls (inside a
 * user record's msg='…', an enriched part) can say ` ses=N ` too (outside attack F1). Bytes
 * with no such record (an index range holding only an event's later records) take
 * `knownSession`, the session the index filed the whole event under; without one, none.
 */
function containerOfBytes(memo: SessionMemo, bytes: Buffer, offset: number, knownSession?: number): AttributedContainer | null {
  // the records point at `bytes` only during this call: nothing here keeps them
  let head: AuditRecord | null = null;
  let session: number | null | undefined;
  // forEachLine's walk, without a closure a call: this runs once per index range or event
  for (let ls = 0; ls < bytes.length; ) {
    let le = bytes.indexOf(10, ls);
    if (le < 0) le = bytes.length;
    const rec = parseRecordBytes(bytes, ls, le, offset + ls);
    ls = le + 1;
    if (!rec) continue;
    head ??= rec;
    session = kernelSession(rec);
    if (session !== undefined) break; // sessionOf reads no further
  }
  if (head === null) return null;
  if (session === undefined) return knownSession === undefined ? null : memo.attributeSession(knownSession, offset, head);
  return memo.attributeSession(session, head.offset, head);
}

/**
 * The container of a whole index range (several events of one session, merged), or undefined
 * when one container cannot be said for all of it: the range begins before the session's last
 * epoch (a LOGIN allocating the number again inside it) with lines that are not of that
 * LOGIN's own event — those bytes are decoded, event by event. It reads the session of the
 * range's first record that names one: the check (SessionRangeCheck) has read every line of
 * the range before, by the scan's own reader (sessionOfRecordLine), and refuses a range in
 * which any record names another session, or an unset one — so every event of it is `session`'s.
 */
function containerOfRange(memo: SessionMemo, session: number, bytes: Buffer, offset: number): AttributedContainer | null | undefined {
  const last = memo.lastEpoch(session, bytes[0] === 0x6e /* n */ ? lineNode(bytes, 0, lineEnd(bytes)) || null : null);
  if (last !== null && offset < last.start) {
    // a range ending before the epoch's LOGIN is all of an earlier epoch
    if (offset + bytes.length < last.start) return undefined;
    let mixed = false; // a line before the LOGIN that is not of the LOGIN's own event
    forEachLine(bytes, (ls, le) => {
      if (offset + ls >= last.start) return false;
      const line = parseRecordBytes(bytes, ls, le, offset + ls);
      mixed = line === null || last.stamp === undefined || stampKey(line.timeMs, line.serialText) !== last.stamp;
      return !mixed;
    });
    if (mixed) return undefined;
  }
  return containerOfBytes(memo, bytes, offset, session);
}

/** Where the first line of `bytes` ends. */
function lineEnd(bytes: Buffer): number {
  const nl = bytes.indexOf(10);
  return nl < 0 ? bytes.length : nl;
}

/**
 * True when every line of `bytes` has the first line's `node=` prefix (or every line none).
 * The byte shortcuts group lines by stamp and session number alone; a node that only event
 * lines name (no LOGIN, no binding) can share both, so mixed bytes go the decoding way.
 */
function oneNode(bytes: Buffer): boolean {
  if (bytes[0] !== 0x6e /* n */ && bytes.indexOf('\nnode=') < 0) return true;
  const sp = bytes.indexOf(0x20);
  const prefix = bytes.subarray(0, sp + 1);
  return forEachLine(bytes, (ls, le) => le - ls >= prefix.length && bytes.compare(prefix, 0, prefix.length, ls, ls + prefix.length) === 0);
}

/** Each line of `bytes` decoded and reassembled: the way of any event the shortcuts cannot take. */
function decodeLines(bytes: Buffer, offset: number, stats: SearchStats, emit: (events: AuditEvent[]) => void, reassembler: Reassembler): void {
  forEachLine(bytes, (ls, le) => {
    if (le === ls) return;
    stats.lines++;
    const rec = parseRecord(bytes.toString('latin1', ls, le), offset + ls);
    if (!rec) stats.skipped++;
    else emit(reassembler.push(rec));
  });
}

/** Thrown through the readers when --just-one has its event: every reader closes its file in finally. */
const LIMIT_REACHED = Symbol('limit reached');

/** The second pass: every candidate line through the reassembler into `emit`. */
function readEvents(
  options: SearchOptions,
  filter: EventFilter,
  bases: { file: string; base: number; size: number }[],
  attributor: Attributor,
  indexed: ReturnType<typeof checkedEntries>,
  warn: (reason: string) => void,
  stats: SearchStats,
  emit: (events: AuditEvent[], bytesOut?: boolean) => void,
  reassembler: Reassembler,
  progress: (n: number) => void,
): void {
  const sessions = options.fullScan || options.attribution?.procfsContid ? null : selectedSessions(attributor, filter);
  let everyLine = false;
  if (indexed && sessions !== null && readIndexedRanges(options, filter, bases, attributor, indexed.entries, sessions, warn, stats, emit, reassembler)) {
    // every selected range handed out
  } else if (sessions !== null && sessions.length <= MAX_SCAN_SESSIONS) {
    const contids = selectedContainers(attributor, filter)!;
    const memo = new SessionMemo(attributor);
    // raw output with only container filters: an event's bytes go out as they are
    // (several nodes or boots: the same number is another session, so every event is attributed)
    const onEventBytes = options.rawOut && onlyContainerFilters(filter) && attributor.sessionsAreUnique()
      ? (bytes: Buffer, offset: number): void => {
          if (!oneNode(bytes)) return decodeLines(bytes, offset, stats, emit, reassembler);
          const c = containerOfBytes(memo, bytes, offset);
          if (c === null || !contids.has(String(c.contid))) return;
          stats.matched++;
          options.rawOut!(bytes);
        }
      : undefined;
    for (const { file, base } of bases) {
      let last: AuditRecord | null = null; // of the event being handed out
      scanSessions(
        file,
        sessions,
        (line, offset) => {
          stats.lines++;
          const rec = parseRecord(line, offset);
          if (!rec) stats.skipped++;
          else emit(reassembler.push((last = rec)));
        },
        {
          base,
          onBytes: progress,
          onEventBytes,
          onEventEnd: () => {
            if (last !== null) emit(reassembler.endEventOf(last));
            last = null;
          },
          timeoutMs: options.timeoutMs,
          onCut: (n) => void (stats.eventsCut += n),
        },
      );
    }
  } else {
    // every line: records point at the buffers read (never reused), not at strings of their
    // own, which the garbage collector copied while the reassembler held them
    everyLine = true;
    let chunk: Buffer | null = null;
    let chunks = 0;
    for (const { file, base } of bases) {
      let last = base;
      const size = scanLines(
        file,
        (buf, start, end, offset) => {
          if (buf !== chunk) {
            chunk = buf;
            // a record still held keeps its whole buffer: now and then they get strings of their own
            if (++chunks % DETACH_CHUNKS === 0) for (const held of reassembler.heldRecords()) detachRecord(held);
          }
          stats.lines++;
          const rec = parseRecordBytes(buf, start, end, offset);
          if (!rec) {
            stats.skipped++;
            return;
          }
          emit(reassembler.push(rec), true);
          if (offset - last > 16 << 20) {
            progress(offset - last);
            last = offset;
          }
        },
        {
          base,
          keepChunks: true,
          maxLineBytes: options.maxLineBytes,
          onOversize: () => {
            stats.lines++;
            stats.skipped++;
          },
        },
      );
      progress(base + size - last);
    }
  }
  emit(reassembler.flush(), everyLine);
}

/**
 * The indexed way: the selected sessions' ranges, checked against the log, then printed whole
 * (raw output and container filters only, where containerOfRange can say) or decoded. One
 * descriptor per file for both passes: the bytes printed are those of the file checked, also
 * when auditd rotates the log between them. False (after one `warn`) when the index cannot
 * be used: nothing was handed out, the logs are scanned.
 */
function readIndexedRanges(
  options: SearchOptions,
  filter: EventFilter,
  bases: { file: string; base: number }[],
  attributor: Attributor,
  entries: IndexedFile[],
  sessions: number[],
  warn: (reason: string) => void,
  stats: SearchStats,
  emit: (events: AuditEvent[]) => void,
  reassembler: Reassembler,
): boolean {
  const fds: number[] = [];
  try {
    try {
      for (const b of bases) fds.push(openSync(b.file, 'r'));
    } catch (e) {
      warn(`it cannot be read: ${(e as Error).message}`);
      return false;
    }
    const contids = selectedContainers(attributor, filter)!;
    const direct = options.rawOut && onlyContainerFilters(filter) && attributor.sessionsAreUnique();
    const memo = new SessionMemo(attributor);
    // a container's answer, kept: tens of thousands of ranges name a few containers
    const selected = new Map<AttributedContainer, boolean>();
    const isSelected = (c: AttributedContainer): boolean => {
      let yes = selected.get(c);
      if (yes === undefined) selected.set(c, (yes = contids.has(String(c.contid))));
      return yes;
    };
    if (direct && sessions.length === 1) {
      const spooled = readSpooledRanges(options, bases, entries, fds, sessions[0], memo, isSelected, warn, stats, emit, reassembler);
      if (spooled !== null) return spooled;
    }
    const facts: RangeFacts = { nodeLines: false };
    const ranges = checkedRanges(options.index!, entries, fds, sessions, facts, warn);
    if (ranges === null) return false;
    bases.forEach((b, i) => {
      const { pairs, sessions: sessionOfRange } = ranges[i];
      readRanges(fds[i], pairs, (buf, at, k) => {
        // no line of any range names a node: each is of one node (oneNode) without a search
        const c = direct && (!facts.nodeLines || oneNode(buf)) ? containerOfRange(memo, sessionOfRange[k], buf, b.base + at) : undefined;
        if (c !== undefined) {
          if (c !== null && isSelected(c)) {
            stats.matched++;
            options.rawOut!(withoutEnriched(buf));
          }
          return;
        }
        decodeLines(buf, b.base + at, stats, emit, reassembler);
      });
    });
    return true;
  } finally {
    for (const fd of fds) closeSync(fd);
  }
}

/** An indexed raw answer larger than this is read twice instead (the spool would take that much temp space). */
const SPOOL_MAX_BYTES = 256 << 20;
/** Ranges whose gap is smaller than this are read together (readRanges' rule: a page costs less to copy than a read to ask)… */
const NEAR_BYTES = 4096;
/** …in one read of at most this many bytes. */
const WINDOW_BYTES = 128 << 10;
/** What the spooled way does with a range once checked. */
const SKIP = 0;
const PRINT = 1;
const DECODE = 2;

/**
 * The indexed way for raw output of one selected session, each range read once: every range is
 * read into a reused 1 MB slab (with the byte before it) — ranges less than NEAR_BYTES apart
 * in one read into a window, each copied from there — checked as checkSessionRanges checks
 * it (SessionRangeCheck), and its fate decided as readIndexedRanges decides it — printed as it
 * is (without ENRICHED parts), decoded, or left out. What is to be printed or decoded is appended
 * to a spool file (spool-file.ts) a slab at a time; only once every range of every file holds
 * is the spool read back, a slab at a time, and handed out in the order the other way hands it
 * out: nothing is printed from an index that lies. In place of a second `pread` per range
 * (21,483 for the bench's c-7) or the answer held in fresh memory (a page fault per 4 KB): a
 * few dozen writes and reads of 1 MB. Null when this way does not apply (no spool file, an
 * answer over spoolMaxBytes, a spool write that failed): the caller reads each range twice. False, after one `warn`, when
 * the index cannot be used (nothing handed out).
 */
function readSpooledRanges(
  options: SearchOptions,
  bases: { file: string; base: number }[],
  entries: IndexedFile[],
  fds: number[],
  session: number,
  memo: SessionMemo,
  isSelected: (c: AttributedContainer) => boolean,
  warn: (reason: string) => void,
  stats: SearchStats,
  emit: (events: AuditEvent[]) => void,
  reassembler: Reassembler,
): boolean | null {
  let all: Float64Array[];
  try {
    all = entries.map((e) => options.index!.sessionRanges(e, session));
  } catch (e) {
    warn(`it cannot be read: ${(e as Error).message}`);
    return false;
  }
  let total = 0;
  let count = 0;
  for (const pairs of all) {
    count += pairs.length >> 1;
    for (let i = 0; i + 1 < pairs.length; i += 2) total += pairs[i + 1] - pairs[i];
  }
  // (NaN, from ranges that are not numbers, is not ≤: rangePairs refuses those on the other way)
  if (!(total <= (options.spoolMaxBytes ?? SPOOL_MAX_BYTES))) return null;
  const spool = SpoolFile.open();
  if (spool === null) return null;
  // A full or failing temp file system (any user can fill /tmp) must not cost the answer: the
  // checking phase stops and the caller reads each range twice instead, which needs no spool.
  const append = (from: number, to: number): boolean => {
    try {
      spool.append(slab, from, to);
      return true;
    } catch {
      return false;
    }
  };
  // per range kept: its file, its offset in it, its length in the spool, what to do with it
  const fileOf = new Uint32Array(count);
  const atOf = new Float64Array(count);
  const lengthOf = new Float64Array(count);
  const actionOf = new Uint8Array(count);
  let kept = 0;
  let slab = Buffer.allocUnsafe(1 << 20);
  // ranges that lie close together are read in one go into this (made when first needed)
  let window: Buffer | null = null;
  try {
    // the bytes kept are slab[1, o); slab[0] takes the byte before a range read at the slab's start
    let o = 1;
    for (let i = 0; i < entries.length; i++) {
      const pairs = rangePairs(all[i], entries[i].size);
      if (pairs === null) {
        warn(`it does not match the log ${entries[i].path}: the ranges of session ${session} are not byte ranges of it`);
        return false;
      }
      const check = new SessionRangeCheck(session);
      const ranges = pairs.length >> 1;
      // the window: file bytes [windowFrom, windowTo) asked for, windowGot of them read into `window`
      let windowFrom = 0;
      let windowTo = 0;
      let windowGot = 0;
      for (let k = 0; k < ranges; k++) {
        const start = pairs[2 * k];
        const end = pairs[2 * k + 1];
        const length = end - start;
        const pad = start > 0 ? 1 : 0;
        if (o + length > slab.length) {
          if (!append(1, o)) return null;
          o = 1;
          if (1 + length > slab.length) slab = Buffer.allocUnsafe(1 + length);
        }
        let before: number;
        let bytes: Buffer;
        try {
          if (start - pad < windowFrom || end > windowTo) {
            // the ranges close after this one, with it and its byte before, in one read
            let last = end;
            for (let j = k + 1; j < ranges && pairs[2 * j] - last < NEAR_BYTES && pairs[2 * j + 1] - (start - pad) <= WINDOW_BYTES; j++) last = pairs[2 * j + 1];
            if (last > end) {
              window ??= Buffer.allocUnsafe(WINDOW_BYTES);
              windowFrom = start - pad;
              windowTo = last;
              windowGot = readSync(fds[i], window, 0, last - windowFrom, windowFrom);
            }
          }
          if (start - pad >= windowFrom && end <= windowTo) {
            // from the window: copied where the slab keeps it (what a file that ended early did not give stays out)
            const got = Math.max(0, Math.min(end, windowFrom + windowGot) - start);
            before = pad === 0 ? 0x0a : start - 1 < windowFrom + windowGot ? window![start - 1 - windowFrom] : -1;
            slab.set(window!.subarray(start - windowFrom, start - windowFrom + got), o);
            bytes = slab.subarray(o, o + got);
          } else {
            // alone: read with the byte before it, over the last byte kept (a newline, as that byte must be)
            const got = readSync(fds[i], slab, o - pad, length + pad, start - pad);
            before = pad === 0 ? 0x0a : got > 0 ? slab[o - 1] : -1;
            bytes = slab.subarray(o, o + Math.max(0, got - pad));
          }
        } catch (e) {
          // as checkedRanges: the index is not used and the caller scans the log (whose own read error, if it lasts, is then the answer)
          warn(`it cannot be read: ${(e as Error).message}`);
          return false;
        }
        const why = check.range(before, bytes, length);
        if (why !== null) {
          warn(`it does not match the log ${entries[i].path}: ${why}`);
          return false;
        }
        // readIndexedRanges' decision on the same bytes: a range with no node= line is of one node
        const c = !check.nodeLines || oneNode(bytes) ? containerOfRange(memo, session, bytes, bases[i].base + start) : undefined;
        const action = c === undefined ? DECODE : c !== null && isSelected(c) ? PRINT : SKIP;
        if (action === SKIP) continue;
        // as printed: without ENRICHED parts (never longer)
        const n = action === PRINT && bytes.indexOf(0x1d) >= 0 ? withoutEnriched(bytes).copy(slab, o) : length;
        fileOf[kept] = i;
        atOf[kept] = start;
        lengthOf[kept] = n;
        actionOf[kept++] = action;
        o += n;
      }
      const why = check.finish();
      if (why !== null) {
        warn(`it does not match the log ${entries[i].path}: ${why}`);
        return false;
      }
    }
    if (!append(1, o)) return null;
    // every range holds: handed out in order, a run of printed ranges in one call
    let position = 0;
    for (let k = 0; k < kept; ) {
      let size = 0;
      let m = k;
      while (m < kept && (m === k || size + lengthOf[m] <= slab.length)) size += lengthOf[m++];
      if (size > slab.length) slab = Buffer.allocUnsafe(size);
      spool.read(slab, size, position);
      position += size;
      for (let p = 0; k < m; ) {
        if (actionOf[k] === DECODE) {
          decodeLines(slab.subarray(p, p + lengthOf[k]), bases[fileOf[k]].base + atOf[k], stats, emit, reassembler);
          p += lengthOf[k++];
          continue;
        }
        const from = p;
        for (; k < m && actionOf[k] === PRINT; k++) {
          p += lengthOf[k];
          stats.matched++;
        }
        options.rawOut!(slab.subarray(from, p));
      }
    }
    return true;
  } finally {
    spool.close();
  }
}

/** Read buffers (1 MB) begun between two detaches of the held records: what they keep stays under 64 MB. */
const DETACH_CHUNKS = 64;

/** A filter that names containers (or their requester): only attribution can decide it. */
export function hasContainerCriteria(f: EventFilter): boolean {
  return f.container !== undefined || f.containerIds !== undefined || f.orchestrator !== undefined || f.labels !== undefined || f.requestedBy !== undefined;
}

/**
 * A raw event's records as bytes, each line up to its ENRICHED part and a newline — what
 * formatAuditEvent('raw') prints, before rawOut's escaping — gathered in one reused buffer and
 * handed out once per event; records still pointing at the bytes read are copied without becoming strings.
 */
class RawEventWriter {
  private buf = Buffer.allocUnsafe(64 << 10);

  constructor(private readonly out: (buf: Buffer) => void) {}

  write(event: AuditEvent): void {
    let n = 0;
    for (const rec of event.records) {
      const bytes = recordRawBytes(rec);
      const len = bytes ? bytes.end - bytes.start : rec.raw.length;
      if (n + len + 1 > this.buf.length) this.grow(n + len + 1, n);
      if (bytes) n += bytes.buf.copy(this.buf, n, bytes.start, bytes.end);
      else n += this.buf.write(rec.raw, n, 'latin1');
      this.buf[n++] = 10;
    }
    this.out(this.buf.subarray(0, n));
  }

  private grow(size: number, keep: number): void {
    const bigger = Buffer.allocUnsafe(Math.max(size, this.buf.length * 2));
    this.buf.copy(bigger, 0, 0, keep);
    this.buf = bigger;
  }
}
