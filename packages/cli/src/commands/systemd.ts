import type { CommandModule } from 'yargs';
import { existsSync, mkdirSync, readFileSync, rmdirSync, readdirSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { AUDIT_UNSET, ContidError, ProcfsWritePath, Tagger, formatContainerId, readSessionId } from '@contid/core';
import {
  DROP_IN_MARKER,
  bindInvocation,
  currentInvocation,
  dropInPath,
  endInvocation,
  mainPidFromEnv,
  normalizeUnitName,
  readUnit,
  renderDropIn,
  stopReason,
  unitWord,
} from '@contid/systemd';
import { warn } from '../output';
import type { Installer } from './installers';

interface UnitArgs {
  unit?: string;
}

const unitOption = { type: 'string', describe: 'the unit (drop-ins pass %n; default: read from the cgroup)' } as const;

/** `ExecStartPost=+contid systemd bind`: binds $MAINPID where it already has a session of its own (PAMName=) or the kernel has procfs contid. */
const bind: CommandModule<object, UnitArgs> = {
  command: 'bind',
  describe: "ExecStartPost=: bind the unit's $MAINPID to this invocation's contid (needs PAMName= or a kernel with audit_containerid)",
  builder: (y) => y.option('unit', unitOption),
  handler: (argv) => {
    const inv = currentInvocation(process.env, argv.unit);
    const pid = mainPidFromEnv();
    const tagger = Tagger.open();
    try {
      const current = tagger.registry.findByRuntimeId(inv.invocationId);
      const procfs = tagger.config.writePath === 'procfs' || (tagger.config.writePath === 'auto' && ProcfsWritePath.supported(tagger.config.procRoot));
      const session = procfs ? null : awaitSession(pid, tagger.config.procRoot);
      // exec --systemd (same pid, same session) or an earlier bind of this invocation already did it.
      if (current?.state === 'running' && tagger.registry.bindings(current.contid).some((b) => b.pid === pid && b.session === session)) {
        process.stdout.write(`${inv.unit}: pid ${pid} is already bound to ${formatContainerId(current.contid)}\n`);
        return;
      }
      const { container, auditError } = bindInvocation(tagger, inv, { pid }, { mainPid: pid });
      if (auditError) warn(`FAIL-OPEN: ${inv.unit} runs untracked by the audit trail: ${auditError}`);
      process.stdout.write(`${inv.unit}: bound pid ${pid} to ${formatContainerId(container.contid)}\n`);
    } finally {
      tagger.close();
    }
  },
};

/**
 * Type=simple runs ExecStartPost= right after fork, while the main process may still be
 * opening its PAM session: give it a moment to leave the unset session.
 */
function awaitSession(pid: number, procRoot: string, ms = 5000): number | null {
  const deadline = Date.now() + ms;
  let session = sessionOf(pid, procRoot);
  while (session === AUDIT_UNSET && Date.now() < deadline) {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
    session = sessionOf(pid, procRoot);
  }
  return session;
}

function sessionOf(pid: number, procRoot: string): number | null {
  try {
    return readSessionId(pid, procRoot);
  } catch {
    return null;
  }
}

/** `ExecStopPost=+contid systemd end`: records the end of this invocation's container. */
const end: CommandModule<object, UnitArgs> = {
  command: 'end',
  describe: "ExecStopPost=: record the end of this invocation's container (reason from $SERVICE_RESULT, $EXIT_CODE, $EXIT_STATUS)",
  builder: (y) => y.option('unit', unitOption),
  handler: (argv) => {
    const inv = currentInvocation(process.env, argv.unit);
    const tagger = Tagger.open();
    try {
      const ended = endInvocation(tagger, inv, stopReason());
      // The main process may have failed before contid exec ran: nothing to end is not an error.
      if (!ended) process.stdout.write(`${inv.unit}: no container for invocation ${inv.invocationId}\n`);
      else process.stdout.write(`${inv.unit}: ended ${formatContainerId(ended.contid)}\n`);
    } finally {
      tagger.close();
    }
  },
};

export const systemdCommand: CommandModule<object, object> = {
  command: 'systemd <command>',
  describe: 'systemd units: bind (ExecStartPost=) and end (ExecStopPost=); ExecStart= uses contid exec --systemd',
  builder: (y) => y.command(bind).command(end).demandCommand(1),
  handler: () => {
    throw new ContidError('name a systemd command: bind, end', 2);
  },
};

/** How units run this contid: absolute paths, and the registry the installer used. */
function contidCommandLine(): string {
  const stateDir = process.env.CONTID_STATE_DIR;
  const words = [process.execPath, resolve(__dirname, '..', 'main.js'), ...(stateDir ? ['--state-dir', resolve(stateDir)] : [])];
  return words.map(unitWord).join(' ');
}

const DAEMON_RELOAD = 'run `systemctl daemon-reload` for systemd to see it';

function oneUnit(args: string[]): string {
  if (args.length !== 1) throw new ContidError('name one unit: contid install systemd UNIT (e.g. web.service, systemd-nspawn@.service)', 2);
  return normalizeUnitName(args[0]);
}

/** Refuses to touch a contid.conf that another installer (contid install lxc) or a person wrote. */
function assertOurs(path: string): void {
  if (existsSync(path) && !readFileSync(path, 'utf8').startsWith(DROP_IN_MARKER)) {
    throw new ContidError(`${path} was not written by contid install systemd (contid install lxc writes the same file); leaving it`);
  }
}

/** `contid install systemd UNIT`: the ExecStart=/ExecStopPost= drop-in; idempotent. */
export const systemdInstaller: Installer = {
  describe: 'systemd drop-in for UNIT: ExecStart= through contid exec --systemd, ExecStopPost= end',
  install(args) {
    const unit = oneUnit(args);
    const path = dropInPath(unit);
    assertOurs(path);
    const text = renderDropIn(unit, readUnit(unit), contidCommandLine(), path);
    if (existsSync(path) && readFileSync(path, 'utf8') === text) return `${path} is up to date`;
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, text);
    return `wrote ${path}; ${DAEMON_RELOAD}`;
  },
  uninstall(args) {
    const unit = oneUnit(args);
    const path = dropInPath(unit);
    if (!existsSync(path)) return `${path} is not installed`;
    assertOurs(path);
    unlinkSync(path);
    if (readdirSync(dirname(path)).length === 0) rmdirSync(dirname(path));
    return `removed ${path}; ${DAEMON_RELOAD}`;
  },
};
