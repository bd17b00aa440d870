import { formatContainerId, parseLifecycle, type ContainerId } from '@contid/core';
import { Attributor, sessionOf, type AttributedContainer, type AttributorOptions } from '../attributor';
import { matchesFilter, type EventFilter } from '../filter';
import { compactEvent, type OutputContainer } from '../compact-format';
import { jsonIntoEnd, writeJsonEventInto } from '../json-event';
import { csvHeaderRow, formatAuditEvent, type FormatOptions, type SearchFormat } from '../format';
import { LruMap } from '../lru-map';
import { Reassembler, type AuditEvent } from '../reassembler';
import { kernelField, kernelSession, parseRecord, parseRecordBytes, recordLineLength, writeRecordLine, type AuditRecord } from '../record';
import type { EventPipeline } from './live-tail';
import type { QueuedLines } from './line-splitter';
import { HeldQueue, NO_EVENT } from './held-queue';
import { OutputBytes } from './output-bytes';

/** The registry, for sessions bound before the stream started (and for enrichment). */
export interface SessionRegistry {
  get(contid: ContainerId): OutputContainer | undefined;
  containerOfSession(session: number): AttributedContainer | undefined;
}

/** `contid search`'s formats, and `compact` (see compact-format.ts) for live output. */
export type TailFormat = SearchFormat | 'compact';
export const TAIL_FORMATS: readonly TailFormat[] = ['raw', 'interpret', 'text', 'csv', 'json', 'ecs', 'compact'];

export interface LivePipelineOptions extends Omit<AttributorOptions, 'registry'> {
  filter?: EventFilter;
  format?: TailFormat;
  /** compact: add the records as auditd wrote them. */
  rawRecords?: boolean;
  /** text and csv: as `contid search` takes them (csv's header row goes before the first row). */
  formatOptions?: FormatOptions;
  registry?: SessionRegistry;
  /**
   * The node the registry belongs to (its configured name). The registry answers for this
   * node's sessions of the current boot only: an event of another node (`node=` naming
   * another), or of unprefixed records said to be another's (`unprefixedNode`), is never
   * looked up in it. Unset: only records without `node=` are this node's.
   */
  localNode?: string | null;
  /**
   * When this node's current boot began (ms, wall clock): an event stamped before it is of an
   * earlier boot, whose session numbers the registry's (this boot's) do not name. Unset: no
   * event is taken for an earlier boot's.
   */
  bootStartMs?: number;
  /**
   * Sees every event as it goes out (after any wait for its binding), with the container its
   * session is bound to, before the filter; what it returns goes out before the event
   * (untagged entries: entries-live.ts).
   */
  onEmit?: (event: AuditEvent, container: AttributedContainer | null) => string;
  /** Completion timeout of an event that never sees its last record (wall clock). */
  eventTimeoutMs?: number;
  /** How long after its LOGIN an unattributed event of a new session waits for its binding. */
  bindingGraceMs?: number;
  /** At most this many events wait for a binding; beyond, the oldest go out as they are (counted: releasedEarly). */
  maxPending?: number;
  /** At most this many bytes of lines wait for a binding (one event may be megabytes: a long argv); beyond, as maxPending. */
  maxHeldBytes?: number;
}

/** Sessions a live reader remembers (LOGIN time, registry misses); older ones are asked again. */
export const DEFAULT_MAX_SESSIONS = 16_384;
/** Containers a live reader keeps; a dropped one is read from the registry again when needed. */
export const DEFAULT_MAX_CONTAINERS = 8_192;
/**
 * Nodes whose boots a live reader tracks (`node=` names: a collector's senders choose them);
 * the least recently seen are let go and counted (see Attributor.nodesForgotten).
 */
export const DEFAULT_MAX_NODES = 4_096;
/** Bytes of held events kept at most by default: a few seconds of a busy host's records. */
export const DEFAULT_MAX_HELD_BYTES = 8 * 1024 * 1024;

/**
 * A session of one node: session numbers are per node, so another node's LOGIN of S must not
 * make this node's S look freshly allocated. Unprefixed records (the common case) key by the
 * number alone: no string is made per event.
 */
type SessionKey = number | string;
const sessionKeyOf = (node: string | null, session: number): SessionKey => (node === null ? session : `${node} ${session}`);

