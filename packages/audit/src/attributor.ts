import { realpathSync } from 'node:fs';
import { ContainerId, formatContainerId, parseContainerId } from '@contid/core/dist/container-id';
import { LifecycleRecord } from '@contid/core/dist/record-format';
import { TrustStore } from '@contid/core/dist/trust-store';
import { BindingProblem, CheckedBinding, ClaimCheck, claimBinding, proofHolds } from './binding';
import { BindingQuery, ClaimedBinding, relevantBindings } from './binding-relevance';
import type { AuditEvent } from './reassembler';
import { SerialWatch, type BootVerdict } from './boot-watch';
import { LruMap } from './lru-map';
import { ownString, ownStringOrNull } from './own-string';
import { UnknownKeyTally } from './unknown-keys';
import { detachRecord, explicitSerialText, kernelField, kernelSession, type AuditRecord } from './record';

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
  /** Which check failed (see BindingProblem). */
  reason: BindingProblem;
  record: AuditRecord;
  /** The key id and node a signed record claims (to say which key to import). */
  keyId?: string;
  node?: string;
}

export interface AttributorOptions {
  /** Public keys that verify bindings (`contid keys import`); none: every binding is rejected. */
  trust?: TrustStore | null;
  /**
   * The old rule for UNSIGNED records: kernel uid 0 and one of these exe= values. Any
   * container with CAP_AUDIT_WRITE can meet it; only an explicit, loudly named option sets it.
   */
  legacyTrustedExes?: string[] | null;
  /** The node that wrote the records without a `node=` prefix (see BindingCheckOptions). */
  unprefixedNode?: string | null;
  /**
   * The kernel has /proc/PID/audit_containerid: read CONTAINER_ID (1336) aux records. On
   * mainline 1336 is URINGOP, so this is off unless the host has it.
   */
  procfsContid?: boolean;
  registry?: ContainerLookup;
  /**
   * Sessions and containers kept at most (least recently used dropped; default: all). A live
   * reader bounds them and finds what it dropped in the registry again; a search over a log
   * keeps all. Signatures remembered for duplicate detection are bounded by maxSessions too.
   */
  maxSessions?: number;
  maxContainers?: number;
  /**
   * Nodes whose boots are tracked at most (default: all). A sender on a collector chooses its
   * `node=` text: a live reader bounds this like the sessions (least recently seen let go,
   * counted in `nodesForgotten`).
   */
  maxNodes?: number;
  /**
   * Every drop of a node's serial, once its next record settled it: a boot (inferred from the
   * serials alone, so a reader is told: one forged line could end a node's epochs before
   * corroboration was required) or a lone low record that was not taken for one.
   */
  onBootVerdict?: (verdict: BootVerdict, record: AuditRecord) => void;
  /**
   * Called for every binding record that passed the trust rule (create, setns, end …), as it
   * is learned: who entered a container and when is a report's business, not the attributor's.
   */
  onTrustedBinding?: (record: AuditRecord, life: LifecycleRecord) => void;
  /** How many rejected records to keep for listing (the count is always exact). */
  keepRejected?: number;
  /** Called for every rejected binding record as it is rejected (`search --show-rejected` streams them). */
  onRejected?: (rejected: RejectedBinding) => void;
  /** Distinct unknown signing keys named at most (see UnknownKeyTally; default 256). */
  maxUnknownKeys?: number;
  /**
   * Hold bindings whose signature is still to be verified until settle() says which can affect
   * the answer (a search over a log: Ed25519 costs about a millisecond a binding). Until then
   * they are not used.
   */
  deferVerification?: boolean;
}

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
    const ses = kernelSession(rec);
    if (ses !== undefined) return ses;
  }
  return null;
}

/** The position of an event in its input: the byte offset of its first record (or -1). */
const positionOf = (event: AuditEvent): number => event.records[0]?.offset ?? -1;

/**
 * One node's event stamp, `TIME_MS:SERIAL`: the LOGIN that began an epoch and the events of
 * that LOGIN share it. `serial`: its digits, or the number where it is exact (the same text).
 */
export const stampKey = (timeMs: number, serial: string | number): string => `${timeMs}:${serial}`;

/**
 * Sessions are numbered per node and per boot: the key of one node's session number. Records
 * without node= (nearly every host's) key by the number itself: no string made and hashed per
 * look-up (a live tail looks a session up several times per event).
 */
