import { realpathSync } from 'node:fs';
import { ContainerId, decodeValue, formatContainerId, parseLifecycle, verifyMac } from '@contid/core';
import type { LogEvent } from './event-assembler';
import type { LogRecord } from './log-record';

/** The container an event belongs to, as learned from the log (and the registry). */
export interface LiveContainer {
  contid: ContainerId;
  name: string;
  orchestrator: string;
  runtimeId: string | null;
  parent: ContainerId | null;
  image: string | null;
}

/** The registry calls attribution uses for bindings made before the stream started. */
export interface SessionLookup {
  containerOfSession(session: number): LiveContainer | undefined;
  get(contid: ContainerId): LiveContainer | undefined;
}

export interface LiveAttributorOptions {
  /** exe= values a trusted binding may come from (default: this Node binary). */
  trustedExes?: string[];
  /** The host's record key: when set, a binding must carry a valid mac=. */
  key?: Buffer | null;
  registry?: SessionLookup;
}

const AUDIT_UNSET = '4294967295';

function defaultTrustedExes(): string[] {
  const exes = new Set([process.execPath]);
  try {
    exes.add(realpathSync(process.execPath));
  } catch {
    // keep execPath alone
  }
  return [...exes];
}

/**
 * Learns session → container bindings from the stream itself (contid's VIRT_CONTROL
 * records, trusted only from uid 0 + an allowed exe + a valid mac) and attributes each
 * event by the kernel-stamped `ses=` of its first record. Interim: replaced by the search
 * package's Attributor (issue #8) once it is exported.
 */
export class LiveAttributor {
  private readonly sessions = new Map<number, ContainerId>();
  private readonly containers = new Map<string, LiveContainer>();
  private readonly trusted: Set<string>;
  /** Sessions a LOGIN record has just allocated, with when: bindings may follow shortly. */
  readonly freshSessions = new Map<number, number>();
  /** Binding records that failed the trust rule (forgery candidates). */
  rejected = 0;

  constructor(private readonly options: LiveAttributorOptions = {}) {
    this.trusted = new Set(options.trustedExes ?? defaultTrustedExes());
  }

  observe(event: LogEvent, now = Date.now()): void {
    for (const rec of event.records) {
      if (rec.type === 'LOGIN') this.onLogin(rec, now);
      else if (rec.type === 'VIRT_CONTROL') this.onLifecycle(rec);
    }
  }

  /** The session an event ran in (kernel-stamped), or null when unset. */
  sessionOf(event: LogEvent): number | null {
    for (const rec of event.records) {
      const ses = rec.fields.get('ses');
      if (ses !== undefined) return ses === AUDIT_UNSET || !/^\d+$/.test(ses) ? null : Number(ses);
    }
    return null;
  }

  attribute(event: LogEvent): LiveContainer | null {
    const ses = this.sessionOf(event);
    if (ses === null) return null;
    const contid = this.sessions.get(ses);
    if (contid !== undefined) return this.container(contid) ?? null;
    const found = this.options.registry?.containerOfSession(ses);
    if (!found) return null;
    this.sessions.set(ses, found.contid);
    this.containers.set(formatContainerId(found.contid), found);
    return found;
  }

  container(contid: ContainerId): LiveContainer | undefined {
    const key = formatContainerId(contid);
    let c = this.containers.get(key);
    if (!c) {
      c = this.options.registry?.get(contid);
      if (c) this.containers.set(key, c);
    }
    return c;
  }

  /** The container and its ancestors, nearest first. */
  chain(c: LiveContainer): LiveContainer[] {
    const out = [c];
    const seen = new Set([formatContainerId(c.contid)]);
    for (let p = c.parent; p !== null; ) {
      const key = formatContainerId(p);
      if (seen.has(key)) break;
      seen.add(key);
      const parent = this.container(p);
      if (!parent) break;
      out.push(parent);
      p = parent.parent;
    }
    return out;
  }

  private onLogin(rec: LogRecord, now: number): void {
    const ses = rec.fields.get('ses');
    if (!ses || ses === AUDIT_UNSET || rec.fields.get('res') !== '1') return;
    const s = Number(ses);
    // A session number allocated again (after a reboot) ends any older binding of it.
    this.sessions.delete(s);
    this.freshSessions.set(s, now);
    if (this.freshSessions.size > 10_000) this.freshSessions.delete(this.freshSessions.keys().next().value as number);
  }

  private onLifecycle(rec: LogRecord): void {
    const life = parseLifecycle(rec.msg);
    if (!life || life.contid === null) return;
    if (!this.isTrusted(rec)) {
      this.rejected++;
      return;
    }
    const key = formatContainerId(life.contid);
    const known = this.containers.get(key);
    if (life.op === 'create' || !known) {
      this.containers.set(key, {
        contid: life.contid,
        name: life.name,
        orchestrator: life.orchestrator,
        runtimeId: life.runtimeId,
        parent: life.parent,
        image: known?.image ?? null,
      });
    }
    if ((life.op === 'create' || life.op === 'setns') && life.session !== null) {
      this.sessions.set(life.session, life.contid);
      this.freshSessions.delete(life.session);
    }
  }

  private isTrusted(rec: LogRecord): boolean {
    if (rec.fields.get('uid') !== '0') return false;
    const exe = rec.msg.get('exe');
    if (exe === undefined || !this.trusted.has(decodeValue(exe))) return false;
    if (this.options.key && rec.body !== null) return verifyMac(rec.body, this.options.key) === true;
    return true;
  }
}
