import { dirname } from 'node:path';
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import type { Socket } from 'node:net';
import { ContainerId, ContainerRecord, Tagger, escapeText, formatContainerId, processStartTime, readSessionId } from '@contid/core';
import { ORCHESTRATOR } from './start';
import { DEFAULT_LXC_PATH } from './lxc-tools';
import { removeInstanceRecordOf } from './instance-record';
import { MonitorConnection, connectMonitor, monitorSocketName, squatters } from './monitor-socket';
import { isMonitorProcess } from './monitor-process';
import { recordSpooledInit } from './spooled-hook';
import { ownStartMonitorFile, removeStaleMonitorFile, removeStaleMonitorFiles } from './own-start-file';

/** How often the rows nobody follows yet are looked for, and a followed init without a reachable monitor is checked (ms). */
const SWEEP_MS = 5_000;
/** After the monitor's socket closes: how soon to look whether the monitor process is gone or listens again (ms, doubling). */
const REOPEN_FIRST_MS = 5;
const REOPEN_MAX_MS = 1_000;
/** After a reboot of a start contid lxc start recorded itself: how long the new init is looked for (ms). */
const REBOOT_INIT_WAIT_MS = 60_000;

/** A monitor process: pid and start time (a pid reused since is not it). */
interface MonitorProcess {
  pid: number;
  start: number;
}

/**
 * The monitor a row is followed through: its connection, and the monitor process — the parent
 * of the init the hook recorded (LXC clones the init from the monitor), or for a row no hook
 * recorded, the root process titled `[lxc monitor] LXCPATH NAME` in the row's session. The
 * socket's SO_PEERCRED names the process that listened, which for a daemonized start is the
 * lxc-start that left at once, so the monitor is known from the process tree and checked to
 * hold the listener (monitor-socket.ts).
 */
interface Followed {
  socket: Socket;
  monitor: MonitorProcess;
}

/**
 * `contid serve`'s LXC ends: one hook (start-host) per start instead of two, because LXC's
 * post-stop hook cost every stop a fork, two execs and a spool entry. Each open LXC row is
 * followed by a connection to its container's monitor, which closes when the monitor exits —
 * after the init and everything in the container are gone, never at a reboot (the monitor and
 * its session go on). Where no monitor answers (another network namespace), the row's init is
 * checked every few seconds instead. A row whose init is gone when it is first looked at ends
 * at once. Rows opened behind serve's back (`contid lxc attach` drains the spool itself when it
 * hands over to Node) are picked up by a sweep every few seconds.
 */
export class LxcEndWatcher {
  private readonly followed = new Map<ContainerId, Followed | 'polled' | 'reopening'>();
  private tagger: Tagger | null = null;
  private log: (line: string) => void = () => undefined;
  private waiting: () => readonly string[] = () => [];
  private timer: NodeJS.Timeout | null = null;
  /** Rows (and peers) whose refused monitor socket was logged: one line each, not one per look. */
  private readonly refusalsLogged = new Set<string>();