/** What the pipeline knows of one session beyond its binding (which the attributor keeps). */
interface SessionState {
  /** Wall-clock time of the LOGIN that allocated it in this stream; null: allocated before. */
  loginAt: number | null;
  /** When the registry last had no binding for it (asked again after NEGATIVE_LOOKUP_MS). */
  missedAt: number | null;
  /**
   * Its events waiting for a binding, oldest first: the slot of the first in the held queue
   * (NO_EVENT: none), each slot naming the next (HeldQueue.next).
   */
  held: number;
  /**
   * The last of them. Events are let go in the order they were held, or all of a session's at
   * once, so the one let go is always the first of its session's chain: no array per session
   * (each one was another survivor of young-generation collections per held session).
   */
  heldLast: number;
}

const NEGATIVE_LOOKUP_MS = 2000;
/** A container whose image the registry did not know yet is asked again after this long. */
const ENRICH_RETRY_MS = 5000;

interface Enrichment {
  at: number;
  image: string | null;
  labels: Record<string, string> | undefined;
}
/**
 * Output one call returns at most from the held events that are due (bytes): a little under
 * 1 MB, so that the output's buffer (OutputBytes, doubling from 64 KB) stops at 1 MB. At 1 MB
 * exactly, the document that crossed it doubled the buffer to 2 MB for a few bytes more. Only
 * while each event's output is under 64 KB: the one that crosses the bound goes out whole (an
 * exec with a long argv still doubles the buffer; one over 1 MB goes out alone).
 */
const RELEASE_OUTPUT_BYTES = (1 << 20) - (1 << 16);
const BINDING_TYPES = new Set(['VIRT_CONTROL', 'CONTAINER_OP', 'UNKNOWN[1020]']);

/**
 * The search package's parse → reassemble → attribute → filter → format, for a live stream.
 * Two things only a live stream needs: (1) events of a session that a LOGIN has just
 * allocated but no binding names yet wait until `bindingGraceMs` after that LOGIN (a binding
 * may follow the first events: the Docker shim renews in sh and the Node side writes the
 * record later); (2) a session bound before the stream started is looked up in the registry,
 * once per session (a miss is remembered for a while), never per event. Everything kept per
 * session or container is bounded (least recently used dropped, found in the registry
 * again), so a flood of sessions cannot grow the process.
 */
export class LivePipeline implements EventPipeline {
  readonly attributor: Attributor;
  private readonly reassembler: Reassembler;
  private readonly sessions: LruMap<SessionKey, SessionState>;
  /** Held events in the order they were held (entries released early are marked out). */
  private readonly queue = new HeldQueue<SessionKey>();
  private readonly slabs = new HeldSlabs();
  private heldCount = 0;
  private heldLength = 0;
  private readonly grace: number;
  private readonly maxPending: number;
  readonly maxHeldBytes: number;
  private readonly filter: EventFilter;
  private readonly format: TailFormat;
  /** Image and labels from the registry, per container (the agent may add them after the binding). */
  private readonly enrichment: LruMap<string, Enrichment>;
  /** Lines that were not audit records. */
  skipped = 0;
  private csvHeaderDone = false;
  /**
   * Events sent before their session's binding could come, because the held events reached
   * their bound (maxPending, maxHeldBytes): they go out as they are (unattributed unless
   * the binding came), never dropped, and the tail reports how many.
   */
  releasedEarly = 0;
  private dueLeft = false;
  /** The output of the call under way (each call hands it on as one Buffer). */
  private readonly out = new OutputBytes();

  constructor(private readonly options: LivePipelineOptions = {}, private readonly clock: () => number = Date.now) {
    const registry = options.registry;
    this.attributor = new Attributor({
      maxSessions: DEFAULT_MAX_SESSIONS,
      maxContainers: DEFAULT_MAX_CONTAINERS,
      maxNodes: DEFAULT_MAX_NODES,
      // tail prints only the count of rejected bindings; a few examples are enough to keep.
      keepRejected: 100,
      ...options,
      // The attributor asks for a container the first time a binding names it, and the output
      // asks for it right after (enriched): the answer is remembered for the output, so a new
      // container costs one registry look-up, not two.
      registry: registry && { get: (contid) => this.lookUp(contid) },
    });
    this.sessions = new LruMap(options.maxSessions ?? DEFAULT_MAX_SESSIONS);
    this.reassembler = new Reassembler({ timeoutMs: options.eventTimeoutMs ?? 2000, clock, noteOpened: true });
    this.grace = options.bindingGraceMs ?? 2000;
    this.maxPending = options.maxPending ?? 10_000;
    this.maxHeldBytes = options.maxHeldBytes ?? DEFAULT_MAX_HELD_BYTES;
    this.filter = options.filter ?? {};
    this.format = options.format ?? 'raw';
    this.enrichment = new LruMap(options.maxContainers ?? DEFAULT_MAX_CONTAINERS);
  }