type SessionKey = string | number;
const sessionKey = (node: string | null, session: number): SessionKey => (node === null ? session : `${node} ${session}`);
/** The node and session a key names (sessionKey's inverse). */
const keyParts = (key: SessionKey): { node: string | null; session: number } => {
  if (typeof key === 'number') return { node: null, session: key };
  const sp = key.lastIndexOf(' ');
  return { node: key.slice(0, sp), session: Number(key.slice(sp + 1)) };
};

/**
 * One session number's life: each LOGIN that allocates it starts a new epoch (session numbers
 * restart at 1 after a reboot), and a binding belongs to the epoch it was written in. `atMs`
 * is the binding's time: an event of another boot of the node never takes it.
 */
interface Epoch {
  start: number;
  contid: ContainerId | null;
  atMs?: number;
  /**
   * The stamp of the LOGIN that began it (see stampKey), kept as its parts: the text is made
   * only when an event is matched against it (a live stream never does), since one string per
   * LOGIN, and String() of its serial, outlived young collections in the session table.
   */
  stampMs?: number;
  stampSerial?: string | number;
  /** Restored from the registry, which binds sessions of the boot that began then: an event stamped earlier is not its. */
  sinceMs?: number;
}

/** The stamp of the LOGIN that began `e`, or undefined. */
const epochStamp = (e: Epoch): string | undefined => (e.stampMs === undefined || e.stampSerial === undefined ? undefined : stampKey(e.stampMs, e.stampSerial));

/**
 * Where one node's boots begin. Learned from the log: a record whose kernel serial falls far
 * below its boot's (boot-watch.ts), kept by position, and a binding signed in a new boot_id,
 * kept in audit time. Sessions of different boots never share a binding.
 */
class BootBoundaries {
  private readonly starts: number[] = [];
  /** Input positions (ascending) and audit times of the records that began a boot. */
  readonly positions: number[] = [];
  private readonly serialTimes: number[] = [];
  private lastBoot: string | null = null;
  private lastBindingMs = -Infinity;

  /** A record whose serial began a new boot, at input position `at` (-1: a live stream). */
  serialBoot(at: number, timeMs: number): void {
    if (at >= 0) {
      let i = this.positions.length;
      while (i > 0 && this.positions[i - 1] > at) i--;
      this.positions.splice(i, 0, at);
    }
    this.serialTimes.push(timeMs);
  }

  /** The last boot begun at or before position `at` (any for -1), or undefined. */
  bootBefore(at: number): number | undefined {
    if (at < 0) return this.positions[this.positions.length - 1];
    let found: number | undefined;
    for (const p of this.positions) if (p <= at) found = p;
    return found;
  }

  /** True when a boot begins after position `from` and at or before `to` (-1: the end). */
  bootBetween(from: number, to: number): boolean {
    return this.positions.some((p) => p > from && (to < 0 || p <= to));
  }

  /** A verified binding: a boot id different from the previous binding's is a new boot. */
  binding(boot: string, timeMs: number): void {
    const seen = this.serialTimes.some((t) => t > this.lastBindingMs && t <= timeMs); // already found by its serials
    if (this.lastBoot !== null && boot !== this.lastBoot && !seen) this.add(timeMs);
    this.lastBoot = boot;
    this.lastBindingMs = timeMs;
  }

  private add(timeMs: number): void {
    this.starts.push(timeMs);
    this.starts.sort((a, b) => a - b);
  }

  /** Index of the boot a time falls in. */
  segment(timeMs: number): number {
    let n = 0;
    while (n < this.starts.length && this.starts[n] <= timeMs) n++;
    return n;
  }

  get count(): number {
    return this.starts.length + this.serialTimes.length;
  }
}

/**
 * Learns session → container bindings from the log itself (kernel LOGIN records, contid's
 * VIRT_CONTROL records, CONTAINER_OP/CONTAINER_ID where the kernel has them) and attributes
 * events. Positions (byte offsets) make it exact when bindings are learned in a first pass
 * over the whole input and events are attributed in a second: a binding written after the
 * first events of its session still covers them.
 */