  /**
   * Follows every open LXC row from now on (contid serve, after its first drain). `waiting`:
   * the names of the spool's pending entries (SESSION-OP-PID.entry) — an instance whose init
   * entry waits is the consumer's to record first, so its end waits for it.
   */
  start(tagger: Tagger, log: (line: string) => void, waiting: () => readonly string[]): void {
    this.tagger = tagger;
    this.log = log;
    this.waiting = waiting;
    this.sweep();
    this.timer = setInterval(() => this.sweep(), SWEEP_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    for (const f of this.followed.values()) if (typeof f === 'object') f.socket.destroy();
    this.followed.clear();
    this.refusalsLogged.clear();
    this.tagger = null;
  }

  /** A row the spool just opened or updated (an init entry): followed at once when serve runs. */
  follow(contid: ContainerId): void {
    const row = this.tagger?.containers.get(contid);
    if (!row) return;
    // Looked at before the hook's init was recorded: now its monitor can be known.
    if (this.followed.get(contid) === 'polled') this.followed.delete(contid);
    this.followRow(row);
  }

  private sweep(): void {
    const tagger = this.tagger;
    if (!tagger) return;
    // Monitor files whose monitor was killed (LXC removes the file only on a normal exit) —
    // while serve was down, or of rows another command ended: one directory listing a sweep.
    removeStaleMonitorFiles(tagger.stateDir, tagger.procRoot);
    for (const state of ['running', 'untagged'] as const) {
      for (const row of tagger.containers.list({ state, orchestrator: ORCHESTRATOR })) this.followRow(row);
    }
    // A followed init without a monitor to tell its end: looked at again on each sweep (its
    // monitor may answer now: the row was opened before LXC started it).
    for (const [contid, how] of [...this.followed]) {
      if (how !== 'polled') continue;
      this.followed.delete(contid);
      const row = tagger.containers.get(contid);
      if (row) this.followRow(row);
    }
  }

  private followRow(row: ContainerRecord): void {
    if (!this.tagger || row.state === 'ended' || this.followed.has(row.contid) || row.runtimeId === null) return;
    const procRoot = this.tagger.procRoot;
    const hooked = hookRecordedInit(row);
    // A start contid lxc start recorded itself that rebooted while serve was down: no hook told
    // the new init, its monitor does.
    if (hooked && !initRuns(row, procRoot)) row = this.relearnInit(row) ?? row;
    if (!hooked && initRuns(row, procRoot)) {
      // Its start is under way (the row still names the wrapper, which runs): the hook's init
      // entry names the monitor; looked at again then, or on the next sweep.
      this.followed.set(row.contid, 'polled');
      return;
    }
    // The init the hook recorded is gone (this row missed its end while serve was down): no
    // monitor of its own, and a monitor answering under the name is a later instance's. Looked
    // at only when a row is first followed (at a reboot the old init is gone for a moment).
    const monitor = hooked ? monitorProcess(row, procRoot) : monitorByTitle(lxcPathOf(row), row.runtimeId!, row.session, procRoot);
    const socket = monitor && this.connect(row, monitor);
    if (!monitor) this.logSquatters(row);
    if (monitor && socket) {
      this.watch(row.contid, { socket, monitor });
    } else if (initRuns(row, procRoot)) {
      this.followed.set(row.contid, 'polled');
    } else {
      this.end(row, 'found stopped by contid serve');
    }
  }

  /**
   * A connection to the row's container's monitor MONITOR, when it answers and is that monitor.
   * Anything else under the name (someone's squatting listener) is closed and logged once.
   */
  private connect(row: ContainerRecord, monitor: MonitorProcess): Socket | null {
    const lxcPath = lxcPathOf(row);
    const c = connectMonitor(lxcPath, row.runtimeId!, monitor.pid);
    if (c.kind === 'monitor') return c.socket;
    if (c.kind !== 'none') this.logRefusal(row, lxcPath, c);
    return null;
  }

  /** Without a monitor nothing is connected to; whoever listens under its name is named once. */
  private logSquatters(row: ContainerRecord): void {
    const lxcPath = lxcPathOf(row);
    for (const peer of squatters(lxcPath, row.runtimeId!, this.tagger!.procRoot)) {
      this.logRefusal(row, lxcPath, { kind: 'refused', peer, why: `it has no monitor, so whatever listens under its name is not one (not connected to)` });
    }
  }

  private logRefusal(row: ContainerRecord, lxcPath: string, c: Exclude<MonitorConnection, { kind: 'monitor' | 'none' }>): void {
    const key = `${row.contid}:${c.kind === 'refused' ? (c.peer?.pid ?? '?') : 'busy'}`;
    if (this.refusalsLogged.has(key)) return;
    this.refusalsLogged.add(key);
    const what = `the monitor socket @${escapeText(monitorSocketName(lxcPath, row.runtimeId!))} of LXC container ${escapeText(row.runtimeId!)} ${formatContainerId(row.contid)}`;
    const peer = c.kind === 'busy' ? 'takes no connection (a full backlog)' : c.peer ? `is held by pid ${c.peer.pid} uid ${c.peer.uid}: ${escapeText(c.why)}` : escapeText(c.why);
    this.log(`refused ${what}: ${peer}; its end is told by its init and monitor processes instead`);
  }

  private watch(contid: ContainerId, monitor: Followed): void {
    this.followed.set(contid, monitor);
    monitor.socket.once('close', () => {
      if (this.followed.get(contid) !== monitor) return; // no longer followed (serve stops)
      this.followed.set(contid, 'reopening');
      this.afterClose(contid, monitor, REOPEN_FIRST_MS);
    });
  }

  /**
   * The monitor closes its socket when the container stops, and also at a reboot, when it
   * starts the container again in the same process and session and listens anew: the row
   * ends once the monitor process is gone; while it lives, its new socket is followed (and
   * checked again: in the reboot's window anybody can take the name).
   */
  private afterClose(contid: ContainerId, closed: Followed, waitMs: number): void {
    const tagger = this.tagger;
    if (!tagger || this.followed.get(contid) !== 'reopening') return;
    const row = tagger.containers.get(contid);
    if (!row || row.state === 'ended') {
      this.followed.delete(contid);
      return;
    }
    const monitor = closed.monitor;
    if (!monitorLives(monitor, tagger.procRoot)) return this.end(row, 'stopped');
    const again = this.connect(row, monitor);
    // The same monitor process lives and the name answers again: the container rebooted.
    if (again) {
      this.watch(contid, { socket: again, monitor });
      return this.afterReboot(contid, row, REOPEN_FIRST_MS, this.now());
    }
    const timer = setTimeout(() => this.afterClose(contid, closed, Math.min(waitMs * 2, REOPEN_MAX_MS)), waitMs);
    timer.unref();
  }

  /**
   * A start contid lxc start recorded itself runs no start-host hook at a reboot either (the
   * definition that cleared the hook list is the monitor's for its whole life): its new init,
   * cloned once the monitor listens again, is looked for until it is there, the monitor closes
   * again, or a minute passed. Rows a hook recorded get their new init from the hook's entry.
   */
  private afterReboot(contid: ContainerId, before: ContainerRecord, waitMs: number, since: number): void {
    const tagger = this.tagger;
    if (!tagger || typeof this.followed.get(contid) !== 'object') return;
    const row = tagger.containers.get(contid);
    if (!row || row.state === 'ended' || row.initPid !== before.initPid || row.initStart !== before.initStart) return;
    if (!ownStart(row, tagger.stateDir)) return;
    if (this.relearnInit(row) || this.now() - since > REBOOT_INIT_WAIT_MS) return;
    const timer = setTimeout(() => this.afterReboot(contid, before, Math.min(waitMs * 2, REOPEN_MAX_MS), since), waitMs);
    timer.unref();
  }

  /** The row's new init, recorded (op=update, instance record) when its own start's monitor has one; else null. */
  private relearnInit(row: ContainerRecord): ContainerRecord | null {
    const tagger = this.tagger!;
    const init = initOfOwnStart(row, tagger.stateDir, tagger.procRoot);
    if (!init || (init.pid === row.initPid && init.start === row.initStart)) return null;
    const fields = {
      pid: String(init.pid),
      'init-session': String(row.session),
      'init-start': String(init.start),
      config: row.labels['lxc.config'] ?? '',
      rootfs: row.labels['lxc.rootfs'] ?? '',
    };
    try {
      const outcome = recordSpooledInit({ id: row.runtimeId!, fields }, tagger);
      this.log(`init ${escapeText(row.runtimeId!)} -> contid ${formatContainerId(outcome.contid)} (after a reboot, from its monitor)`);
      return tagger.containers.get(outcome.contid) ?? null;
    } catch (e) {
      this.log(`cannot record the new init of LXC container ${escapeText(row.runtimeId!)} ${formatContainerId(row.contid)}: ${escapeText((e as Error).message)}`);
      return null;
    }
  }

  private now(): number {
    return Date.now();
  }

  private end(row: ContainerRecord, reason: string): void {
    this.followed.delete(row.contid);
    if (!this.tagger || row.state === 'ended') return;
    // An entry of its session (its init) still waits: looked at again on the next sweep.
    if (row.session !== null && this.waiting().some((n) => n.startsWith(`${row.session}-`))) {
      this.followed.set(row.contid, 'polled');
      return;
    }
    try {
      this.tagger.end(row.contid, reason);
      removeInstanceRecordOf(this.tagger.stateDir, row.runtimeId!, row.contid);
      if (row.session !== null) removeStaleMonitorFile(this.tagger.stateDir, row.session, this.tagger.procRoot);
      this.log(`end ${escapeText(row.runtimeId!)} ${formatContainerId(row.contid)} (${reason})`);
    } catch (e) {
      this.log(`cannot record the end of LXC container ${escapeText(row.runtimeId!)} ${formatContainerId(row.contid)}: ${escapeText((e as Error).message)}`);
    }
  }
}

/** The lxcpath the row's start-host hook named (LXC_CONFIG_FILE = LXCPATH/NAME/config), else LXC's default. */
function lxcPathOf(row: ContainerRecord): string {
  const config = row.labels['lxc.config'];
  return config && config === `${dirname(dirname(config))}/${row.runtimeId}/config` ? dirname(dirname(config)) : DEFAULT_LXC_PATH;
}

/** The monitor process of the row's container: the parent of its running init the hook recorded, in the row's session. */
function monitorProcess(row: ContainerRecord, procRoot: string): MonitorProcess | null {
  if (!hookRecordedInit(row) || !initRuns(row, procRoot)) return null;
  let pid: number;
  try {
    // Field 4 of stat; the fields after the command name's closing parenthesis start at 3.
    pid = Number(readFileSync(`${procRoot}/${row.initPid}/stat`, 'utf8').split(') ').pop()!.split(' ')[1]);
  } catch {
    return null;
  }
  const start = processStartTime(pid, procRoot);
  if (start === null) return null;
  try {
    if (row.session !== null && readSessionId(pid, procRoot) !== row.session) return null;
  } catch {
    return null;
  }
  return { pid, start };
}

/**
 * The monitor process still runs: same pid and start time, and not a zombie — the monitor's
 * parent is whatever it was reparented to after lxc-start daemonized (init, a subreaper), which
 * may reap it late (this VM's init: for seconds), and an exited monitor is the container's end.
 */
function monitorLives(monitor: MonitorProcess, procRoot: string): boolean {
  let stat: string;
  try {
    stat = readFileSync(`${procRoot}/${monitor.pid}/stat`, 'latin1');
  } catch {
    return false;
  }
  // Fields after the command name's closing parenthesis: state (3) first, start time (22).
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return fields[0] !== 'Z' && fields[0] !== 'X' && Number(fields[22 - 3]) === monitor.start;
}

/**
 * The monitor of a row no hook recorded (started through the Node command without contid's
 * hook): the root process LXC titled `[lxc monitor] LXCPATH NAME`, in the row's session. A walk
 * of /proc, so only for such rows, once each.
 */
function monitorByTitle(lxcPath: string, name: string, session: number | null, procRoot: string): MonitorProcess | null {
  for (const entry of readdirSync(procRoot)) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (!isMonitorProcess(pid, lxcPath, name, procRoot)) continue;
    const start = processStartTime(pid, procRoot);
    try {
      if (start === null || (session !== null && readSessionId(pid, procRoot) !== session)) continue;
    } catch {
      continue;
    }
    return { pid, start };
  }
  return null;
}

