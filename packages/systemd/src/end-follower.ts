import { statSync } from 'node:fs';
import { connect, Socket } from 'node:net';
import { constants } from 'node:os';
import { ContainerRecord, Tagger, escapeText, formatContainerId, processStartTime } from '@contid/core';
import { DbusMessage, DbusValue, MessageType, marshalCall, messageLength, parseMessage, unitOfObjectPath } from './dbus-wire';
import { ORCHESTRATOR } from './unit-container';
import { checkUnitProcess } from './invocation';
import { UNITS_FILE, readUnitList } from './generator';

/** PID 1's private bus: root only, PID 1 itself at the other end (no dbus-daemon in between). */
export const SYSTEMD_PRIVATE_SOCKET = '/run/systemd/private';
const MANAGER = { path: '/org/freedesktop/systemd1', interface: 'org.freedesktop.systemd1.Manager' };
const UNIT_IFACE = 'org.freedesktop.systemd1.Unit';
const SERVICE_IFACE = 'org.freedesktop.systemd1.Service';
/** How long a new invocation's line waits for the previous invocation's end from the stream (ms). */
export const END_WAIT_MS = 2_000;
const RECONNECT_FIRST_MS = 200;
const RECONNECT_MAX_MS = 5_000;
/** How often ends held for their invocation's entries are looked at again (ms). */
const HELD_RECHECK_MS = 50;
/** The properties of a unit's signals the follower reads; the others are skipped unread. */
const USED = new Set(['Result', 'ExecMainCode', 'ExecMainStatus', 'ActiveState', 'SubState', 'InvocationID']);
/** Invocation ids the stream has shown, kept for the order check (a bounded memory). */
const SHOWN_MAX = 4096;

interface MainExit {
  result?: string;
  code?: number;
  status?: number;
}

/** What the held ends wait for: the spool's entries still to be bound, by invocation id. */
export interface WaitingIds {
  waitingIds(): Set<string>;
}

/** systemd's `$EXIT_CODE` words for the main process's `ExecMainCode` (CLD_EXITED, CLD_KILLED, CLD_DUMPED). */
const EXIT_CODES: Record<number, string> = { 1: 'exited', 2: 'killed', 3: 'dumped' };
const SIGNALS = new Map(Object.entries(constants.signals).map(([name, n]) => [n, name.replace(/^SIG/, '')]));

/**
 * The end reason in the words the ExecStopPost= line used ($SERVICE_RESULT, $EXIT_CODE,
 * $EXIT_STATUS), now taken from systemd's own properties: `service-result:exit-code,
 * exit-code:exited,exit-status:3`; a signal by its name, as systemd gives it (`TERM`).
 */
export function endReason(exit: MainExit): string {
  const parts: string[] = [];
  if (exit.result) parts.push(`service-result:${exit.result}`);
  const code = exit.code !== undefined ? EXIT_CODES[exit.code] : undefined;
  if (code) {
    parts.push(`exit-code:${code}`);
    const status = code === 'exited' ? String(exit.status ?? '') : (SIGNALS.get(exit.status ?? -1) ?? String(exit.status ?? ''));
    if (status) parts.push(`exit-status:${status}`);
  }
  return parts.length ? parts.join(',') : 'stopped';
}

const hex = (v: DbusValue | undefined): string | null => (Buffer.isBuffer(v) && v.length === 16 ? v.toString('hex') : null);
const str = (v: DbusValue | undefined): string | undefined => (typeof v === 'string' ? v : undefined);
const int = (v: DbusValue | undefined): number | undefined => (typeof v === 'number' ? v : undefined);
/**
 * An invocation is over when its unit is inactive or failed, or waits to be started again
 * (`Restart=`: ActiveState `activating`, SubState `auto-restart`, still the old id; the next
 * start takes a new one).
 */
const ended = (state: string | undefined, sub?: string): boolean => state === 'inactive' || state === 'failed' || sub === 'auto-restart';

