import { statSync } from 'node:fs';
import { Attributor, AttributedContainer, AttributorOptions } from './attributor';
import { EventFilter, containerRefMatches, matchesFilter } from './filter';
import { AuditEvent, Reassembler } from './reassembler';
import { parseRecord } from './record';
import { scanLines } from './reader';
import { scanSessions } from './session-scan';

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
}

const BINDING_MARKERS = ['type=LOGIN ', 'type=VIRT_CONTROL ', 'type=USER ', 'type=CONTAINER_OP ', 'type=UNKNOWN[1020] '].map((s) => Buffer.from(s));

/** Byte test for `[node=X ]type=<binding type> `: no decoding, no search past the line head. */
export function isBindingLine(buf: Buffer, start: number, end: number): boolean {
  let t = start;
  if (buf[t] === 0x6e /* n: node=X */) {
    const sp = buf.indexOf(0x20, t);
    if (sp < 0 || sp - t > 256) return false;
    t = sp + 1;
  }
  const first = buf[t + 5];
  if (first !== 0x4c && first !== 0x56 && first !== 0x43 && first !== 0x55) return false; // L V C U
  for (const marker of BINDING_MARKERS) if (t + marker.length <= end && buf.compare(marker, 0, marker.length, t, t + marker.length) === 0) return true;
  return false;
}

/** Global positions: file i's bytes start at the sum of the sizes before it. */
export function fileBases(files: string[]): { file: string; base: number; size: number }[] {
  let base = 0;
  return files.map((file) => {
    const size = statSync(file).size;
    const out = { file, base, size };
    base += size;
    return out;
  });
}

/**
 * First pass: only the lines that can carry a binding are parsed (found by byte search),
 * so bindings written after the first events of their session are known before any event
 * is attributed.
 */
export function learnBindings(files: string[], attributor: Attributor, onBytes?: (n: number) => void): void {
  for (const { file, base } of fileBases(files)) {
    let last = 0;
    scanLines(
      file,
      (buf, start, end, offset) => {
        if (isBindingLine(buf, start, end)) {
          const rec = parseRecord(buf.toString('latin1', start, end), offset);
          if (rec) attributor.observeRecord(rec);
        }
        if (onBytes && offset - last > 16 << 20) {
          onBytes(offset - last);
          last = offset;
        }
      },
      { base },
    );
  }
}

/** Contids whose events a container/orchestrator filter selects (with nesting when asked). */
export function selectedContainers(attributor: Attributor, f: EventFilter): Set<string> | null {
  if (f.container === undefined && f.orchestrator === undefined) return null;
  const out = new Set<string>();
  for (const c of attributor.knownContainers()) {
    const chain = f.includeNested ? attributor.chain(c) : [c];
    const hit = chain.some((x) => (f.container === undefined || containerRefMatches(x, f.container)) && (f.orchestrator === undefined || x.orchestrator === f.orchestrator));
    if (hit) out.add(String(c.contid));
  }
  return out;
}

/** Sessions bound to the containers a container/orchestrator filter selects; null without one. */
export function selectedSessions(attributor: Attributor, f: EventFilter): number[] | null {
  const contids = selectedContainers(attributor, f);
  if (contids === null) return null;
  const out = new Set<number>();
  for (const b of attributor.sessionBindings()) if (contids.has(String(b.contid))) out.add(b.session);
  return [...out].sort((a, b) => a - b);
}

/**
 * Streams the logs through parse → reassemble → attribute → filter. Memory is bounded by
 * the open events and the bindings, not by the log size.
 */
export function searchLogs(options: SearchOptions): SearchStats & { attributor: Attributor } {
  const attributor = new Attributor(options.attribution);
  const bases = fileBases(options.files);
  const total = bases.reduce((s, b) => s + b.size, 0) * 2;
  let done = 0;
  const progress = (n: number): void => {
    done += n;
    options.onProgress?.(done, total);
  };
  learnBindings(options.files, attributor, progress);
  const stats: SearchStats = { lines: 0, skipped: 0, events: 0, matched: 0, rejected: attributor.rejectedCount };
  const reassembler = new Reassembler({ timeoutMs: options.timeoutMs });
  const emit = (events: AuditEvent[]): void => {
    for (const event of events) {
      stats.events++;
      const c = attributor.attribute(event);
      const chain = c ? attributor.chain(c) : [];
      if (!matchesFilter(options.filter, event, chain)) continue;
      stats.matched++;
      options.onEvent(event, chain);
    }
  };
  const sessions = options.fullScan || options.attribution?.procfsContid ? null : selectedSessions(attributor, options.filter);
  if (sessions !== null && sessions.length <= MAX_SCAN_SESSIONS) {
    for (const { file, base } of bases) {
      scanSessions(
        file,
        sessions,
        (line, offset) => {
          stats.lines++;
          const rec = parseRecord(line, offset);
          if (!rec) stats.skipped++;
          else emit(reassembler.push(rec));
        },
        { base, onBytes: progress },
      );
    }
  } else {
    for (const { file, base } of bases) {
      let last = base;
      scanLines(
        file,
        (buf, start, end, offset) => {
          stats.lines++;
          const rec = parseRecord(buf.toString('latin1', start, end), offset);
          if (!rec) {
            stats.skipped++;
            return;
          }
          emit(reassembler.push(rec));
          if (offset - last > 16 << 20) {
            progress(offset - last);
            last = offset;
          }
        },
        {
          base,
          maxLineBytes: options.maxLineBytes,
          onOversize: () => {
            stats.lines++;
            stats.skipped++;
          },
        },
      );
    }
  }
  emit(reassembler.flush());
  return { ...stats, attributor };
}
