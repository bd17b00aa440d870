import { realpathSync } from 'node:fs';
import { ContainerId, LifecycleRecord, formatContainerId, parseContainerId, parseLifecycle, verifyMac } from '@contid/core';
import type { AuditEvent } from './reassembler';
import { LruMap } from './lru-map';
import { AuditRecord, fieldValue } from './record';

/** The container an event belongs to, as learned from the log (enriched from the registry). */
export interface AttributedContainer {
  contid: ContainerId;
  name: string;
  orchestrator: string;
  runtimeId: string | null;
  parent: ContainerId | null;
  image: string | null;
  /** Orchestrator labels (compose project and service …), from the registry when it knows them. */
  labels?: Record<string, string>;
}

/** Registry calls used to enrich (optional: the log alone attributes). */
export interface ContainerLookup {
  get(contid: ContainerId): AttributedContainer | undefined;
}

/** A binding record that failed the trust rule: ignored for attribution, listed on request. */
export interface RejectedBinding {
  /**
   * uid: not sent by root; exe: not an allowed executable; mac: missing or wrong; type: not
   * VIRT_CONTROL; nesting: sent from inside container X (its session is bound to X) but binds
   * its own session or a container that is not X's descendant.
   */
  reason: 'uid' | 'exe' | 'mac' | 'type' | 'nesting';
  record: AuditRecord;
}

export interface AttributorOptions {
  /** exe= values a trusted binding may come from (default: this Node binary and its realpath). */
  trustedExes?: string[];
  /** The host's record key: when set, a binding must carry a valid mac=. */
  key?: Buffer | null;
  /**
   * The kernel has /proc/PID/audit_containerid: read CONTAINER_ID (1336) aux records. On
   * mainline 1336 is URINGOP, so this is off unless the host has it.
   */
  procfsContid?: boolean;
  registry?: ContainerLookup;
  /** How many rejected records to keep for listing (the count is always exact). */
  keepRejected?: number;
  /**
   * Sessions and containers kept at most (least recently used dropped; default: all). A live
   * reader bounds them and finds what it dropped in the registry again; a search over a log
   * keeps all.
   */
  maxSessions?: number;
  maxContainers?: number;
  /**
   * Called for every binding record that passed the trust rule (create, setns, end …), as it
   * is learned: who entered a container and when is a report's business, not the attributor's.
   */
  onTrustedBinding?: (record: AuditRecord, life: LifecycleRecord) => void;
}

const UNSET = '4294967295';
const CONTAINER_ID_TYPES = new Set(['CONTAINER_ID', 'UNKNOWN[1336]', 'URINGOP']);
const CONTAINER_OP_TYPES = new Set(['CONTAINER_OP', 'UNKNOWN[1020]']);

export function defaultTrustedExes(): string[] {
  const exes = new Set([process.execPath]);
  try {
    exes.add(realpathSync(process.execPath));
  } catch {
    // execPath alone
  }
  return [...exes];
}

export function hostHasProcfsContid(procRoot = '/proc'): boolean {
  try {
    realpathSync(`${procRoot}/self/audit_containerid`);
    return true;
  } catch {
    return false;
  }
}

/** The kernel-stamped session of an event (first record that has one), null when unset. */
export function sessionOf(event: AuditEvent): number | null {
  for (const rec of event.records) {
    const ses = rec.fields.get('ses');
    if (ses !== undefined) return ses === UNSET || !/^\d{1,10}$/.test(ses) ? null : Number(ses);
  }
  return null;
}

/** The position of an event in its input: the byte offset of its first record (or -1). */
const positionOf = (event: AuditEvent): number => event.records[0]?.offset ?? -1;

/**
 * One session number's life: each LOGIN that allocates it starts a new epoch (session numbers
 * restart at 1 after a reboot), and a binding belongs to the epoch it was written in.
 */
interface Epoch {
  start: number;
  contid: ContainerId | null;
}

/**
 * Learns session → container bindings from the log itself (kernel LOGIN records, contid's
 * VIRT_CONTROL records, CONTAINER_OP/CONTAINER_ID where the kernel has them) and attributes
 * events. Positions (byte offsets) make it exact when bindings are learned in a first pass
 * over the whole input and events are attributed in a second: a binding written after the
 * first events of its session still covers them.
 */
export class Attributor {
  private readonly epochs: LruMap<number, Epoch[]>;
  private readonly containers: LruMap<string, AttributedContainer>;
  private readonly trusted: Set<string>;
  readonly rejected: RejectedBinding[] = [];
  rejectedCount = 0;

  constructor(private readonly options: AttributorOptions = {}) {
    this.trusted = new Set(options.trustedExes ?? defaultTrustedExes());
    this.epochs = new LruMap(options.maxSessions);
    this.containers = new LruMap(options.maxContainers);
  }