export class Attributor {
  private readonly epochs: LruMap<SessionKey, Epoch[]>;
  private readonly boots: LruMap<string, BootBoundaries>;
  private readonly serials: SerialWatch;
  /** Per node, the record whose serial dropped low, until the node's next record settles it. */
  private readonly drops: LruMap<string, AuditRecord>;
  private readonly containers: LruMap<string, AttributedContainer>;
  private readonly signatures: LruMap<string, true>;
  private readonly trust: TrustStore;
  private readonly legacyExes: Set<string> | null;
  readonly rejected: RejectedBinding[] = [];
  rejectedCount = 0;
  /** Rejections by reason, and the (node, key id) pairs no imported key verifies (bounded: see UnknownKeyTally). */
  readonly rejectedBy = new Map<BindingProblem, number>();
  readonly unknownKeys: UnknownKeyTally;
  /** Bindings whose signature settle() never verified: they could not change the answer, and are not used. */
  unchecked = 0;
  /** Every node a binding record named ('' for none), whether it was used, held or rejected. */
  private readonly bindingNodes: LruMap<string, true>;
  private pending: (ClaimedBinding & { rec: AuditRecord; claim: Extract<ClaimCheck, { ok: true }> })[] | null;

  constructor(private readonly options: AttributorOptions = {}) {
    this.trust = options.trust ?? TrustStore.empty();
    this.legacyExes = options.legacyTrustedExes ? new Set(options.legacyTrustedExes) : null;
    this.epochs = new LruMap(options.maxSessions);
    this.containers = new LruMap(options.maxContainers);
    this.signatures = new LruMap(options.maxSessions);
    this.boots = new LruMap(options.maxNodes);
    this.serials = new SerialWatch(options.maxNodes, (v) => this.settleDrop(v));
    this.drops = new LruMap(options.maxNodes);
    this.bindingNodes = new LruMap(options.maxNodes);
    this.pending = options.deferVerification ? [] : null;
    this.unknownKeys = new UnknownKeyTally(options.maxUnknownKeys);
  }

  /**
   * Verifies and uses, in input order, the bindings held since construction (deferVerification)
   * that can change the answer to `query` (every one for null); the others are counted as
   * unchecked and never used. Later bindings are verified as they come.
   */
  settle(query: BindingQuery | null): void {
    const pending = this.pending;
    if (pending === null) return;
    this.pending = null;
    const needed = query === null ? null : relevantBindings(pending, query);
    pending.forEach((p, i) => {
      if (needed === null || needed.has(i)) this.useClaim(p.rec, p.claim);
      else this.unchecked++;
    });
  }

  /** Per-node entries let go for room (maxNodes): boot watches, boot boundaries, binding nodes. */
  get nodesForgotten(): number {
    return this.serials.forgotten + this.boots.evicted + this.bindingNodes.evicted;
  }

  /** Sessions, containers and nodes held now (bounded by maxSessions / maxContainers / maxNodes). */
  get tableSizes(): { sessions: number; containers: number; nodes: number } {
    return { sessions: this.epochs.size, containers: this.containers.size, nodes: Math.max(this.serials.size, this.boots.size, this.bindingNodes.size) };
  }

  /** Learn from one event (records of every type may be passed; only binding types matter). */
  observe(event: AuditEvent): void {
    for (const rec of event.records) this.observeRecord(rec);
  }

  observeRecord(rec: AuditRecord): void {
    this.observeSerial(rec);
    this.observeBinding(rec);
  }

  /**
   * What observeRecord() learns from `rec` but its serial: the search index replays a binding
   * line's serial only where its kept boot lines put it (see BootLines), as reading every line
   * compares it with every line before.
   */
  observeBinding(rec: AuditRecord): void {
    if (rec.type === 'LOGIN') this.onLogin(rec);
    else if (rec.type === 'VIRT_CONTROL') this.onLifecycle(rec);
    else if (rec.type === 'USER' && rec.body !== null && / contid=/.test(rec.body) && claimBinding(rec, { trust: this.trust }) !== null) this.reject('type', rec); // contid never writes USER
    else if (this.options.procfsContid && CONTAINER_OP_TYPES.has(rec.type)) this.onContainerOp(rec);
  }

  /** The kernel serial of `rec` in input order: when it restarts low, its node booted again (boot-watch.ts). */
  observeSerial(rec: AuditRecord): void {
    if (!rec.type.startsWith('DAEMON_') && this.serials.startsBoot(rec.node ?? '', rec.serial, rec.timeMs)) this.observeBoot(rec);
  }

  /**
   * Feeds the kernel serial of a record that observeRecord() does not see (search reads only
   * binding lines whole, every other line by byte search: see boot-watch.ts); true when it
   * begins a new boot of `node`, and then the caller passes that record to observeBoot().
   */
  watchSerial(node: string, serial: number, timeMs: number): boolean {
    return this.serials.startsBoot(node, serial, timeMs);
  }