/** The row's start was one contid lxc start recorded itself, and its monitor still runs (LXC removes the file when it exits). */
function ownStart(row: ContainerRecord, stateDir: string): boolean {
  if (row.session === null) return false;
  try {
    readFileSync(ownStartMonitorFile(stateDir, row.session));
    return true;
  } catch {
    return false;
  }
}

/**
 * The live init of a row whose start contid lxc start recorded itself (no start-host hook ran):
 * the monitor LXC named in STATE_DIR/lxc/.monitor-SESSION (root-only; written by LXC's
 * `lxc-start -p`) must be root's, titled for the row's container and in the row's session; the
 * init is its child in a pid namespace of its own, in that session. Anything else: null.
 */
function initOfOwnStart(row: ContainerRecord, stateDir: string, procRoot: string): { pid: number; start: number } | null {
  if (row.session === null || row.runtimeId === null) return null;
  try {
    const monitor = Number(readFileSync(ownStartMonitorFile(stateDir, row.session), 'utf8').trim());
    if (!Number.isSafeInteger(monitor) || monitor <= 1) return null;
    if (!isMonitorProcess(monitor, lxcPathOf(row), row.runtimeId, procRoot) || readSessionId(monitor, procRoot) !== row.session) return null;
    const monitorNs = readlinkSync(`${procRoot}/${monitor}/ns/pid`);
    for (const kid of readFileSync(`${procRoot}/${monitor}/task/${monitor}/children`, 'utf8').split(' ')) {
      if (!/^\d+$/.test(kid)) continue;
      try {
        if (readlinkSync(`${procRoot}/${kid}/ns/pid`) === monitorNs || readSessionId(Number(kid), procRoot) !== row.session) continue;
      } catch {
        continue; // exited meanwhile
      }
      const start = processStartTime(Number(kid), procRoot);
      if (start !== null) return { pid: Number(kid), start };
    }
  } catch {
    return null;
  }
  return null;
}

/** The start-host hook recorded the row's init (its labels); before that, the row names the wrapper. */
const hookRecordedInit = (row: ContainerRecord): boolean => row.labels['lxc.config'] !== undefined;

/** The row's init still runs: its pid, with the start time recorded (not a reused pid). */
function initRuns(row: ContainerRecord, procRoot: string): boolean {
  if (row.initPid === null) return false;
  const start = processStartTime(row.initPid, procRoot);
  return start !== null && (row.initStart === null || start === row.initStart);
}
