import { formatContainerId, type ContainerId, type LifecycleRecord } from '@contid/core';
import type { AttributedContainer, AuditEvent, AuditRecord } from '@contid/audit';
import { eventFacts, type EventFacts } from './facts';

/** What a report groups by: each container, its pod (Kubernetes), its orchestrator, or the node. */
export type GroupBy = 'container' | 'pod' | 'orchestrator' | 'node';
export const GROUP_BYS: readonly GroupBy[] = ['container', 'pod', 'orchestrator', 'node'];

/** Count, first and last time of one table row, and the first events it came from (for links). */
export interface Row {
  count: number;
  firstMs: number;
  lastMs: number;
  /** Indices into the group's `events` (kept only with `keepEvents`), at most SAMPLE of them. */
  sample: number[];
}

export interface ExeRow extends Row {
  exe: string;
  /** How many of the events were the execve of this program. */
  execs: number;
  /** Login users (auid) and users (uid) seen running it. */
  auids: string[];
  uids: string[];
}
export interface FileRow extends Row {
  path: string;
  syscalls: string[];
  /** Attempts that failed (an open for writing refused): attempts are what an audit watch records. */
  failed: number;
}
export interface NetworkRow extends Row {
  call: string;
  address: string;
  failed: number;
}
export interface ErrnoRow extends Row {
  errno: string;
  syscalls: string[];
}
export interface AnomalyRow extends Row {
  type: string;
}
/** A trusted binding: the container created, or entered (setns, lxc-attach, docker exec), and by whom. */
export interface Entry {
  op: string;
  timeMs: number;
  /** The login user (auid) of the process that created or entered the container. */
  auid: string | null;
  pid: number | null;
  session: number | null;
  contid: string;
  name: string;
  raw: string;
}

/** What the attributor knows, for `finish`. */
export interface ReportAttribution {
  /** The containers the filter chose (their entries count even without events); null: all. */
  selected: AttributedContainer[] | null;
  chainOf: (c: AttributedContainer) => AttributedContainer[];
  containerOf: (contid: ContainerId) => AttributedContainer | undefined;
}

/** One event as a timeline shows it. */
export interface EventItem {
  timeMs: number;
  serial: number;
  pid: number | null;
  ppid: number | null;
  exe: string | null;
  syscall: string | null;
  success: boolean | null;
  kind: 'exec' | 'file' | 'network' | 'failed' | 'anomaly' | 'other';
  contid: string | null;
  /** The raw records, kept for the first RAW_LIMIT events of a group only. */
  raw: string[] | null;
}

export interface GroupIdentity {
  by: GroupBy;
  key: string;
  label: string;
  /** For container and pod groups: the container (the pod's sandbox) and its ancestors, nearest first. */
  chain: AttributedContainer[];
}

export interface GroupReport {
  identity: GroupIdentity;
  events: number;
  failed: number;
  firstMs: number | null;
  lastMs: number | null;
  executables: ExeRow[];
  files: FileRow[];
  network: NetworkRow[];
  failures: ErrnoRow[];
  anomalies: AnomalyRow[];
  entries: Entry[];
  /** Every event, in time order (with `keepEvents`), else empty. */
  timeline: EventItem[];
  /** Events whose raw records were not kept (over RAW_LIMIT). */
  rawOmitted: number;
}

export interface ReportOptions {
  by?: GroupBy;
  /** Keep every event for a timeline (the HTML page); text and JSON need only the counts. */
  keepEvents?: boolean;
  /** Raw records kept for at most this many events per group (default 20,000). */
  rawLimit?: number;
}

const SAMPLE = 20;

class Counter<R extends Row> {
  readonly rows = new Map<string, R>();
  add(key: string, timeMs: number, eventIndex: number, make: () => Omit<R, keyof Row>): R {
    let row = this.rows.get(key);
    if (!row) {
      row = { ...make(), count: 0, firstMs: timeMs, lastMs: timeMs, sample: [] } as unknown as R;
      this.rows.set(key, row);
    }
    row.count++;
    if (timeMs < row.firstMs) row.firstMs = timeMs;
    if (timeMs > row.lastMs) row.lastMs = timeMs;
    if (eventIndex >= 0 && row.sample.length < SAMPLE) row.sample.push(eventIndex);
    return row;
  }
  sorted(): R[] {
    return [...this.rows.values()].sort((a, b) => b.count - a.count || a.firstMs - b.firstMs);
  }
}