  /**
   * `rec`'s serial dropped low (watchSerial/observeSerial said so): it begins a new boot of its
   * node if the node's next record counts on low too (SerialWatch), and is kept until then.
   */
  observeBoot(rec: AuditRecord): void {
    // kept until the node's next record: its own text, not a view of the bytes it was read from
    detachRecord(rec);
    this.drops.set(rec.node ?? '', rec);
  }

  /** The node's next record settled its drop: a boot begins at the drop's record, or none does. */
  private settleDrop(v: BootVerdict): void {
    const rec = this.drops.peek(v.node);
    if (rec === undefined) return;
    this.drops.delete(v.node);
    this.options.onBootVerdict?.(v, rec);
    if (v.boot) this.bootAt(rec);
  }

  /**
   * `rec` began a new boot of its node: every binding epoch of that node ends here, so no
   * session of this boot or a later one is attributed by a binding made before it.
   */
  private bootAt(rec: AuditRecord): void {
    this.bootsOf(rec.node).serialBoot(rec.offset, rec.timeMs);
    if (rec.offset >= 0) return; // positioned: contidOfSession and bind() compare with it
    // a live stream has no positions: the node's bound sessions get an unbound epoch now
    for (const [key, list] of this.epochs) if (keyParts(key).node === rec.node && list[list.length - 1]?.contid != null) list.push({ start: -1, contid: null });
  }

  attribute(event: AuditEvent): AttributedContainer | null {
    if (this.options.procfsContid) {
      const chain = this.containerIdChain(event);
      if (chain) return this.container(chain[0]) ?? null;
    }
    // the serial as a number where it is exact: its text is made only if the stamp is asked for
    return this.attributeSession(sessionOf(event), positionOf(event), event.node, event.timeMs, event.serialText ?? event.serial);
  }

  /**
   * attribute() for an event known by its kernel session (sessionOf) and its first record's
   * position, node and stamp, without its records (the raw byte paths of search read only
   * those). Session bindings only: CONTAINER_ID records (procfsContid) need the event.
   */
  attributeSession(session: number | null, at: number, node: string | null, timeMs: number, serialText: string | number): AttributedContainer | null {
    if (session === null) return null;
    // the stamp is compared only with an epoch that begins after `at`: made then
    const contid = this.contidOfSession(session, at, node, timeMs, () => stampKey(timeMs, serialText));
    return contid === null ? null : (this.container(contid) ?? null);
  }

  /**
   * The contid bound to `session` of `node` at input position `at` (-1: the latest binding),
   * if the binding was made in the same boot as `timeMs` (when given). `stamp` (see stampKey)
   * is the event's: the event that allocated the session belongs to it even where its LOGIN
   * record comes after the event's other records — `ausearch --raw` prints equal stamps in
   * the order of its slots, so a stream relayed from its output can carry SYSCALL, PROCTITLE,
   * LOGIN, and a collector merging several nodes keeps that order.
   */
  contidOfSession(session: number, at = -1, node: string | null = null, timeMs?: number, stamp?: string | (() => string)): ContainerId | null {
    const list = this.epochs.get(sessionKey(node, session));
    if (!list) return null;
    let found: Epoch | undefined;
    if (at < 0) found = list[list.length - 1];
    else
      for (const e of list) {
        if (e.start > at) {
          if (typeof stamp === 'function') stamp = stamp();
          if (stamp !== undefined && epochStamp(e) === stamp) found = e;
          continue;
        }
        found = e;
      }
    if (!found || found.contid === null) return null;
    if (timeMs !== undefined && found.sinceMs !== undefined && timeMs < found.sinceMs) return null;
    const boots = this.boots.get(node ?? '');
    // a boot of the node between the epoch's start and the event ends the epoch
    if (boots && found.start < at && boots.bootBetween(found.start, at)) return null;
    if (boots && at < 0 && boots.bootBetween(found.start, -1)) return null;
    if (timeMs !== undefined && found.atMs !== undefined && boots && boots.segment(timeMs) !== boots.segment(found.atMs)) return null;
    return found.contid;
  }

  /**
   * Where the last epoch of `session` of `node` begins (-1: before the input) and the stamp of
   * the LOGIN that began it, or null when the number has none. Bytes of the session from there
   * on (and the lines of that LOGIN's own event before it) belong to one epoch: a byte shortcut
   * may give them all to one container only then.
   */
  lastEpoch(session: number, node: string | null): { start: number; stamp?: string } | null {
    const list = this.epochs.get(sessionKey(node, session));
    if (!list || list.length === 0) return null;
    let last = list[0];
    for (const e of list) if (e.start > last.start) last = e;
    return { start: last.start, stamp: epochStamp(last) };
  }