/**
 * `contid serve`'s systemd ends, learnt from PID 1 instead of an `ExecStopPost=+` line of every
 * unit (which cost every stop a fork of PID 1, two execs and a spool entry; docs/systemd.md).
 * On the private socket, after `Manager.Subscribe()`, PID 1 sends each state change of every
 * unit: its Service properties (Result, ExecMainCode, ExecMainStatus), then its Unit ones
 * (ActiveState, InvocationID) — one connection, in the order of the changes; nothing a unit
 * runs can write there. An invocation ends when it goes `inactive`/`failed` after a state of its
 * own other than that (each start's first signal is `inactive` with the new id).
 *
 * The end is applied once the invocation has no entry left in the spool (its later lines must
 * join its container first); a new invocation's line waits, up to END_WAIT_MS, until the
 * stream has shown its id, so the old invocation's end (sent before) is in first. At each
 * (re)connect, every running systemd container is asked for: a unit no longer loaded or with
 * another invocation is ended (`found stopped by contid serve`), the same one inactive ended with
 * systemd's reason — so ends while serve was down or disconnected are recorded too.
 */
export class SystemdEndFollower {
  private socket: Socket | null = null;
  private pending: Buffer = Buffer.alloc(0);
  private authed = false;
  private serial = 0;
  private readonly calls = new Map<number, (m: DbusMessage) => void>();
  private readonly exits = new Map<string, MainExit>();
  private readonly started = new Map<string, string>();
  private readonly shown = new Set<string>();
  private readonly held = new Map<string, { unit: string; reason: string }>();
  /** The invocation PID 1 runs → the id a container of its unit was bound under (follow). */
  private readonly aliases = new Map<string, string>();
  /** When a line of a new invocation was first left waiting for the older one's end. */
  private readonly firstLook = new Map<string, number>();
  private heldTimer: NodeJS.Timeout | null = null;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private reconnectMs = RECONNECT_FIRST_MS;
  private stopped = false;
  private readonly known = new Set<string>();
  private listMtime = -1;
  private listChecked = 0;
  connected = false;

  constructor(
    private readonly tagger: Tagger,
    private readonly spool: WaitingIds,
    private readonly log: (line: string) => void,
    private readonly socketPath = SYSTEMD_PRIVATE_SOCKET,
    private readonly unitList = UNITS_FILE,
  ) {}

  start(): void {
    this.stopped = false;
    this.connect();
  }

  stop(): void {
    this.stopped = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    if (this.heldTimer) clearTimeout(this.heldTimer);
    this.socket?.destroy();
    this.socket = null;
    this.connected = false;
  }

  /**
   * Before a line of invocation `invocationId` of `unit` is bound: the unit's older invocations
   * still running get their end from the stream first. Returns why to wait, or null to go on
   * (after a bound, or with the stream down, the older ones are superseded as before).
   */
  beforeBind(unit: string, invocationId: string, now = Date.now()): string | null {
    const older = this.tagger.containers.list({ state: 'running', orchestrator: ORCHESTRATOR }).filter((c) => c.name === unit && c.runtimeId !== invocationId);
    let waiting: ContainerRecord | null = null;
    for (const c of older) {
      const held = this.held.get(c.runtimeId!);
      if (held) this.apply(c.runtimeId!, held.unit, held.reason);
      else waiting = c;
    }
    // Counted from serve's own first look, not the entry's age: entries that waited while serve
    // was down or paused are bound only after the stream PID 1 queued meanwhile has been read.
    const first = this.firstLook.get(invocationId) ?? now;
    if (!waiting || !this.connected || this.shown.has(invocationId) || now - first >= END_WAIT_MS) {
      this.firstLook.delete(invocationId);
      return null;
    }
    if (this.firstLook.size >= SHOWN_MAX) this.firstLook.clear();
    this.firstLook.set(invocationId, first);
    return `waiting for systemd to end ${escapeText(unit)} invocation ${waiting.runtimeId} before ${invocationId}`;
  }

