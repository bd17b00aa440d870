import { ContidError } from '@contid/core';
import { UnitFragment, effectiveList, settings } from './unit-file';

export const DROP_IN_NAME = 'contid.conf';
export const DROP_IN_MARKER = '# installed by contid install systemd';

export const dropInPath = (unit: string, root = '/etc/systemd/system'): string => `${root}/${unit}.d/${DROP_IN_NAME}`;

/** systemd's ExecStart= prefixes (systemd.service(5) "Command lines"), kept in front of the wrapper. */
const PREFIX = /^[-@:+!]*/;

/**
 * The drop-in that makes every start of UNIT a container: ExecStart= is reset and each of the
 * unit's own command lines re-run through `contid exec --systemd`, which renews the main
 * process's own audit session (it is an ancestor of everything the unit runs) and binds it to
 * this invocation's contid; ExecStopPost= records the end (with `+`, so it has the privilege
 * even under User=). `contid` is the command line that runs contid (absolute paths).
 */
export function renderDropIn(unit: string, fragments: UnitFragment[], contid: string, ownPath = dropInPath(unit)): string {
  const own = fragments.filter((f) => f.path !== ownPath);
  const starts = effectiveList(settings(own, 'Service', 'ExecStart'));
  if (starts.length === 0) throw new ContidError(`${unit} has no ExecStart= to wrap`);
  const lines = starts.map(({ value, path }) => {
    const prefix = PREFIX.exec(value)![0];
    const command = value.slice(prefix.length).trim();
    if (prefix.includes('@') || command.startsWith('@')) {
      throw new ContidError(`${unit}: ExecStart= with "@" (own argv[0]) in ${path} cannot be wrapped; drop the "@" first`);
    }
    if (/(^|\/)contid(\s|$)|\/cli\/dist\/main\.js\s/.test(command)) {
      throw new ContidError(`${unit} already runs through contid (ExecStart= in ${path}); leaving it`);
    }
    return `ExecStart=${prefix}${contid} exec --systemd --unit %n -- ${command}`;
  });
  return [
    `${DROP_IN_MARKER}: each start of ${unit.replace(/%/g, '%%')} runs in a fresh audit session bound to its own contid`,
    '[Service]',
    'ExecStart=',
    ...lines,
    `ExecStopPost=+${contid} systemd end --unit %n`,
    '',
  ].join('\n');
}

/** Quotes one word for a unit file command line; `%` is a specifier there, so it is doubled. */
export function unitWord(word: string): string {
  const escaped = word.replace(/%/g, '%%');
  return /^[A-Za-z0-9_./@:=+-]+$/.test(escaped) ? escaped : `"${escaped.replace(/(["\\])/g, '\\$1')}"`;
}
