import type { ContainerId } from '@contid/core';
import { Attributor, sessionOf, type AttributedContainer, type AttributorOptions } from '../attributor';
import { matchesFilter, type EventFilter } from '../filter';
import { formatAuditEvent, type SearchFormat } from '../format';
import { Reassembler, type AuditEvent } from '../reassembler';
import { parseRecord, type AuditRecord } from '../record';
import type { EventPipeline } from './live-tail';

/** The registry, for sessions bound before the stream started (and for enrichment). */
export interface SessionRegistry {
  get(contid: ContainerId): AttributedContainer | undefined;
  containerOfSession(session: number): AttributedContainer | undefined;
}

export interface LivePipelineOptions extends Omit<AttributorOptions, 'registry'> {
  filter?: EventFilter;
  format?: SearchFormat;
  registry?: SessionRegistry;
  /** Completion timeout of an event that never sees its last record (wall clock). */
  eventTimeoutMs?: number;
  /** How long an unattributed event of a just-allocated session waits for its binding. */
  bindingGraceMs?: number;
  /** At most this many events wait for a binding; beyond, the oldest go out unattributed. */
  maxPending?: number;
}

interface Pending {
  event: AuditEvent;
  since: number;
}

const NEGATIVE_LOOKUP_MS = 2000;

/**
 * The search package's parse → reassemble → attribute → filter → format, for a live stream.
 * Two things only a live stream needs: (1) events of a session that a LOGIN has just
 * allocated but no binding names yet wait up to `bindingGraceMs` (a binding may follow the
 * first events: the Docker shim renews in sh and the Node side writes the record later);
 * (2) a session bound before the stream started is looked up in the registry.
 */
export class LivePipeline implements EventPipeline {
  readonly attributor: Attributor;
  private readonly reassembler: Reassembler;
  private readonly pending: Pending[] = [];
  private readonly fresh = new Map<number, number>();
  private readonly notInRegistry = new Map<number, number>();
  /** Lines that were not audit records. */
  skipped = 0;

  constructor(private readonly options: LivePipelineOptions = {}, private readonly clock: () => number = Date.now) {
    this.attributor = new Attributor(options);
    this.reassembler = new Reassembler({ timeoutMs: options.eventTimeoutMs ?? 2000, clock });
  }

  push(lines: readonly string[]): string {
    let out = '';
    for (const line of lines) {
      const rec = parseRecord(line);
      if (!rec) {
        this.skipped++;
        continue;
      }
      // A LOGIN is learned as it arrives, not when its event completes: the binding that
      // follows must find the session's new epoch, and held events must know it is fresh.
      if (rec.type === 'LOGIN') {
        this.noteLogin(rec, this.clock());
        this.attributor.observeRecord(rec);
      }
      for (const event of this.reassembler.push(rec)) out += this.handle(event);
    }
    return out + this.release(false);
  }

  expire(): string {
    let out = '';
    for (const event of this.reassembler.tick()) out += this.handle(event);
    return out + this.release(false);
  }

  flush(): string {
    let out = '';
    for (const event of this.reassembler.flush()) out += this.handle(event);
    return out + this.release(true);
  }

  private handle(event: AuditEvent): string {
    const now = this.clock();
    for (const rec of event.records) if (rec.type !== 'LOGIN') this.attributor.observeRecord(rec);
    const c = this.attribute(event, now);
    if (!c) {
      const ses = sessionOf(event);
      if (ses !== null && this.fresh.has(ses) && (this.options.bindingGraceMs ?? 2000) > 0) {
        this.pending.push({ event, since: now });
        return this.pending.length > (this.options.maxPending ?? 10_000) ? this.emit(this.pending.shift()!.event, null) : '';
      }
    }
    // Events that waited for this session's binding go out before newer ones.
    return (c && this.pending.length > 0 ? this.release(false) : '') + this.emit(event, c);
  }

  private attribute(event: AuditEvent, now: number): AttributedContainer | null {
    const c = this.attributor.attribute(event);
    if (c || !this.options.registry) return c;
    const ses = sessionOf(event);
    if (ses === null || this.fresh.has(ses)) return null;
    const missedAt = this.notInRegistry.get(ses);
    if (missedAt !== undefined && now - missedAt < NEGATIVE_LOOKUP_MS) return null;
    const found = this.options.registry.containerOfSession(ses);
    if (!found) {
      this.notInRegistry.set(ses, now);
      if (this.notInRegistry.size > 10_000) this.notInRegistry.delete(this.notInRegistry.keys().next().value as number);
      return null;
    }
    this.attributor.restore([{ session: ses, start: -1, contid: found.contid }], [found]);
    return found;
  }

  /** Sessions a LOGIN record has just allocated: their binding record may still come. */
  private noteLogin(rec: AuditRecord, now: number): void {
    if (rec.fields.get('res') !== '1') return;
    const ses = Number(rec.fields.get('ses'));
    if (!Number.isInteger(ses) || ses === 4294967295) return;
    this.fresh.set(ses, now);
    this.notInRegistry.delete(ses);
    if (this.fresh.size > 10_000) this.fresh.delete(this.fresh.keys().next().value as number);
  }

  /** Pending events whose binding arrived, or whose grace ran out (all of them at the end). */
  private release(all: boolean): string {
    if (this.pending.length === 0) return '';
    const now = this.clock();
    const grace = this.options.bindingGraceMs ?? 2000;
    let out = '';
    for (let i = 0; i < this.pending.length; ) {
      const p = this.pending[i];
      const c = this.attributor.attribute(p.event);
      if (c || all || now - p.since >= grace) {
        out += this.emit(p.event, c);
        this.pending.splice(i, 1);
      } else i++;
    }
    return out;
  }

  private emit(event: AuditEvent, c: AttributedContainer | null): string {
    const chain = c ? this.attributor.chain(c) : [];
    if (!matchesFilter(this.options.filter ?? {}, event, chain)) return '';
    return formatAuditEvent(this.options.format ?? 'raw', event, chain);
  }
}