  private connect(): void {
    if (this.stopped) return;
    const s = connect(this.socketPath);
    this.socket = s;
    this.authed = false;
    this.pending = Buffer.alloc(0);
    s.on('connect', () => s.write(`\0AUTH EXTERNAL ${Buffer.from(String(process.getuid?.() ?? 0)).toString('hex')}\r\n`));
    s.on('data', (d: Buffer) => this.onData(s, d));
    s.on('error', () => undefined); // 'close' follows
    s.on('close', () => {
      if (this.socket !== s) return;
      this.socket = null;
      if (this.connected) this.log('systemd: the connection to PID 1 closed; ends are looked up when it is back');
      this.connected = false;
      this.calls.clear();
      if (this.stopped) return;
      this.reconnectTimer = setTimeout(() => this.connect(), this.reconnectMs);
      this.reconnectTimer.unref();
      this.reconnectMs = Math.min(this.reconnectMs * 2, RECONNECT_MAX_MS);
    });
  }

  private onData(s: Socket, d: Buffer): void {
    this.pending = this.pending.length ? Buffer.concat([this.pending, d]) : d;
    if (!this.authed) {
      const eol = this.pending.indexOf('\r\n');
      if (eol < 0) return;
      const line = this.pending.subarray(0, eol).toString('latin1');
      this.pending = this.pending.subarray(eol + 2);
      if (!line.startsWith('OK ')) {
        this.log(`systemd: PID 1 refused the connection (${escapeText(line)})`);
        s.destroy();
        return;
      }
      this.authed = true;
      s.write('BEGIN\r\n');
      this.connected = true;
      this.reconnectMs = RECONNECT_FIRST_MS;
      // Subscribed before the look-up: an end after it is in the stream, one before it in the answer.
      this.call({ ...MANAGER, member: 'Subscribe' }, () => undefined);
      this.catchUp();
    }
    try {
      for (let n = messageLength(this.pending); n !== null; n = messageLength(this.pending)) {
        const msg = parseMessage(this.pending.subarray(0, n), (h) => this.wanted(h), USED);
        this.pending = this.pending.subarray(n);
        this.onMessage(msg);
      }
    } catch (e) {
      this.log(`systemd: ${escapeText((e as Error).message)}; reconnecting`);
      s.destroy();
    }
  }

  /** Replies, and the signals of units contid may have a container of (read past the others unparsed). */
  private wanted(h: DbusMessage): boolean {
    if (h.type !== MessageType.Signal) return true;
    if (h.member !== 'PropertiesChanged' || !h.path) return false;
    const unit = unitOfObjectPath(h.path);
    return unit !== null && this.units().has(unit);
  }

  /**
   * The units whose signals are read: those the generator wraps (its list, read again when it
   * changes) and those serve has bound a container of. Another unit's first container (a line
   * written by hand) is looked up once bound (watch), its earlier signals having been skipped.
   */
  private units(): Set<string> {
    // The list changes at `contid install`: looked at once a second, not for every signal.
    const now = Date.now();
    if (now - this.listChecked < 1_000) return this.known;
    this.listChecked = now;
    let mtime = 0;
    try {
      mtime = statSync(this.unitList).mtimeMs;
    } catch {
      // no list: no unit is installed through the generator
    }
    if (mtime !== this.listMtime) {
      this.listMtime = mtime;
      for (const u of mtime ? readUnitList(this.unitList) : []) this.known.add(u);
    }
    return this.known;
  }

  /**
   * A container serve just created: when the stream has not shown its invocation running (its
   * unit's signals were not read, or came before serve connected), systemd is asked, as at a
   * reconnect — a oneshot may have ended before its first line was bound.
   */
  watch(unit: string, invocationId: string): void {
    if (this.known.size >= SHOWN_MAX) {
      // Kept to the units that can still end: the list's (read again) and the running ones.
      this.known.clear();
      this.listMtime = -1;
      this.listChecked = 0;
      for (const c of this.open()) this.known.add(c.name);
    }
    this.known.add(unit);
    // Asked only when the stream has shown the invocation neither running nor ended (its unit's
    // signals skipped, or serve connected in the middle of it).
    if (this.connected && !this.started.has(invocationId) && !this.held.has(invocationId)) {
      const c = this.tagger.containers.findByRuntimeId(invocationId);
      if (c) this.lookUp(c);
    }
  }