  /** Sessions and containers held now (bounded by maxSessions / maxContainers). */
  get tableSizes(): { sessions: number; containers: number } {
    return { sessions: this.epochs.size, containers: this.containers.size };
  }

  /** Learn from one event (records of every type may be passed; only binding types matter). */
  observe(event: AuditEvent): void {
    for (const rec of event.records) this.observeRecord(rec);
  }

  observeRecord(rec: AuditRecord): void {
    if (rec.type === 'LOGIN') this.onLogin(rec);
    else if (rec.type === 'VIRT_CONTROL') this.onLifecycle(rec);
    else if (rec.type === 'USER' && parseLifecycle(rec.msg)) this.reject('type', rec); // contid never writes USER
    else if (this.options.procfsContid && CONTAINER_OP_TYPES.has(rec.type)) this.onContainerOp(rec);
  }

  attribute(event: AuditEvent): AttributedContainer | null {
    if (this.options.procfsContid) {
      const chain = this.containerIdChain(event);
      if (chain) return this.container(chain[0]) ?? null;
    }
    const ses = sessionOf(event);
    if (ses === null) return null;
    const contid = this.contidOfSession(ses, positionOf(event));
    return contid === null ? null : (this.container(contid) ?? null);
  }

  /** The contid bound to `session` at input position `at` (-1: the latest binding). */
  contidOfSession(session: number, at = -1): ContainerId | null {
    const list = this.epochs.get(session);
    if (!list) return null;
    if (at < 0) return list[list.length - 1].contid;
    let found: Epoch | undefined;
    for (const e of list) {
      if (e.start > at) break;
      found = e;
    }
    return found?.contid ?? null;
  }

  /** Every (session, contid) binding learned, for callers that pre-select sessions. */
  sessionBindings(): { session: number; start: number; contid: ContainerId }[] {
    const out: { session: number; start: number; contid: ContainerId }[] = [];
    for (const [session, list] of this.epochs) for (const e of list) if (e.contid !== null) out.push({ session, start: e.start, contid: e.contid });
    return out;
  }

  /** Restores bindings saved by an index (positions as learned). */
  restore(bindings: { session: number; start: number; contid: ContainerId | null }[], containers: AttributedContainer[]): void {
    for (const c of containers) this.containers.set(formatContainerId(c.contid), c);
    for (const b of bindings) this.epochList(b.session).push({ start: b.start, contid: b.contid });
    for (const list of this.epochs.values()) list.sort((a, b) => a.start - b.start);
  }

  /** Epochs including unbound ones (an index must keep the LOGIN boundaries too). */
  allEpochs(): { session: number; start: number; contid: ContainerId | null }[] {
    const out: { session: number; start: number; contid: ContainerId | null }[] = [];
    for (const [session, list] of this.epochs) for (const e of list) out.push({ session, start: e.start, contid: e.contid });
    return out;
  }

  container(contid: ContainerId): AttributedContainer | undefined {
    const key = formatContainerId(contid);
    let c = this.containers.get(key);
    if (!c && this.options.registry) {
      c = this.options.registry.get(contid);
      if (c) this.containers.set(key, c);
    }
    return c;
  }

  knownContainers(): AttributedContainer[] {
    return [...this.containers.values()];
  }

  /** The container and its ancestors, nearest first. */
  chain(c: AttributedContainer): AttributedContainer[] {
    const out = [c];
    const seen = new Set([formatContainerId(c.contid)]);
    for (let p = c.parent; p !== null; ) {
      const key = formatContainerId(p);
      if (seen.has(key)) break;
      seen.add(key);
      const parent = this.container(p) ?? { contid: p, name: key, orchestrator: '?', runtimeId: null, parent: null, image: null };
      out.push(parent);
      p = parent.parent;
    }
    return out;
  }

  private epochList(session: number): Epoch[] {
    let list = this.epochs.get(session);
    if (!list) {
      list = [];
      this.epochs.set(session, list);
    }
    return list;
  }

  private onLogin(rec: AuditRecord): void {
    const ses = rec.fields.get('ses');
    if (!ses || ses === UNSET || !/^\d{1,10}$/.test(ses) || rec.fields.get('res') !== '1') return;
    const list = this.epochList(Number(ses));
    const start = rec.offset;
    // A session number allocated again (after a reboot) ends any older binding of it.
    if (list.length === 0 || list[list.length - 1].start < start || start < 0) list.push({ start, contid: null });
  }

