import { MIN_RUNTIME_PREFIX } from '@contid/core/dist/container-ref';
import { formatContainerId } from '@contid/core/dist/container-id';
import type { AttributedContainer } from './attributor';
import type { AuditEvent } from './reassembler';
import { fieldValue } from './record';
import { syscallName } from './libaudit';

/** `contid search` filters; every one that is set must match. */
export interface EventFilter {
  /** Name, contid, or runtime-id prefix (≥ 4 characters). */
  container?: string;
  /**
   * `container` as resolved by the shared resolver (resolveContainerRef) among the containers
   * the log describes; when set it takes the place of matching `container` per event.
   */
  containerIds?: ReadonlySet<string>;
  orchestrator?: string;
  /** With `container`/`orchestrator`: also events of containers nested in a match. */
  includeNested?: boolean;
  /** Inclusive start / exclusive end, ms since the epoch. */
  startMs?: number;
  endMs?: number;
  /** Record type names or numbers (-m); an event matches when any record has one. */
  types?: string[];
  /** Audit rule key (-k). */
  key?: string;
  pid?: number;
  uid?: number;
  auid?: number;
  /** Events in containers or execs that this login uid asked for: the kernel stamps the requester's auid on them (contid docker front). */
  requestedBy?: number;
  /** Every label must be on the (matched) container, e.g. com.docker.compose.project. */
  labels?: Record<string, string>;
  success?: boolean;
  /** auditd's node= names (ausearch -n): an event matches any of them. */
  nodes?: string[];
  /** ausearch -pp, -ue, -gi, --session. */
  ppid?: number;
  euid?: number;
  gid?: number;
  session?: number;
  /** ausearch -ua: uid, euid or auid. */
  anyUid?: number;
  /** ausearch -sc: a syscall name (on the event's arch) or number. */
  syscall?: string;
  /** ausearch -x: the executable (exe=), exactly. */
  exe?: string;
  /** ausearch -f: a file name of the event (PATH name=, or a user record's file=/name=). */
  filename?: string;
  /** ausearch -hn: hostname= or addr= of a record. */
  host?: string;
  /** ausearch -e: the syscall's exit value (a negative errno for a failure). */
  exit?: number;
}

export function labelsMatch(c: AttributedContainer, labels: Record<string, string>): boolean {
  return Object.entries(labels).every(([k, v]) => c.labels?.[k] === v);
}

/** Per-event matching where containers arrive one by one (live tail); a ref of digits is never a runtime-id prefix. */
export function containerRefMatches(c: AttributedContainer, ref: string): boolean {
  return c.name === ref || formatContainerId(c.contid) === ref || (!/^[0-9]+$/.test(ref) && ref.length >= MIN_RUNTIME_PREFIX && c.runtimeId !== null && c.runtimeId.startsWith(ref));
}

/** The container part of a filter, by resolved ids when there are some. */
export function containerMatches(f: EventFilter, c: AttributedContainer): boolean {
  if (f.containerIds) return f.containerIds.has(formatContainerId(c.contid));
  return f.container === undefined || containerRefMatches(c, f.container);
}

export function eventField(event: AuditEvent, name: string): string | undefined {
  for (const r of event.records) {
    const v = r.fields.get(name);
    if (v !== undefined) return v;
  }
  return undefined;
}

/** A success=/res= value, quoted or not: true, false, or undefined when it is neither. */
function outcomeOf(raw: string): boolean | undefined {
  const v = (raw.length >= 2 && raw.startsWith('"') && raw.endsWith('"') ? raw.slice(1, -1) : raw).toLowerCase();
  if (v === 'yes' || v === 'success' || v === '1') return true;
  if (v === 'no' || v === 'failed' || v === 'fail' || v === 'failure' || v === '0') return false;
  return undefined;
}

