import { ContidError } from '@contid/core';
import { UnitFragment, effectiveList, settings } from './unit-file';

export const DROP_IN_NAME = 'contid.conf';
export const DROP_IN_MARKER = '# installed by contid install systemd';

export const dropInPath = (unit: string, root = '/etc/systemd/system'): string => `${root}/${unit}.d/${DROP_IN_NAME}`;

/** systemd's ExecStart= prefixes (systemd.service(5) "Command lines"), kept in front of the wrapper. */
const PREFIX = /^[-@:+!]*/;

/**
 * Settings under which the main process cannot write the audit record or the registry
 * itself (another user, no CAP_AUDIT_*, no audit netlink outside the host network namespace).
 */
const CONFINING: [string, (v: string) => boolean][] = [
  ['User', (v) => v !== '' && v !== 'root' && v !== '0'],
  ['DynamicUser', truthy],
  ['PrivateNetwork', truthy],
  ['PrivateUsers', truthy],
  ['NetworkNamespacePath', (v) => v !== ''],
  ['RestrictAddressFamilies', (v) => v !== ''],
  ['CapabilityBoundingSet', (v) => v !== ''],
];

function truthy(v: string): boolean {
  return ['1', 'yes', 'true', 'on'].includes(v.toLowerCase());
}

/** The confining settings a unit has, e.g. ["User=www-data"]. */
export function confinement(fragments: UnitFragment[]): string[] {
  return CONFINING.flatMap(([key, confines]) => {
    const last = settings(fragments, 'Service', key).pop();
    return last && confines(last.value) ? [`${key}=${last.value}`] : [];
  });
}

/**
 * Every command line systemd runs for a service, in the order it runs them. ExecCondition=
 * is left alone: it runs before the invocation exists for contid, and fails a start on purpose.
 */
export const EXEC_KEYS = ['ExecStartPre', 'ExecStart', 'ExecStartPost', 'ExecReload', 'ExecStop', 'ExecStopPost'] as const;
export type ExecKey = (typeof EXEC_KEYS)[number];

/** The command lines a drop-in runs (absolute paths, words quoted for a unit file). */
export interface UnitCommands {
  /** contid-systemd (sh), every line's hot path, with its --cli hand-over to Node `contid` for what it cannot vouch for. */
  wrapper: string;
  /** A statically linked busybox (its `env` applet): the first program of contid's own `+` lines (STATIC_BUSYBOX). */
  busybox: string;
}

/** The PATH contid's own root lines run with: never the unit's. */
export const ROOT_PATH = '/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * The variables systemd gives contid's bind line, passed by name into a cleared environment
 * (systemd substitutes `${VAR}` in a command line, one word, empty when unset). The unit's own
 * Environment= can still set each of them (systemd merges it after its own): contid-systemd
 * bind checks $MAINPID against the unit's cgroup, serve checks $INVOCATION_ID against the unit
 * (docs/systemd.md).
 */
const PASSED = ['MAINPID', 'INVOCATION_ID'] as const;

/**
 * contid's own `+` line (bind): it runs as unconfined root, with the unit's environment,
 * which a confined unit's service user may write (its EnvironmentFile=, a directory of its own
 * in PATH=). So its first program is a static busybox — no dynamic loader, so no LD_PRELOAD,
 * LD_LIBRARY_PATH — whose `env -i` starts contid-systemd with only a fixed PATH and what
 * systemd passes (outside attack 14, F2).
 */
function bindLine({ wrapper, busybox }: UnitCommands): string {
  const passed = PASSED.map((name) => `${name}=\${${name}}`);
  return `ExecStartPost=+${busybox} env -i PATH=${ROOT_PATH} ${passed.join(' ')} ${wrapper} bind --unit %n`;
}

/** Wraps one command line in `through` (which ends before the command); refuses what cannot be wrapped, in one line. */
function wrapLine(unit: string, key: ExecKey, value: string, path: string, through: string): string {
  const prefix = PREFIX.exec(value)![0];
  const command = value.slice(prefix.length).trim();
  if (prefix.includes('@') || command.startsWith('@')) {
    throw new ContidError(`${unit}: ${key}= with "@" (own argv[0]) in ${path} cannot be wrapped; drop the "@" first`);
  }
  if (/(^|\/)contid(-systemd|-spawn|-lxc)?(\s|$)|\/cli\/dist\/main\.js\s/.test(command)) {
    throw new ContidError(`${unit} already runs through contid (${key}= in ${path}); leaving it`);
  }
  return `${key}=${prefix}${through} -- ${command}`;
}

