import { existsSync, readFileSync, readdirSync, rmdirSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ContidError, DEFAULT_STATE_DIR, makeDirectory } from '@contid/core';
import type { InstallContext, Installer } from '@contid/oci';
import { DROP_IN_MARKER, type UnitCommands, dropInPath, renderDropIn, unitWord } from './drop-in';
import { GENERATOR_PATH, UNITS_FILE, generatorLauncher, ownFragments, readUnitList, writeUnitList } from './generator';
import { STATIC_BUSYBOX, notStaticRootExecutable } from './static-exec';
import { normalizeUnitName, readUnit } from './unit-file';

/**
 * How units run this contid: contid-systemd (sh, in this contid's integrations) for every line,
 * with absolute paths, the registry the installer used, and the Node command line it hands
 * over to for what it cannot vouch for.
 */
function unitCommands(context: InstallContext): UnitCommands {
  // Always named: a unit's own Environment= must not choose where its lines are spooled.
  const registry = ['--state-dir', context.stateDir ?? DEFAULT_STATE_DIR];
  const wrapper = join(context.integrations, 'bin', 'contid-systemd');
  const line = (words: readonly string[]) => words.map(unitWord).join(' ');
  return { wrapper: line([wrapper, ...registry, '--cli', ...context.cli]), busybox: staticBusybox() };
}

/** contid's own root lines start through a static busybox (drop-in.ts bindLine); without one, nothing is installed. */
export function staticBusybox(): string {
  const why = notStaticRootExecutable(STATIC_BUSYBOX);
  if (why) throw new ContidError(`contid's root lines of a unit start through a static busybox, without the unit's environment: ${why}; install busybox-static (Debian, Ubuntu) first`);
  return STATIC_BUSYBOX;
}

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
  install(args, context) {
    const unit = oneUnit(args);
    const commands = unitCommands(context);
    renderDropIn(unit, ownFragments(readUnit(unit)), commands, []);
    const launcher = generatorLauncher(context.cli[0], commands);
    if (existsSync(GENERATOR_PATH) && !readFileSync(GENERATOR_PATH, 'utf8').includes(DROP_IN_MARKER)) {
      throw new ContidError(`${GENERATOR_PATH} was not written by contid; leaving it`);
    }
    const units = readUnitList();
    const fresh = !units.includes(unit) || !existsSync(GENERATOR_PATH) || readFileSync(GENERATOR_PATH, 'utf8') !== launcher;
    makeDirectory(dirname(GENERATOR_PATH));
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