const addTo = (list: string[], v: string | null): void => {
  if (v !== null && !list.includes(v)) list.push(v);
};

class Group {
  events = 0;
  failed = 0;
  firstMs: number | null = null;
  lastMs: number | null = null;
  readonly exes = new Counter<ExeRow>();
  readonly files = new Counter<FileRow>();
  readonly network = new Counter<NetworkRow>();
  readonly failures = new Counter<ErrnoRow>();
  readonly anomalies = new Counter<AnomalyRow>();
  readonly entries: Entry[] = [];
  readonly timeline: EventItem[] = [];
  rawOmitted = 0;
  constructor(readonly identity: GroupIdentity) {}

  /** Events come out of reassembly in completion order: put them in time order, rows' links along. */
  sortTimeline(): void {
    const order = this.timeline.map((_, i) => i).sort((a, b) => this.timeline[a].timeMs - this.timeline[b].timeMs || this.timeline[a].serial - this.timeline[b].serial);
    const moved = new Array<number>(order.length);
    order.forEach((old, now) => (moved[old] = now));
    const sorted = order.map((i) => this.timeline[i]);
    sorted.forEach((e, i) => (this.timeline[i] = e));
    for (const counter of [this.exes, this.files, this.network, this.failures, this.anomalies] as Counter<Row>[]) {
      for (const row of counter.rows.values()) row.sample = row.sample.map((i) => moved[i]);
    }
  }
}

function kindOf(f: EventFacts): EventItem['kind'] {
  if (f.anomalies.length > 0) return 'anomaly';
  if (f.execve) return 'exec';
  if (f.success === false) return 'failed';
  if (f.network) return 'network';
  if (f.written.length > 0) return 'file';
  return 'other';
}

/**
 * Accumulates aureport's summaries (executables, files written, network, failed syscalls by
 * errno, anomalies) and the container entries, per group. Fed by `contid search`'s pipeline:
 * `addEvent` for every matched event, `addBinding` for every trusted binding record.
 */
export class ReportBuilder {
  private readonly groups = new Map<string, Group>();
  private readonly bindings: { record: AuditRecord; life: LifecycleRecord }[] = [];
  private readonly by: GroupBy;
  private readonly rawLimit: number;

  constructor(private readonly options: ReportOptions = {}) {
    this.by = options.by ?? 'container';
    this.rawLimit = options.rawLimit ?? 20_000;
  }

  /** A trusted binding record (create, setns …): kept until `finish` knows which groups exist. */
  addBinding(record: AuditRecord, life: LifecycleRecord): void {
    if (life.op === 'create' || life.op === 'setns') this.bindings.push({ record, life });
  }

  addEvent(event: AuditEvent, chain: AttributedContainer[]): void {
    const g = this.group(this.identityOf(event.node, chain));
    const f = eventFacts(event);
    const t = event.timeMs;
    g.events++;
    if (g.firstMs === null || t < g.firstMs) g.firstMs = t;
    if (g.lastMs === null || t > g.lastMs) g.lastMs = t;
    let index = -1;
    if (this.options.keepEvents) {
      index = g.timeline.length;
      const keepRaw = index < this.rawLimit;
      if (!keepRaw) g.rawOmitted++;
      g.timeline.push({
        timeMs: t,
        serial: event.serial,
        pid: f.pid,
        ppid: f.ppid,
        exe: f.exe,
        syscall: f.syscall,
        success: f.success,
        kind: kindOf(f),
        contid: chain[0] ? formatContainerId(chain[0].contid) : null,
        raw: keepRaw ? event.records.map((r) => r.raw) : null,
      });
    }
    if (f.success === false) g.failed++;
    if (f.exe !== null) {
      const row = g.exes.add(f.exe, t, index, () => ({ exe: f.exe!, execs: 0, auids: [], uids: [] }));
      if (f.execve) row.execs++;
      addTo(row.auids, f.auid);
      addTo(row.uids, f.uid);
    }
    for (const path of f.written) {
      const row = g.files.add(path, t, index, () => ({ path, syscalls: [], failed: 0 }));
      addTo(row.syscalls, f.syscall);
      if (f.success === false) row.failed++;
    }
    if (f.network) {
      const { call, address } = f.network;
      const row = g.network.add(`${call} ${address}`, t, index, () => ({ call, address, failed: 0 }));
      if (f.success === false) row.failed++;
    }
    if (f.errno !== null && f.syscall !== null) addTo(g.failures.add(f.errno, t, index, () => ({ errno: f.errno!, syscalls: [] })).syscalls, f.syscall);
    for (const type of f.anomalies) g.anomalies.add(type, t, index, () => ({ type }));
  }

