import type { CommandModule } from 'yargs';
import { existsSync, mkdirSync, readFileSync, rmdirSync, readdirSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { AUDIT_UNSET, ContidError, Tagger, formatContainerId, readSessionId } from '@contid/core';
import {
  DROP_IN_MARKER,
  GENERATOR_PATH,
  UNITS_FILE,
  bindInvocation,
  generatorLauncher,
  ownFragments,
  readUnitList,
  writeUnitList,
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
import type { UnitCommands } from '@contid/systemd';
import { warn } from '../output';
import type { Installer } from '@contid/oci';

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
      const current = tagger.containers.findByRuntimeId(inv.invocationId);
      const procfs = tagger.writePathFor(pid) === 'procfs';
      const session = procfs ? null : awaitSession(pid, tagger.procRoot);
      // The main process already runs in a session of this invocation's container (exec
      // --systemd wrapped the line that started it; a forking daemon inherited it): record it
      // as the container's init (pid and start time), bind nothing new.
      if (current?.state === 'running' && session !== null && tagger.boundSessions(current).includes(session)) {
        tagger.recordInit(current.contid, pid);
        process.stdout.write(`${inv.unit}: main pid ${pid} runs in ${formatContainerId(current.contid)}; recorded as its init\n`);
        return;
      }
      // An earlier bind of this invocation already bound this pid (procfs: no session to compare).
      if (current?.state === 'running' && tagger.containers.bindings(current.contid).some((b) => b.pid === pid && b.session === session)) {
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

/**
 * How units run this contid: absolute paths, and the registry the installer used. Node's
 * command line for what only it does, and contid-systemd (sh, beside this contid's
 * integrations) for every other line, which hands over to that Node command line.
 */
function unitCommands(): UnitCommands {
  const stateDir = process.env.CONTID_STATE_DIR;
  const registry = stateDir ? ['--state-dir', resolve(stateDir)] : [];
  const node = [process.execPath, resolve(__dirname, '..', 'main.js')];
  const line = (words: string[]) => words.map(unitWord).join(' ');
  return { contid: line([...node, ...registry]), wrapper: line([WRAPPER, ...registry, '--cli', ...node]) };
}

/** contid-systemd as this contid ships it. */
const WRAPPER = resolve(__dirname, '../../../../integrations/bin/contid-systemd');

const DAEMON_RELOAD = 'run `systemctl daemon-reload` for systemd to see it';

function oneUnit(args: string[]): string {
  if (args.length !== 1) throw new ContidError('name one unit: contid install systemd UNIT (e.g. web.service, systemd-nspawn@.service)', 2);
  return normalizeUnitName(args[0]);
}

/** An earlier contid's static drop-in (a frozen copy of ExecStart=): the generator replaces it. */
function removeStaticDropIn(unit: string): string[] {
  const path = dropInPath(unit);
  if (!existsSync(path) || !readFileSync(path, 'utf8').startsWith(DROP_IN_MARKER)) return [];
  unlinkSync(path);
  if (readdirSync(dirname(path)).length === 0) rmdirSync(dirname(path));
  return [`removed the static ${path}`];
}

/**
 * `contid install systemd UNIT`: lists UNIT for contid's systemd generator, which writes its
 * drop-in from the unit's current Exec lines at every boot and daemon-reload. The unit is
 * rendered once now, so what cannot be wrapped is refused here, in one line.
 */
export const systemdInstaller: Installer = {
  describe: "systemd UNIT: every Exec line in the invocation's container, through contid's generator (drop-ins never stale)",
  install(args) {
    const unit = oneUnit(args);
    const commands = unitCommands();
    renderDropIn(unit, ownFragments(readUnit(unit)), commands, []);
    const launcher = generatorLauncher(process.execPath, commands);
    if (existsSync(GENERATOR_PATH) && !readFileSync(GENERATOR_PATH, 'utf8').includes(DROP_IN_MARKER)) {
      throw new ContidError(`${GENERATOR_PATH} was not written by contid; leaving it`);
    }
    const units = readUnitList();
    const fresh = !units.includes(unit) || !existsSync(GENERATOR_PATH) || readFileSync(GENERATOR_PATH, 'utf8') !== launcher;
    mkdirSync(dirname(GENERATOR_PATH), { recursive: true });
    writeFileSync(GENERATOR_PATH, launcher, { mode: 0o755 });
    if (!units.includes(unit)) writeUnitList([...units, unit]);
    const notes = removeStaticDropIn(unit);
    if (!fresh && notes.length === 0) return `${unit} is up to date (${UNITS_FILE})`;
    return [...notes, `enabled ${unit} for ${GENERATOR_PATH} (${UNITS_FILE}); ${DAEMON_RELOAD}`].join('\n');
  },
  uninstall(args) {
    const unit = oneUnit(args);
    const notes = removeStaticDropIn(unit);
    const units = readUnitList();
    if (!units.includes(unit)) return [...notes, `${unit} is not installed`].join('\n');
    const rest = units.filter((u) => u !== unit);
    if (rest.length) writeUnitList(rest);
    else {
      unlinkSync(UNITS_FILE);
      if (existsSync(GENERATOR_PATH) && readFileSync(GENERATOR_PATH, 'utf8').includes(DROP_IN_MARKER)) unlinkSync(GENERATOR_PATH);
    }
    return [...notes, `removed ${unit} from ${UNITS_FILE}${rest.length ? '' : ` and ${GENERATOR_PATH}`}; ${DAEMON_RELOAD}`].join('\n');
  },
};