/** The event's outcome: SYSCALL success=, else a user record's res=; undefined when it has none. */
export function eventSucceeded(event: AuditEvent): boolean | undefined {
  const success = eventField(event, 'success');
  if (success !== undefined) return outcomeOf(success);
  for (const r of event.records) {
    const res = r.msg.get('res') ?? r.fields.get('res');
    if (res !== undefined) return outcomeOf(res);
  }
  return undefined;
}

function keyMatches(event: AuditEvent, key: string): boolean {
  for (const r of event.records) {
    if (!r.raw.includes(' key=')) continue; // most records have no key: skip splitting them
    const k = r.fields.get('key');
    if (k === undefined || k === '(null)') continue;
    // Several keys of one rule are joined by 0x01 (hex-encoded in the log).
    if ((fieldValue(k) ?? '').split('\x01').includes(key)) return true;
  }
  return false;
}

function typeMatches(event: AuditEvent, types: string[]): boolean {
  return event.records.some((r) => types.some((t) => t === r.type || (r.typeNumber !== null && t === String(r.typeNumber))));
}

/** The filter without its container part: what can be decided before attribution. */
export function withoutContainerFilter(f: EventFilter): EventFilter {
  return { ...f, container: undefined, containerIds: undefined, orchestrator: undefined, labels: undefined, requestedBy: undefined, auid: f.auid ?? f.requestedBy };
}

/** `chain` is the event's container and its ancestors, nearest first (empty: unattributed). */
export function matchesFilter(f: EventFilter, event: AuditEvent, chain: AttributedContainer[]): boolean {
  const candidates = f.includeNested ? chain : chain.slice(0, 1);
  if ((f.container !== undefined || f.containerIds) && !candidates.some((c) => containerMatches(f, c))) return false;
  if (f.orchestrator !== undefined && !candidates.some((c) => c.orchestrator === f.orchestrator)) return false;
  if (f.labels !== undefined && !candidates.some((c) => labelsMatch(c, f.labels!))) return false;
  if (f.requestedBy !== undefined && (chain.length === 0 || eventField(event, 'auid') !== String(f.requestedBy))) return false;
  if (f.startMs !== undefined && event.timeMs < f.startMs) return false;
  if (f.endMs !== undefined && event.timeMs >= f.endMs) return false;
  if (f.types && f.types.length > 0 && !typeMatches(event, f.types)) return false;
  if (f.key !== undefined && !keyMatches(event, f.key)) return false;
  if (f.pid !== undefined && eventField(event, 'pid') !== String(f.pid)) return false;
  if (f.uid !== undefined && eventField(event, 'uid') !== String(f.uid)) return false;
  if (f.auid !== undefined && eventField(event, 'auid') !== String(f.auid)) return false;
  if (f.success !== undefined && eventSucceeded(event) !== f.success) return false;
  if (f.nodes && f.nodes.length > 0 && (event.node === null || !f.nodes.includes(event.node))) return false;
  if (f.ppid !== undefined && eventField(event, 'ppid') !== String(f.ppid)) return false;
  if (f.euid !== undefined && eventField(event, 'euid') !== String(f.euid)) return false;
  if (f.gid !== undefined && eventField(event, 'gid') !== String(f.gid)) return false;
  if (f.session !== undefined && eventField(event, 'ses') !== String(f.session)) return false;
  if (f.anyUid !== undefined && !['uid', 'euid', 'auid'].some((n) => eventField(event, n) === String(f.anyUid))) return false;
  if (f.syscall !== undefined && !syscallMatches(event, f.syscall)) return false;
  if (f.exit !== undefined && syscallRecord(event)?.fields.get('exit') !== String(f.exit)) return false;
  if (f.exe !== undefined && !anyDecoded(event, ['exe'], f.exe)) return false;
  if (f.host !== undefined && !anyDecoded(event, ['hostname', 'addr'], f.host)) return false;
  if (f.filename !== undefined && !anyDecoded(event, ['name', 'file', 'path'], f.filename)) return false;
  return true;
}

const syscallRecord = (event: AuditEvent) => event.records.find((r) => r.type === 'SYSCALL');