  /**
   * What contidOfSession answers for `session` of `node` at every input position from `from`
   * on (every epoch of the number has begun by then), whatever the event's time and stamp; null
   * when the number has no epoch or the answer may still depend on them (an epoch restored
   * with sinceMs, a boot of the node). For passes that attribute many events of a few sessions
   * after every binding is learned: one look-up per session instead of one per event.
   */
  steadyContid(session: number, node: string | null): { from: number; contid: ContainerId | null } | null {
    const list = this.epochs.peek(sessionKey(node, session));
    if (!list || list.length === 0) return null;
    // from the last start on, contidOfSession's walk ends at the list's last epoch
    const last = list[list.length - 1];
    if (last.sinceMs !== undefined || (this.boots.peek(node ?? '')?.count ?? 0) > 0) return null;
    let from = 0;
    for (const e of list) from = Math.max(from, e.start);
    return { from, contid: last.contid };
  }

  /**
   * True when sessions alone name containers: one node, one boot. Byte-level shortcuts that
   * see a session number but not the line's node or time are exact only then.
   */
  sessionsAreUnique(): boolean {
    const nodes = new Set([...this.epochs.keys()].map((k) => keyParts(k).node ?? ''));
    for (const n of this.boots.keys()) nodes.add(n);
    // and every node a binding named, verified or not: one left unverified (lazy
    // verification) still says its node's sessions share numbers with the others'
    for (const n of this.bindingNodes.keys()) nodes.add(n);
    return nodes.size <= 1 && [...this.boots.values()].every((b) => b.count === 0);
  }

  /** Every (session, contid) binding learned, for callers that pre-select sessions. */
  sessionBindings(): { session: number; node: string | null; start: number; contid: ContainerId }[] {
    const out: { session: number; node: string | null; start: number; contid: ContainerId }[] = [];
    for (const [key, list] of this.epochs) {
      const { node, session } = keyParts(key);
      for (const e of list) if (e.contid !== null) out.push({ session, node, start: e.start, contid: e.contid });
    }
    return out;
  }

