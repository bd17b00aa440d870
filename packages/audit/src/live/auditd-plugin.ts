import { chmodSync, existsSync, mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { ContidError } from '@contid/core';

export const PLUGIN_CONF_PATH = '/etc/audit/plugins.d/contid.conf';
export const PLUGIN_LAUNCHER_PATH = '/usr/local/libexec/contid/auditd-plugin';
const MARKER = '# installed by contid install auditd-plugin';

export interface AuditdPluginOptions {
  /** How to start contid: the node binary and the CLI's main.js. */
  contid: string[];
  /** `contid tail` options after `--source plugin` (output, format, state dir …). */
  tailArgs: string[];
  confPath?: string;
  launcherPath?: string;
}

/** auditd allows only 2 plugin args, so the whole command line lives in a launcher script. */
export function pluginConf(launcherPath = PLUGIN_LAUNCHER_PATH): string {
  return [
    MARKER,
    '# auditd starts the plugin and writes every record to its stdin in log-line format.',
    'active = yes',
    'direction = out',
    `path = ${launcherPath}`,
    'type = always',
    'format = string',
    '',
  ].join('\n');
}

const shellQuote = (word: string): string => (/^[A-Za-z0-9_./=:,+-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`);

export function pluginLauncher(contid: string[], tailArgs: string[]): string {
  const command = [...contid, 'tail', '--source', 'plugin', ...tailArgs].map(shellQuote).join(' ');
  return `#!/bin/sh\n${MARKER}\n# Run by auditd (plugins.d/contid.conf): records arrive on stdin.\nexec ${command}\n`;
}

function ownedOrAbsent(path: string): boolean {
  return !existsSync(path) || readFileSync(path, 'utf8').includes(MARKER);
}

export function installAuditdPlugin(o: AuditdPluginOptions): string[] {
  const conf = o.confPath ?? PLUGIN_CONF_PATH;
  const launcher = o.launcherPath ?? PLUGIN_LAUNCHER_PATH;
  for (const path of [conf, launcher]) {
    if (!ownedOrAbsent(path)) throw new ContidError(`${path} exists and was not installed by contid; leaving it`);
  }
  if (!existsSync(dirname(conf))) throw new ContidError(`${dirname(conf)} does not exist: is auditd (3.x) installed?`);
  mkdirSync(dirname(launcher), { recursive: true });
  writeFileSync(launcher, pluginLauncher(o.contid, o.tailArgs), { mode: 0o755 });
  chmodSync(launcher, 0o755);
  writeFileSync(conf, pluginConf(launcher), { mode: 0o640 });
  return [launcher, conf];
}

/** Returns the files removed; refuses files contid did not write. */
export function uninstallAuditdPlugin(o: { confPath?: string; launcherPath?: string } = {}): string[] {
  const removed: string[] = [];
  for (const path of [o.confPath ?? PLUGIN_CONF_PATH, o.launcherPath ?? PLUGIN_LAUNCHER_PATH]) {
    if (!existsSync(path)) continue;
    if (!ownedOrAbsent(path)) throw new ContidError(`${path} was not installed by contid; leaving it`);
    unlinkSync(path);
    removed.push(path);
  }
  return removed;
}
