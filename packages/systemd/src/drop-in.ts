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
 * The drop-in that makes every start of UNIT a container: ExecStart= is reset and each of the
 * unit's own command lines re-run through `contid exec --systemd`, which renews the main
 * process's own audit session (it is the ancestor of everything the unit runs) and binds it
 * to this invocation's contid; ExecStopPost= records the end (with `+`, so it has the
 * privilege even under User=). A confined unit (User=, network sandboxing) cannot tag
 * itself: its main process only renews its session (`--renew-only`) and
 * `ExecStartPost=+contid systemd bind` binds $MAINPID from outside the sandbox.
 * `contid` is the command line that runs contid (absolute paths).
 */
export function renderDropIn(unit: string, fragments: UnitFragment[], contid: string, ownPath = dropInPath(unit)): string {
  const own = fragments.filter((f) => f.path !== ownPath);
  const starts = effectiveList(settings(own, 'Service', 'ExecStart'));
  if (starts.length === 0) throw new ContidError(`${unit} has no ExecStart= to wrap`);
  const confined = confinement(own);
  if (confined.length && (starts.length > 1 || settings(own, 'Service', 'Type').pop()?.value === 'oneshot')) {
    throw new ContidError(`${unit} is a oneshot with ${confined.join(' ')}: it has no main process to bind from ExecStartPost=; use contid serve`);
  }
  const mode = confined.length ? '--renew-only ' : '';
  const lines = starts.map(({ value, path }) => {
    const prefix = PREFIX.exec(value)![0];
    const command = value.slice(prefix.length).trim();
    if (prefix.includes('@') || command.startsWith('@')) {
      throw new ContidError(`${unit}: ExecStart= with "@" (own argv[0]) in ${path} cannot be wrapped; drop the "@" first`);
    }
    if (/(^|\/)contid(\s|$)|\/cli\/dist\/main\.js\s/.test(command)) {
      throw new ContidError(`${unit} already runs through contid (ExecStart= in ${path}); leaving it`);
    }
    return `ExecStart=${prefix}${contid} exec --systemd ${mode}--unit %n -- ${command}`;
  });
  return [
    `${DROP_IN_MARKER}: each start of ${unit.replace(/%/g, '%%')} runs in a fresh audit session bound to its own contid`,
    ...(confined.length ? [`# ${confined.join(' ')}: the main process only renews its session; ExecStartPost= binds it`] : []),
    '[Service]',
    'ExecStart=',
    ...lines,
    ...(confined.length ? [`ExecStartPost=+${contid} systemd bind --unit %n`] : []),
    `ExecStopPost=+${contid} systemd end --unit %n`,
    '',
  ].join('\n');
}

/** Quotes one word for a unit file command line; `%` is a specifier there, so it is doubled. */
export function unitWord(word: string): string {
  const escaped = word.replace(/%/g, '%%');
  return /^[A-Za-z0-9_./@:=+-]+$/.test(escaped) ? escaped : `"${escaped.replace(/(["\\])/g, '\\$1')}"`;
}