  /**
   * Restores a binding found elsewhere (the registry, for the local node: null, or its `node=`
   * name); `sinceMs`: it binds the session of the boot that began then, not an earlier one's.
   */
  restore(bindings: { session: number; node?: string | null; start: number; contid: ContainerId | null; sinceMs?: number }[], containers: AttributedContainer[]): void {
    for (const c of containers) this.containers.set(formatContainerId(c.contid), c);
    // Only the lists restored into are sorted again (a live reader restores per session).
    const touched = new Set<Epoch[]>();
    for (const b of bindings) touched.add(this.addEpoch(b.node ?? null, b.session, b.sinceMs === undefined ? { start: b.start, contid: b.contid } : { start: b.start, contid: b.contid, sinceMs: b.sinceMs }));
    for (const list of touched) if (list.length > 1) list.sort((a, b) => a.start - b.start);
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

  private epochList(node: string | null, session: number): Epoch[] {
    const key = sessionKey(node, session);
    let list = this.epochs.get(key);
    if (!list) {
      list = [];
      this.epochs.set(key, list);
    }
    return list;
  }

  private addEpoch(node: string | null, session: number, epoch: Epoch): Epoch[] {
    const key = sessionKey(node, session);
    const list = this.epochs.get(key);
    if (list) {
      list.push(epoch);
      return list;
    }
    // A literal of one: `[]` then push() reserves 17 slots, ≈ 130 bytes more per session.
    const fresh = [epoch];
    this.epochs.set(key, fresh);
    return fresh;
  }

  private bootsOf(node: string | null): BootBoundaries {
    let b = this.boots.get(node ?? '');
    if (!b) {
      b = new BootBoundaries();
      this.boots.set(node ?? '', b);
    }
    return b;
  }

  private onLogin(rec: AuditRecord): void {
    // kernelField: a LOGIN is a kernel record, read without splitting every field (a live
    // stream has one per session)
    // kernelSession: read once per record (the pipeline asked already), no string made
    const ses = kernelSession(rec);
    if (ses === null || ses === undefined || kernelField(rec, 'res') !== '1') return;
    const list = this.epochs.get(sessionKey(rec.node, ses));
    const start = rec.offset;
    // A session number allocated again (after a reboot) ends any older binding of it.
    if (!list || list.length === 0 || list[list.length - 1].start < start || start < 0) this.addEpoch(rec.node, ses, { start, contid: null, stampMs: rec.timeMs, stampSerial: explicitSerialText(rec) ?? rec.serial });
  }

  private onLifecycle(rec: AuditRecord): void {
    const claim = claimBinding(rec, { trust: this.trust, legacyTrustedExes: this.legacyExes, unprefixedNode: this.options.unprefixedNode });
    if (claim === null) return;
    this.bindingNodes.set(rec.node ?? '', true);
    if (!claim.ok) return this.reject(claim.problem, rec, claim.keyId, claim.node);
    if (this.pending !== null) this.pending.push({ rec, claim, node: rec.node, binding: claim.binding });
    else this.useClaim(rec, claim);
  }

  /** A binding that passed every check but its signature: verified, then used. */
  private useClaim(rec: AuditRecord, claim: Extract<ClaimCheck, { ok: true }>): void {
    const { life, signature, provenance } = claim.binding;
    if (claim.proof && !proofHolds(claim.proof)) return this.reject('signature', rec, provenance?.keyId, provenance?.node);
    if (signature !== null && this.signatures.has(signature)) return this.reject('duplicate', rec);
    if (this.outOfNest(rec, claim.binding)) return this.reject('nesting', rec);
    // Kept for as long as the table keeps it: its own copy, not a view of the record's line.
    if (signature !== null) this.signatures.set(ownString(signature), true);
    if (provenance) this.bootsOf(rec.node).binding(provenance.boot, rec.timeMs);
    this.options.onTrustedBinding?.(rec, life);
    const contid = life.contid!;
    const key = formatContainerId(contid);
    const known = this.containers.get(key);
    if (life.op === 'create' || !known) {
      const enriched = known ?? this.options.registry?.get(contid);
      this.containers.set(key, {
        contid,
        name: ownString(life.name),
        orchestrator: ownString(life.orchestrator),
        runtimeId: ownStringOrNull(life.runtimeId),
        parent: life.parent,
        image: enriched?.image ?? null,
        ...(enriched?.labels ? { labels: enriched.labels } : {}),
      });
    }
    if ((life.op === 'create' || life.op === 'setns') && life.session !== null) this.bind(rec.node, life.session, contid, rec.offset, rec.timeMs);
  }

  private reject(reason: BindingProblem, record: AuditRecord, keyId?: string, node?: string): void {
    this.rejectedCount++;
    this.rejectedBy.set(reason, (this.rejectedBy.get(reason) ?? 0) + 1);
    if (reason === 'unknown-key' && keyId !== undefined && node !== undefined) this.unknownKeys.add(keyId, node);
    this.options.onRejected?.({ reason, record, keyId, node });
    if (this.rejected.length < (this.options.keepRejected ?? 10_000)) {
      detachRecord(record); // kept: its own text, not a view of the bytes it was read from
      this.rejected.push({ reason, record, keyId, node });
    }
  }

  private bind(node: string | null, session: number, contid: ContainerId, at: number, atMs: number): void {
    const list = this.epochList(node, session);
    let target: Epoch | undefined;
    for (const e of list) if (at < 0 || e.start <= at) target = e;
    // bound in a boot that began after the epoch found (or with none): the binding's epoch is that boot's
    const boot = this.boots.get(node ?? '')?.bootBefore(at);
    if (boot !== undefined && (target === undefined || target.start < boot)) {
      let i = list.length;
      while (i > 0 && list[i - 1].start > boot) i--;
      list.splice(i, 0, { start: boot, contid, atMs });
      return;
    }
    if (target) {
      target.contid = contid;
      target.atMs = atMs;
    } else list.unshift({ start: -1, contid, atMs }); // the LOGIN is outside the input (rotated away)
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
  private outOfNest(rec: AuditRecord, b: CheckedBinding): boolean {
    const life: LifecycleRecord = b.life;
    if ((life.op !== 'create' && life.op !== 'setns') || life.session === null) return false;
    const sender = b.senderSession;
    if (sender === null) return false;
    const nest = this.contidOfSession(sender, rec.offset, rec.node, rec.timeMs);
    if (nest === null) return false;
    if (life.session === sender) return true;
    const start = life.op === 'create' || life.contid === null ? life.parent : (this.container(life.contid)?.parent ?? null);
    for (let p = start, hops = 0; p !== null && hops < 64; hops++) {
      if (p === nest) return false;
      p = this.container(p)?.parent ?? null;
    }
    return true;
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
