import { EventAssembler, type LogEvent } from './event-assembler';
import { eventMatches, type LiveFilter } from './event-filter';
import { formatEvent, type LiveFormat } from './event-format';
import { LiveAttributor, type LiveAttributorOptions, type LiveContainer } from './live-attributor';
import type { EventPipeline } from './live-tail';
import { parseLogLine } from './log-record';

export interface LivePipelineOptions extends LiveAttributorOptions {
  filter?: LiveFilter;
  format?: LiveFormat;
  /** Completion timeout of an event that never sees its last record. */
  eventTimeoutMs?: number;
  /** How long an unattributed event of a just-allocated session waits for its binding. */
  bindingGraceMs?: number;
  /** At most this many events wait for a binding; older ones go out unattributed. */
  maxPending?: number;
}

/**
 * parse → reassemble → attribute → filter → format, for a live stream. Events of a session
 * that a LOGIN has just allocated but no binding names yet wait up to `bindingGraceMs`,
 * because the binding record may follow the first events (the Docker shim renews in sh
 * and the Node side writes the record later).
 */
export class LivePipeline implements EventPipeline {
  readonly attributor: LiveAttributor;
  private readonly assembler: EventAssembler;
  private readonly pending: { event: LogEvent; ses: number; since: number }[] = [];
  /** Lines that were not audit records. */
  skipped = 0;
  events = 0;
  written = 0;

  constructor(private readonly options: LivePipelineOptions = {}, private readonly clock: () => number = Date.now) {
    this.attributor = new LiveAttributor(options);
    this.assembler = new EventAssembler(options.eventTimeoutMs ?? 2000, clock);
  }

  push(lines: readonly string[]): string {
    let out = '';
    for (const line of lines) {
      const rec = parseLogLine(line);
      if (!rec) {
        this.skipped++;
        continue;
      }
      for (const event of this.assembler.push(rec)) out += this.handle(event);
    }
    return out + this.releasePending(false);
  }

  expire(nowMs: number): string {
    let out = '';
    for (const event of this.assembler.expire(nowMs)) out += this.handle(event);
    return out + this.releasePending(false);
  }

  flush(): string {
    let out = '';
    for (const event of this.assembler.flush()) out += this.handle(event);
    return out + this.releasePending(true);
  }

  private handle(event: LogEvent): string {
    this.events++;
    const now = this.clock();
    this.attributor.observe(event, now);
    const c = this.attributor.attribute(event);
    if (!c) {
      const ses = this.attributor.sessionOf(event);
      if (ses !== null && this.attributor.freshSessions.has(ses) && (this.options.bindingGraceMs ?? 2000) > 0) {
        this.pending.push({ event, ses, since: now });
        if (this.pending.length > (this.options.maxPending ?? 10_000)) return this.emit(this.pending.shift()!.event, null);
        return '';
      }
    }
    // Events that waited for this session's binding go out before the newer ones.
    return (c && this.pending.length > 0 ? this.releasePending(false) : '') + this.emit(event, c);
  }

  /** Pending events whose binding arrived, or whose grace ran out (all of them at the end). */
  private releasePending(all: boolean): string {
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

  private emit(event: LogEvent, c: LiveContainer | null): string {
    const chain = c ? this.attributor.chain(c) : [];
    if (!eventMatches(this.options.filter ?? {}, event, chain)) return '';
    this.written++;
    return formatEvent(this.options.format ?? 'text', event, c);
  }
}