  private call(c: { path: string; interface: string; member: string; args?: string[] }, then: (m: DbusMessage) => void): void {
    if (!this.socket) return;
    this.serial = (this.serial % 0x7fffffff) + 1;
    this.calls.set(this.serial, then);
    this.socket.write(marshalCall(this.serial, { ...c, destination: 'org.freedesktop.systemd1' }));
  }

  private onMessage(msg: DbusMessage): void {
    if (msg.type === MessageType.MethodReturn || msg.type === MessageType.Error) {
      const then = msg.replySerial !== undefined ? this.calls.get(msg.replySerial) : undefined;
      if (msg.replySerial !== undefined) this.calls.delete(msg.replySerial);
      then?.(msg);
      return;
    }
    if (msg.type !== MessageType.Signal || msg.member !== 'PropertiesChanged' || !msg.path) return;
    const unit = unitOfObjectPath(msg.path);
    const [iface, props] = msg.body;
    if (!unit || !(props instanceof Map)) return;
    if (iface === SERVICE_IFACE) {
      this.exits.set(unit, { result: str(props.get('Result')), code: int(props.get('ExecMainCode')), status: int(props.get('ExecMainStatus')) });
      return;
    }
    if (iface !== UNIT_IFACE) return;
    const id = hex(props.get('InvocationID'));
    const state = str(props.get('ActiveState'));
    if (!id || !state) return;
    this.remember(id);
    if (!ended(state, str(props.get('SubState')))) {
      this.started.set(id, unit);
      return;
    }
    if (this.started.get(id) !== unit) return;
    this.started.delete(id);
    this.ended(id, unit, endReason(this.exits.get(unit) ?? {}));
  }

  private remember(id: string): void {
    if (this.shown.size >= SHOWN_MAX) this.shown.clear();
    this.shown.add(id);
  }

  /** At each (re)connect: every running systemd container's unit, as systemd has it now. */
  private catchUp(): void {
    for (const c of this.open()) {
      this.known.add(c.name);
      this.lookUp(c);
    }
  }

  /** systemd containers not ended: running ones, and units recorded untagged under the id PID 1 runs (spooled.ts). */
  private open(): ContainerRecord[] {
    return [...this.tagger.containers.list({ state: 'running', orchestrator: ORCHESTRATOR }), ...this.tagger.containers.list({ state: 'untagged', orchestrator: ORCHESTRATOR })];
  }

  /**
   * A container whose unit PID 1 runs under another invocation, while the process it was bound
   * with still runs in that unit: not an end — its line's $INVOCATION_ID came from the unit's
   * environment, which systemd lets the unit set (outside attack 17, F4). The line is refused
   * when the unit's cgroup tells its real id (spooled.ts); this covers a cgroup that could not
   * be read. The container is kept, and ended when PID 1 ends the invocation it really is.
   */
  private stillRunsIn(c: ContainerRecord): boolean {
    const pid = c.initPid;
    const cgroup = c.labels['systemd.cgroup'];
    if (pid === null || c.initStart === null || !cgroup || processStartTime(pid, this.tagger.procRoot) !== c.initStart) return false;
    try {
      checkUnitProcess(pid, { invocationId: c.runtimeId ?? '', unit: c.name, cgroup }, this.tagger.procRoot);
      return true;
    } catch {
      return false;
    }
  }