  private onLifecycle(rec: AuditRecord): void {
    const life = parseLifecycle(rec.msg);
    if (!life || life.contid === null) return;
    const reason = this.distrust(rec) ?? this.outOfNest(rec, life);
    if (reason) return this.reject(reason, rec);
    this.options.onTrustedBinding?.(rec, life);
    const key = formatContainerId(life.contid);
    const known = this.containers.get(key);
    if (life.op === 'create' || !known) {
      const enriched = known ?? this.options.registry?.get(life.contid);
      this.containers.set(key, {
        contid: life.contid,
        name: life.name,
        orchestrator: life.orchestrator,
        runtimeId: life.runtimeId,
        parent: life.parent,
        image: enriched?.image ?? null,
        ...(enriched?.labels ? { labels: enriched.labels } : {}),
      });
    }
    if ((life.op === 'create' || life.op === 'setns') && life.session !== null) this.bind(life.session, life.contid, rec.offset);
  }

  private reject(reason: RejectedBinding['reason'], record: AuditRecord): void {
    this.rejectedCount++;
    if (this.rejected.length < (this.options.keepRejected ?? 10_000)) this.rejected.push({ reason, record });
  }

  private bind(session: number, contid: ContainerId, at: number): void {
    const list = this.epochList(session);
    let target: Epoch | undefined;
    for (const e of list) if (at < 0 || e.start <= at) target = e;
    if (target) target.contid = contid;
    else list.unshift({ start: -1, contid }); // the LOGIN is outside the input (rotated away)
  }

  /** CONTAINER_OP op=set is written by the kernel itself: it names a container, no trust check. */
  private onContainerOp(rec: AuditRecord): void {
    if (rec.fields.get('op') !== 'set') return;
    const id = parseId(rec.fields.get('contid'));
    if (id === null || this.container(id)) return;
    this.containers.set(formatContainerId(id), { contid: id, name: formatContainerId(id), orchestrator: '?', runtimeId: null, parent: null, image: null });
  }

  /** `record=N contid=4,^2,^1`: the event's contid then its ancestors. */
  containerIdChain(event: AuditEvent): ContainerId[] | null {
    for (const rec of event.records) {
      if (!CONTAINER_ID_TYPES.has(rec.type) || !rec.fields.has('record')) continue;
      const ids = (rec.fields.get('contid') ?? '').split(',').map((s) => parseId(s.replace(/^\^/, '')));
      if (ids.length === 0 || ids.some((i) => i === null)) continue;
      const chain = ids as ContainerId[];
      chain.forEach((id, i) => {
        const key = formatContainerId(id);
        const parent = chain[i + 1] ?? null;
        const known = this.container(id);
        if (!known) this.containers.set(key, { contid: id, name: key, orchestrator: '?', runtimeId: null, parent, image: null });
        else if (known.parent === null && parent !== null) known.parent = parent;
      });
      return chain;
    }
    return null;
  }

  /**
   * The kernel stamps the sender's own session (`ses=`). A binding sent from a session that is
   * already bound to container X comes from inside X (a nested orchestrator, or root in a
   * container forging with the CAP_AUDIT_WRITE Docker leaves it): it may bind sessions only
   * for X's descendants, never X's own session — so a container cannot re-tag itself, even on a
   * machine that does not have the record key. Legitimate taggers send from the host or from
   * a session they have just renewed, which is not yet bound.
   */
  private outOfNest(rec: AuditRecord, life: LifecycleRecord): RejectedBinding['reason'] | null {
    if ((life.op !== 'create' && life.op !== 'setns') || life.session === null) return null;
    const sender = Number(rec.fields.get('ses'));
    if (!Number.isInteger(sender) || String(sender) === UNSET) return null;
    const nest = this.contidOfSession(sender, rec.offset);
    if (nest === null) return null;
    if (life.session === sender) return 'nesting';
    const start = life.op === 'create' || life.contid === null ? life.parent : (this.container(life.contid)?.parent ?? null);
    for (let p = start, hops = 0; p !== null && hops < 64; hops++) {
      if (p === nest) return null;
      p = this.container(p)?.parent ?? null;
    }
    return 'nesting';
  }

  private distrust(rec: AuditRecord): RejectedBinding['reason'] | null {
    if (rec.fields.get('uid') !== '0') return 'uid';
    const exe = fieldValue(rec.msg.get('exe'));
    if (exe === undefined || !this.trusted.has(exe)) return 'exe';
    if (this.options.key && (rec.body === null || verifyMac(rec.body, this.options.key) !== true)) return 'mac';
    return null;
  }
}

function parseId(v: string | undefined): ContainerId | null {
  if (v === undefined || v === '-1' || v === '?' || v === '') return null;
  try {
    return parseContainerId(v);
  } catch {
    return null;
  }
}