  /** Nodes whose boot tracking was let go for room (a flood of `node=` names): tail reports it. */
  get nodesForgotten(): number {
    return this.attributor.nodesForgotten;
  }

  /** Events waiting for a binding now. */
  get held(): number {
    return this.heldCount;
  }

  /** Bytes of the events waiting now (their lines are latin1: one character per byte). */
  get heldBytes(): number {
    return this.heldLength;
  }

  push(lines: readonly QueuedLines[]): Buffer {
    const now = this.clock();
    for (const item of lines) {
      if (typeof item === 'string') {
        this.pushRecord(parseRecord(item), now);
        continue;
      }
      // a block of lines as bytes: each record points into it, no string made per line
      const buf = item.bytes;
      for (let start = 0, nl = buf.indexOf(10); nl >= 0; start = nl + 1, nl = buf.indexOf(10, start)) {
        if (nl > start) this.pushRecord(parseRecordBytes(buf, start, nl, -1), now);
      }
    }
    // Records of events still open (waiting for their EOE) get strings of their own: a block
    // must not stay alive for as long as an event of one of its lines is open.
    this.reassembler.detachOpened();
    this.releaseDue(now);
    return this.out.take();
  }

  private pushRecord(rec: AuditRecord | null, now: number): void {
    if (!rec) {
      this.skipped++;
      return;
    }
    // A LOGIN is learned as it arrives, not when its event completes: the binding that
    // follows must find the session's new epoch, and held events must know it is fresh.
    if (rec.type === 'LOGIN') {
      this.noteLogin(rec, now);
      this.attributor.observeRecord(rec);
    }
    for (const event of this.reassembler.push(rec)) this.handle(event, now);
  }

  expire(): Buffer {
    const now = this.clock();
    for (const event of this.reassembler.tick()) this.handle(event, now);
    this.releaseDue(now);
    return this.out.take();
  }

  flush(): Buffer {
    const now = this.clock();
    for (const event of this.reassembler.flush()) this.handle(event, now);
    this.releaseDue(Infinity);
    return this.out.take();
  }

  private handle(event: AuditEvent, now: number): void {
    for (const rec of event.records) {
      if (rec.type === 'LOGIN') continue;
      this.attributor.observeRecord(rec);
      if (BINDING_TYPES.has(rec.type)) this.onBinding(rec);
    }
    const ses = sessionOf(event);
    const key = ses === null ? null : sessionKeyOf(event.node, ses);
    const c = this.attribute(event, ses, key, now);
    if (!c && key !== null) {
      const state = this.sessions.peek(key);
      if (state?.loginAt != null && now - state.loginAt < this.grace) return this.hold(event, key, state, state.loginAt + this.grace);
    }
    // Events that waited for this session's binding (or its grace) go out before newer ones.
    if (key !== null) this.releaseSession(key);
    this.emit(event, c);
  }

  private attribute(event: AuditEvent, ses: number | null, key: SessionKey | null, now: number): AttributedContainer | null {
    const c = this.attributor.attribute(event);
    if (c || !this.options.registry || ses === null || key === null || !this.registryAnswers(event)) return c;
    let state = this.sessions.get(key);
    // A session allocated in this stream is bound by the stream (or not at all).
    if (state?.loginAt != null) return null;
    if (state?.missedAt != null && now - state.missedAt < NEGATIVE_LOOKUP_MS) return null;
    const found = this.options.registry.containerOfSession(ses);
    if (!found) {
      if (!state) this.sessions.set(key, (state = { loginAt: null, missedAt: null, held: NO_EVENT, heldLast: NO_EVENT }));
      state.missedAt = now;
      return null;
    }
    this.attributor.restore([{ session: ses, node: event.node, start: -1, contid: found.contid, sinceMs: this.options.bootStartMs }], [found]);
    return found;
  }

  /**
   * The registry binds this node's sessions of this boot: it may answer for an event only
   * when the event is this node's (search's rule: another node's session is bound by that
   * node's bindings in the stream, or not at all) and not stamped before this boot began
   * (an earlier boot's session S is not this boot's S).
   */
  private registryAnswers(event: AuditEvent): boolean {
    const local = this.options.localNode ?? null;
    const node = event.node ?? this.options.unprefixedNode ?? local;
    if (node !== local) return false;
    const boot = this.options.bootStartMs;
    return boot === undefined || event.timeMs >= boot;
  }