  /** One container's unit, as systemd has it now: ended when it no longer runs that invocation. */
  private lookUp(c: ContainerRecord): void {
    const id = c.runtimeId;
    if (!id) return;
    this.call({ ...MANAGER, member: 'GetUnit', args: [c.name] }, (m) => {
      // Not loaded any more: long ended. Another error (none expected from root) decides nothing.
      if (m.type === MessageType.Error) return m.errorName === 'org.freedesktop.systemd1.NoSuchUnit' ? this.ended(id, c.name, 'found stopped by contid serve') : undefined;
      const path = m.body[0];
      if (typeof path !== 'string') return;
      this.call({ path, interface: 'org.freedesktop.DBus.Properties', member: 'GetAll', args: [UNIT_IFACE] }, (u) => {
        const props = u.body[0];
        if (u.type === MessageType.Error || !(props instanceof Map)) return;
        const now = hex(props.get('InvocationID'));
        const state = str(props.get('ActiveState'));
        if (now !== id) {
          if (now && !ended(state, str(props.get('SubState'))) && this.stillRunsIn(c)) return this.follow(now, id, c.name);
          return this.ended(id, c.name, 'found stopped by contid serve');
        }
        // Its container exists, so its lines ran: inactive now is its end, not its start.
        if (!ended(state, str(props.get('SubState')))) return void this.started.set(id, c.name);
        this.call({ path, interface: 'org.freedesktop.DBus.Properties', member: 'GetAll', args: [SERVICE_IFACE] }, (sv) => {
          const p = sv.body[0];
          this.ended(id, c.name, endReason(p instanceof Map ? { result: str(p.get('Result')), code: int(p.get('ExecMainCode')), status: int(p.get('ExecMainStatus')) } : {}));
        });
      });
    });
  }


  /** A container bound under the wrong id: its end is that of the invocation PID 1 runs (`real`). */
  private follow(real: string, claimed: string, unit: string): void {
    this.log(`systemd: ${escapeText(unit)} runs invocation ${real}, not ${claimed} as its line said ($INVOCATION_ID set by the unit?); its container ends with ${real}`);
    if (this.aliases.size >= SHOWN_MAX) this.aliases.clear();
    this.aliases.set(real, claimed);
    this.started.set(real, unit);
  }

  /** An invocation's end: applied once no entry of it waits in the spool. */
  private ended(id: string, unit: string, reason: string): void {
    this.held.set(id, { unit, reason });
    this.applyHeld();
  }

  private applyHeld(): void {
    if (this.heldTimer) clearTimeout(this.heldTimer);
    this.heldTimer = null;
    if (!this.held.size) return;
    const waiting = this.spool.waitingIds();
    for (const [id, { unit, reason }] of [...this.held]) if (!waiting.has(id)) this.apply(id, unit, reason);
    if (this.held.size) {
      this.heldTimer = setTimeout(() => this.applyHeld(), HELD_RECHECK_MS);
      this.heldTimer.unref();
    }
  }

  private apply(id: string, unit: string, reason: string): void {
    this.held.delete(id);
    const alias = this.aliases.get(id);
    if (alias) this.aliases.delete(id);
    const c = this.tagger.containers.findByRuntimeId(id) ?? (alias ? this.tagger.containers.findByRuntimeId(alias) : undefined);
    // Another unit's invocation id (a unit's own Environment= can name any) is never ended here.
    if (!c || c.orchestrator !== ORCHESTRATOR || c.name !== unit || c.state === 'ended') return;
    try {
      this.tagger.end(c.contid, reason);
      this.log(`end ${id} -> contid ${formatContainerId(c.contid)}`);
    } catch (e) {
      this.log(`cannot record the end of ${escapeText(unit)} invocation ${id}: ${escapeText((e as Error).message)}`);
    }
  }
}

/** The follower contid serve runs (null outside serve): the spool's binder asks it before a new invocation. */
let running: SystemdEndFollower | null = null;

export function activeEndFollower(): SystemdEndFollower | null {
  return running;
}

export function setActiveEndFollower(f: SystemdEndFollower | null): void {
  running = f;
}
