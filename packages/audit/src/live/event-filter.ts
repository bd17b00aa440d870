import { formatContainerId } from '@contid/core';
import type { LogEvent } from './event-assembler';
import type { LiveContainer } from './live-attributor';

/** The same filters as `contid search` (those that make sense on a live stream). */
export interface LiveFilter {
  /** Name, contid, or runtime-id prefix. */
  container?: string;
  orchestrator?: string;
  /** With `container`: also events of containers nested in it. */
  includeNested?: boolean;
  /** Record type names (-m); an event matches when any of its records has one. */
  types?: string[];
  /** Audit rule key (-k). */
  key?: string;
  pid?: number;
  uid?: number;
  auid?: number;
  success?: boolean;
}

const unquote = (v: string | undefined): string | undefined => (v && v.startsWith('"') && v.endsWith('"') ? v.slice(1, -1) : v);

export function containerMatches(c: LiveContainer, ref: string): boolean {
  return c.name === ref || formatContainerId(c.contid) === ref || (ref.length >= 4 && c.runtimeId !== null && c.runtimeId.startsWith(ref));
}

function field(event: LogEvent, name: string): string | undefined {
  for (const r of event.records) {
    const v = r.fields.get(name);
    if (v !== undefined) return v;
  }
  return undefined;
}

function succeeded(event: LogEvent): boolean | undefined {
  const success = field(event, 'success');
  if (success !== undefined) return success === 'yes';
  for (const r of event.records) {
    const res = r.msg.get('res') ?? r.fields.get('res');
    if (res !== undefined) return res === 'success' || res === '1';
  }
  return undefined;
}

/** `chain` is the event's container and its ancestors (empty when unattributed). */
export function eventMatches(f: LiveFilter, event: LogEvent, chain: LiveContainer[]): boolean {
  if (f.container !== undefined) {
    const candidates = f.includeNested ? chain : chain.slice(0, 1);
    if (!candidates.some((c) => containerMatches(c, f.container!))) return false;
  }
  if (f.orchestrator !== undefined && chain[0]?.orchestrator !== f.orchestrator) return false;
  if (f.types && f.types.length > 0 && !event.records.some((r) => f.types!.includes(r.type))) return false;
  if (f.key !== undefined && unquote(field(event, 'key')) !== f.key) return false;
  if (f.pid !== undefined && field(event, 'pid') !== String(f.pid)) return false;
  if (f.uid !== undefined && field(event, 'uid') !== String(f.uid)) return false;
  if (f.auid !== undefined && field(event, 'auid') !== String(f.auid)) return false;
  if (f.success !== undefined && succeeded(event) !== f.success) return false;
  return true;
}