/**
 * The drop-in that makes every start of UNIT a container: each Exec*= list is reset and each
 * of the unit's own command lines re-run through contid-systemd (sh, no Node), which renews
 * the line's own audit session and spools it; contid serve binds it to this invocation's
 * contid — the first line run creates the container, every later one (ExecStartPost=,
 * ExecReload=, ExecStop=, …) joins it as op=setns. No line ends it: contid serve learns the
 * end from PID 1 (end-follower.ts), which spares every stop a fork of PID 1 and two execs. A
 * Type=forking unit's main process is the daemon the ExecStart= line forks:
 * `ExecStartPost=+contid-systemd bind` records $MAINPID as its init. That `+` line starts through
 * a static busybox `env -i` (bindLine): none of the unit's environment reaches it.
 * A confined unit (User=, network sandboxing) cannot tag itself: its main process only renews
 * its session (`contid-systemd exec --renew-only`), the same `ExecStartPost=+contid-systemd bind`
 * (sh, outside the sandbox) spools $MAINPID's session for contid serve to bind, and its other
 * lines run as they are (only `+` lines are privileged).
 */
export function renderDropIn(unit: string, fragments: UnitFragment[], commands: UnitCommands, ownPaths: string | readonly string[] = dropInPath(unit)): string {
  const { wrapper } = commands;
  const mine = new Set(typeof ownPaths === 'string' ? [ownPaths] : ownPaths);
  const own = fragments.filter((f) => !mine.has(f.path));
  const lists = new Map(EXEC_KEYS.map((key) => [key, effectiveList(settings(own, 'Service', key))]));
  const starts = lists.get('ExecStart')!;
  if (starts.length === 0) throw new ContidError(`${unit} has no ExecStart= to wrap`);
  const confined = confinement(own);
  const type = settings(own, 'Service', 'Type').pop()?.value;
  if (confined.length && (starts.length > 1 || type === 'oneshot')) {
    throw new ContidError(`${unit} is a oneshot with ${confined.join(' ')}: it has no main process to bind from ExecStartPost=; use contid serve`);
  }
  const body: string[] = [];
  for (const key of EXEC_KEYS) {
    const entries = lists.get(key)!;
    // A confined unit's other lines run unprivileged (unless `+`): they cannot be tagged.
    const wrapped = entries.map(({ value, path }) => {
      const fast = `${wrapper} exec --unit %n`;
      if (!confined.length) return wrapLine(unit, key, value, path, fast);
      if (key === 'ExecStart') return wrapLine(unit, key, value, path, `${wrapper} exec --renew-only --unit %n`);
      return PREFIX.exec(value)![0].includes('+') ? wrapLine(unit, key, value, path, fast) : `${key}=${value}`;
    });
    // No ExecStopPost= line of contid's: contid serve learns the end from PID 1 (end-follower.ts).
    const extra = key === 'ExecStartPost' && (confined.length || type === 'forking') ? [bindLine(commands)] : [];
    if (entries.length || extra.length) body.push(`${key}=`, ...wrapped, ...extra);
  }
  return [
    `${DROP_IN_MARKER}: each start of ${unit.replace(/%/g, '%%')} runs in a fresh audit session bound to its own contid, every Exec line in it`,
    ...(confined.length ? [`# ${confined.join(' ')}: the main process only renews its session; ExecStartPost= binds it`] : []),
    '[Service]',
    ...body,
    '',
  ].join('\n');
}

/** Quotes one word for a unit file command line; `%` is a specifier there, so it is doubled. */
export function unitWord(word: string): string {
  const escaped = word.replace(/%/g, '%%');
  return /^[A-Za-z0-9_./@:=+-]+$/.test(escaped) ? escaped : `"${escaped.replace(/(["\\])/g, '\\$1')}"`;
}