  /** Sessions a LOGIN record has just allocated: their binding record may still come. */
  private noteLogin(rec: AuditRecord, now: number): void {
    // the attributor's rule (onLogin), read without the record's full field map
    if (kernelField(rec, 'res') !== '1') return;
    const ses = kernelSession(rec);
    if (ses === null || ses === undefined) return;
    const key = sessionKeyOf(rec.node, ses);
    const state = this.sessions.get(key);
    if (state) {
      // Events it still holds are of the number's earlier allocation (a boot ago: a log
      // replayed across a reboot, a collector's backlog): they go out now, as the attributor
      // has them before this LOGIN. Left held, the binding of this allocation would let them
      // go and the attributor (a live stream's latest epoch) would give them its container.
      this.releaseSession(key);
      state.loginAt = now;
      state.missedAt = null;
    } else this.sessions.set(key, { loginAt: now, missedAt: null, held: NO_EVENT, heldLast: NO_EVENT });
  }

  /** A binding record was learned: the events its session held go out now, attributed. */
  private onBinding(rec: AuditRecord): void {
    const ses = parseLifecycle(rec.msg)?.session;
    if (ses === null || ses === undefined) return;
    const key = sessionKeyOf(rec.node, ses);
    if ((this.sessions.peek(key)?.held ?? NO_EVENT) === NO_EVENT) return;
    // A rejected (untrusted) binding binds nothing: its session keeps waiting.
    if (this.attributor.contidOfSession(ses, -1, rec.node, rec.timeMs) !== null) this.releaseSession(key);
  }

  private hold(event: AuditEvent, session: SessionKey, state: SessionState, until: number): void {
    const slabs = this.slabs;
    slabs.freeze(event);
    const p = this.queue.add(slabs.slab, slabs.start, slabs.end, session, until);
    if (state.heldLast !== NO_EVENT) this.queue.setNext(state.heldLast, p);
    else state.held = p;
    state.heldLast = p;
    this.heldCount++;
    this.heldLength += slabs.end - slabs.start;
    // Too many or too large: the oldest go out as they are rather than memory growing.
    while (this.heldCount > this.maxPending || this.heldLength > this.maxHeldBytes) {
      this.releasedEarly++;
      this.releaseOldest();
    }
  }

  private releaseSession(session: SessionKey): void {
    const state = this.sessions.peek(session);
    if (!state || state.held === NO_EVENT) return;
    const queue = this.queue;
    let p = state.held;
    state.held = NO_EVENT;
    state.heldLast = NO_EVENT;
    while (p !== NO_EVENT) {
      const next = queue.next(p);
      if (!queue.isOut(p)) this.release(p);
      p = next;
    }
  }

  /**
   * Held events whose wait is over (all of them with `now` = Infinity), oldest first, up to
   * RELEASE_OUTPUT_BYTES of output: the rest stay due for the next call (`more()`), so the
   * thousands of events a grace period can hold never become one string of megabytes and its
   * buffer at once (that was the peak RSS of a replay: ≈ 15 MB at its end).
   */
  private releaseDue(now: number): void {
    const start = this.out.length;
    this.dueLeft = false;
    const queue = this.queue;
    while (queue.head < queue.length) {
      const p = queue.head;
      const out = queue.isOut(p);
      if (!out && queue.until(p) > now) break;
      if (this.out.length - start >= RELEASE_OUTPUT_BYTES) {
        this.dueLeft = true;
        break;
      }
      queue.head++;
      if (!out) this.release(p);
    }
    this.compactQueue();
  }

  /** True while held events are due but were left for a later call (see releaseDue). */
  more(): boolean {
    return this.dueLeft;
  }

  private releaseOldest(): void {
    const queue = this.queue;
    while (queue.head < queue.length) {
      const p = queue.head++;
      if (!queue.isOut(p)) return this.release(p);
    }
  }

  private release(p: number): void {
    const queue = this.queue;
    const start = queue.start(p);
    const end = queue.end(p);
    this.heldCount--;
    this.heldLength -= end - start;
    const lines = queue.slab(p).subarray(start, end);
    // The queue keeps its slot until compacted: not its lines.
    queue.markOut(p);
    const state = this.sessions.peek(queue.session(p));
    if (state) {
      // p is the first of its session's chain that is not out (see SessionState.heldLast)
      let first = state.held;
      while (first !== NO_EVENT && queue.isOut(first)) first = queue.next(first);
      state.held = first;
      if (first === NO_EVENT) state.heldLast = NO_EVENT;
    }
    const event = thaw(lines);
    if (event) this.emit(event, this.attributor.attribute(event));
  }