  /** The groups, each with its tables sorted by count. */
  finish(attribution: ReportAttribution): GroupReport[] {
    const { selected, chainOf, containerOf } = attribution;
    const wanted = selected === null ? null : new Set(selected.map((c) => formatContainerId(c.contid)));
    for (const c of selected ?? []) if (this.by === 'container') this.group(this.identityOf(null, chainOf(c)));
    for (const { record, life } of this.bindings) {
      const contid = formatContainerId(life.contid!);
      if (wanted !== null && !wanted.has(contid)) continue;
      const c = containerOf(life.contid!);
      const chain = c ? chainOf(c) : [];
      const g = this.group(this.identityOf(record.node, chain, life));
      const auid = record.fields.get('auid') ?? null;
      g.entries.push({ op: life.op, timeMs: record.timeMs, auid, pid: life.pid, session: life.session, contid, name: life.name, raw: record.raw });
    }
    for (const g of this.groups.values()) g.sortTimeline();
    return [...this.groups.values()].map((g) => ({
      identity: g.identity,
      events: g.events,
      failed: g.failed,
      firstMs: g.firstMs,
      lastMs: g.lastMs,
      executables: g.exes.sorted(),
      files: g.files.sorted(),
      network: g.network.sorted(),
      failures: g.failures.sorted(),
      anomalies: g.anomalies.sorted(),
      entries: g.entries.sort((a, b) => a.timeMs - b.timeMs),
      timeline: g.timeline,
      rawOmitted: g.rawOmitted,
    }));
  }

  private group(identity: GroupIdentity): Group {
    let g = this.groups.get(identity.key);
    if (!g) this.groups.set(identity.key, (g = new Group(identity)));
    return g;
  }

  private identityOf(node: string | null, chain: AttributedContainer[], life?: LifecycleRecord): GroupIdentity {
    const c = chain[0];
    switch (this.by) {
      case 'node':
        return { by: 'node', key: `node:${node ?? ''}`, label: node ?? '(this node)', chain: [] };
      case 'orchestrator': {
        const o = c?.orchestrator ?? life?.orchestrator ?? '(none)';
        return { by: 'orchestrator', key: `orchestrator:${o}`, label: o, chain: [] };
      }
      case 'pod': {
        // a pod's containers are children of its sandbox: the outermost Kubernetes ancestor
        if (!c || c.orchestrator !== 'kubernetes') return { by: 'pod', key: 'pod:', label: '(not in a pod)', chain: [] };
        let top = 0;
        while (top + 1 < chain.length && chain[top + 1].orchestrator === 'kubernetes') top++;
        const sandbox = chain[top];
        return { by: 'pod', key: `pod:${formatContainerId(sandbox.contid)}`, label: sandbox.name, chain: chain.slice(top) };
      }
      case 'container':
      default: {
        if (!c) {
          const contid = life?.contid ? formatContainerId(life.contid) : '';
          return { by: 'container', key: `container:${contid}`, label: life?.name ?? '(unattributed)', chain: [] };
        }
        return { by: 'container', key: `container:${formatContainerId(c.contid)}`, label: c.name, chain };
      }
    }
  }
}