function syscallMatches(event: AuditEvent, want: string): boolean {
  const rec = syscallRecord(event);
  const n = rec?.fields.get('syscall');
  if (!rec || n === undefined) return false;
  return /^\d+$/.test(want) ? n === want : syscallName(`${rec.fields.get('arch') ?? ''}:${n}`) === want;
}

/** Any record's field (kernel part or msg body) among `names`, decoded, equals `want`. */
function anyDecoded(event: AuditEvent, names: string[], want: string): boolean {
  for (const r of event.records) {
    for (const n of names) {
      const v = r.fields.get(n) ?? r.msg.get(n);
      if (v !== undefined && fieldValue(v, n, r.type) === want) return true;
    }
  }
  return false;
}

const DAY = 86_400_000;

/**
 * ausearch's time words (now, recent, this-hour, boot, today, yesterday, this-week, week-ago,
 * this-month, this-year), a date (MM/DD/YYYY or YYYY-MM-DD) optionally followed by HH:MM[:SS],
 * a bare HH:MM[:SS] (today), ISO-8601, or @epoch-seconds. Local time, like ausearch.
 * Returns null when the words are not a time.
 */
export function parseTimeWords(words: string[], now = new Date(), bootMs?: number): number | null {
  const text = words.join(' ').trim();
  if (text === '') return null;
  const midnight = new Date(now.getFullYear(), now.getMonth(), now.getDate());
  switch (text) {
    case 'now':
      return now.getTime();
    case 'recent':
      return now.getTime() - 10 * 60_000;
    case 'this-hour':
      return new Date(now.getFullYear(), now.getMonth(), now.getDate(), now.getHours()).getTime();
    case 'boot':
      return bootMs ?? null;
    case 'today':
      return midnight.getTime();
    case 'yesterday':
      return midnight.getTime() - DAY;
    case 'this-week':
      return midnight.getTime() - midnight.getDay() * DAY;
    case 'week-ago':
      return midnight.getTime() - 7 * DAY;
    case 'this-month':
      return new Date(now.getFullYear(), now.getMonth(), 1).getTime();
    case 'this-year':
      return new Date(now.getFullYear(), 0, 1).getTime();
  }
  let m = /^@(\d+(?:\.\d+)?)$/.exec(text);
  if (m) return Math.round(Number(m[1]) * 1000);
  const clock = (t: string | undefined, base: Date): number | null => {
    if (t === undefined) return base.getTime();
    const c = /^(\d{1,2}):(\d{2})(?::(\d{2}))?$/.exec(t);
    if (!c || Number(c[1]) > 23 || Number(c[2]) > 59 || Number(c[3] ?? 0) > 59) return null;
    return new Date(base.getFullYear(), base.getMonth(), base.getDate(), Number(c[1]), Number(c[2]), Number(c[3] ?? 0)).getTime();
  };
  const [first, second, ...more] = text.split(/\s+/);
  if (more.length > 0) return null;
  m = /^(\d{1,2})\/(\d{1,2})\/(\d{2}|\d{4})$/.exec(first) ?? null;
  if (m) {
    const year = m[3].length === 2 ? 2000 + Number(m[3]) : Number(m[3]);
    return validDate(year, Number(m[1]), Number(m[2])) ? clock(second, new Date(year, Number(m[1]) - 1, Number(m[2]))) : null;
  }
  m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(first);
  if (m) return validDate(Number(m[1]), Number(m[2]), Number(m[3])) ? clock(second, new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3]))) : null;
  if (second === undefined && /^\d{1,2}:\d{2}(:\d{2})?$/.test(first)) return clock(first, midnight);
  if (second === undefined && /^\d{4}-\d{2}-\d{2}T/.test(first)) {
    const t = Date.parse(first);
    return Number.isNaN(t) ? null : t;
  }
  return null;
}

function validDate(y: number, mo: number, d: number): boolean {
  const dt = new Date(y, mo - 1, d);
  return dt.getFullYear() === y && dt.getMonth() === mo - 1 && dt.getDate() === d;
}