  /**
   * The queue drops the slots that went out; the sessions whose chains begin or end in the
   * slots it kept are renumbered with them (a chain's first and last are never out).
   */
  private compactQueue(): void {
    const queue = this.queue;
    const shift = queue.compact();
    if (shift === 0) return;
    for (let i = 0; i < queue.length; i++) {
      if (queue.isOut(i)) continue;
      const state = this.sessions.peek(queue.session(i));
      if (state === undefined) continue;
      if (state.held === i + shift) state.held = i;
      if (state.heldLast === i + shift) state.heldLast = i;
    }
  }

  private emit(event: AuditEvent, c: AttributedContainer | null): void {
    const out = this.out;
    if (this.options.onEmit) out.appendText(this.options.onEmit(event, c));
    const chain = c ? this.attributor.chain(c) : [];
    if (!matchesFilter(this.filter, event, chain)) return;
    const shown = chain.length > 0 && this.options.registry ? chain.map((x) => this.enriched(x)) : chain;
    if (this.format === 'json') return out.adopt(writeJsonEventInto(out.buffer, out.length, event, shown), jsonIntoEnd());
    if (this.format === 'compact') return out.appendText(compactEvent(event, shown, { raw: this.options.rawRecords }));
    if (this.format === 'csv' && !this.csvHeaderDone) {
      this.csvHeaderDone = true;
      out.appendText(csvHeaderRow(this.options.formatOptions));
    }
    out.appendText(formatAuditEvent(this.format, event, shown, this.options.formatOptions));
  }

  /**
   * The container with the image and labels the registry has for it. The binding record
   * carries neither, and an orchestrator's agent often records them after the binding, so a
   * container the registry knew no image for is asked again (at most every ENRICH_RETRY_MS),
   * per container, never per event.
   */
  private enriched(c: AttributedContainer): OutputContainer {
    const key = formatContainerId(c.contid);
    const now = this.clock();
    let e = this.enrichment.get(key);
    if (!e || (e.image === null && now - e.at >= ENRICH_RETRY_MS)) {
      this.lookUp(c.contid);
      e = this.enrichment.peek(key)!;
    }
    if (e.image === null && e.labels === undefined) return c;
    return { ...c, image: c.image ?? e.image, labels: e.labels };
  }

  /** The registry's answer for a container, remembered for enriched(). */
  private lookUp(contid: ContainerId): OutputContainer | undefined {
    const r = this.options.registry!.get(contid);
    this.enrichment.set(formatContainerId(contid), { at: this.clock(), image: r?.image ?? null, labels: r?.labels });
    return r;
  }
}

/** Bytes of a slab: small held events share one, as small Buffers share Node's pool. */
const SLAB_BYTES = 8192;

/**
 * Where held events' lines are written: slabs of SLAB_BYTES, each event after the last (an
 * event over half a slab gets its own). This is what `Buffer.allocUnsafe` does with its pool,
 * without a Buffer object per event (each one outlived young-generation collections with the
 * event: measured, promoted bytes of the 50,000-session replay −27 %). A slab lives while any
 * of its events is held: what a held event keeps alive is what its pooled Buffer kept.
 */
class HeldSlabs {
  slab = Buffer.allocUnsafeSlow(SLAB_BYTES);
  /** The last event written: slab[start, end). */
  start = 0;
  end = 0;

  /**
   * An event as its lines (the enriched part kept), for holding: each record's line as it was
   * read (latin1, one byte per character, as every source gives them), newline-separated.
   */
  freeze(event: AuditEvent): void {
    let size = 0;
    for (const r of event.records) size += recordLineLength(r) + 1;
    if (size > SLAB_BYTES >>> 1) {
      this.slab = Buffer.allocUnsafeSlow(size);
      this.start = 0;
    } else if (this.slab.length !== SLAB_BYTES || this.end + size > SLAB_BYTES) {
      // the last slab was an event's own, or this event does not fit in what is left
      this.slab = Buffer.allocUnsafeSlow(SLAB_BYTES);
      this.start = 0;
    } else this.start = this.end;
    const lines = this.slab;
    let at = this.start;
    for (const r of event.records) {
      at = writeRecordLine(r, lines, at);
      lines[at++] = 10;
    }
    this.end = at;
  }
}

/** The event again from its lines (they parsed before, so they parse again). */
function thaw(lines: Buffer): AuditEvent | null {
  const records: AuditRecord[] = [];
  for (let start = 0, end = lines.indexOf(10); end >= 0; start = end + 1, end = lines.indexOf(10, start)) {
    const rec = parseRecordBytes(lines, start, end, -1);
    if (rec) records.push(rec);
  }
  const first = records[0];
  if (!first) return null;
  return { node: first.node, time: first.time, timeMs: first.timeMs, serial: first.serial, serialText: first.serialText, records };
}
