import { existsSync, mkdirSync, readFileSync, rmdirSync, readdirSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ContidError } from '@contid/core';
import { validateContainerName } from './lxc-tools';

export const GLOBAL_SNIPPET = '/usr/share/lxc/config/common.conf.d/contid.conf';
export const SYSTEMD_DROP_IN = '/etc/systemd/system/lxc@.service.d/contid.conf';
export const DEFAULT_LXC_PATH = '/var/lib/lxc';

const BEGIN = '# >>> contid install lxc >>>';
const END = '# <<< contid install lxc <<<';
const DROP_IN_MARK = '# installed by contid install lxc';

/** Never overwrite a file someone else wrote under the same name. */
function refuseForeign(file: string, marker: string): void {
  if (existsSync(file) && !readFileSync(file, 'utf8').includes(marker)) throw new ContidError(`${file} exists and was not installed by contid; leaving it`);
}

/** The hook executable next to this module (in dist: hook-main.js). */
export const HOOK_MAIN = join(__dirname, 'hook-main.js');

export interface LxcInstallOptions {
  /** How units run contid, e.g. ['/usr/bin/node', '/opt/contid/main.js', '--state-dir', '/x']. */
  contid: readonly string[];
  /** The hook command LXC runs, e.g. ['/usr/bin/node', HOOK_MAIN, '--state-dir', '/x'] or ['contid', 'lxc', 'hook']. */
  hook: readonly string[];
  lxcPath?: string;
  globalSnippet?: string;
  systemdDropIn?: string;
}

/** LXC runs a hook through `sh -c` with its arguments appended: words must need no quoting. */
function commandLine(words: readonly string[]): string {
  for (const w of words) {
    if (!/^[A-Za-z0-9_@%+=:,./-]+$/.test(w)) throw new ContidError(`cannot write "${w}" into an LXC hook line (spaces or shell characters)`);
  }
  return words.join(' ');
}

/** The config lines that make LXC call contid's hook (start-host binds, post-stop ends). */
export function hookLines(hookCommand: readonly string[]): string[] {
  const hook = commandLine(hookCommand);
  return [`lxc.hook.start-host = ${hook}`, `lxc.hook.post-stop = ${hook}`];
}

/** A drop-in for Debian's lxc@.service: the same lxc-start -F, through the session wrapper. */
export function systemdDropIn(contid: readonly string[]): string {
  return [
    `${DROP_IN_MARK}: start containers in a fresh audit session bound to their contid`,
    '[Service]',
    'ExecStart=',
    `ExecStart=${commandLine([...contid, 'lxc', 'start', '%i', '--', '-F'])}`,
    '',
  ].join('\n');
}

function block(hook: readonly string[]): string {
  return [BEGIN, ...hookLines(hook), END, ''].join('\n');
}

function stripBlock(text: string): string {
  const start = text.indexOf(BEGIN);
  if (start < 0) return text;
  const end = text.indexOf(END, start);
  if (end < 0) throw new ContidError(`found "${BEGIN}" without its end marker; fix the file by hand`);
  return text.slice(0, start) + text.slice(end + END.length).replace(/^\n/, '');
}

function containerConfig(name: string, lxcPath: string): string {
  validateContainerName(name);
  const file = join(lxcPath, name, 'config');
  if (!existsSync(file)) throw new ContidError(`LXC container "${name}" has no config at ${file}`);
  return file;
}

/**
 * `contid install lxc [NAME...]`: with names, adds the hook lines to each container's config;
 * without, installs the global snippet (read by every container that includes LXC's
 * common.conf) and the lxc@.service drop-in. Re-installing replaces contid's block.
 */
export function installLxc(names: readonly string[], o: LxcInstallOptions): string {
  if (names.length) {
    return names
      .map((name) => {
        const file = containerConfig(name, o.lxcPath ?? DEFAULT_LXC_PATH);
        const kept = stripBlock(readFileSync(file, 'utf8'));
        writeFileSync(file, `${kept}${kept.endsWith('\n') || kept === '' ? '' : '\n'}${block(o.hook)}`);
        return `added contid's hooks to ${file}`;
      })
      .join('\n');
  }
  const snippet = o.globalSnippet ?? GLOBAL_SNIPPET;
  const dropIn = o.systemdDropIn ?? SYSTEMD_DROP_IN;
  if (!existsSync(dirname(snippet))) throw new ContidError(`${dirname(snippet)} does not exist (is LXC installed?)`);
  refuseForeign(snippet, BEGIN);
  refuseForeign(dropIn, DROP_IN_MARK);
  writeFileSync(snippet, block(o.hook));
  mkdirSync(dirname(dropIn), { recursive: true });
  writeFileSync(dropIn, systemdDropIn(o.contid));
  return [
    `installed ${snippet} (containers whose config includes LXC's common.conf; add others with "contid install lxc NAME")`,
    `installed ${dropIn} (run "systemctl daemon-reload")`,
  ].join('\n');
}

export function uninstallLxc(names: readonly string[], o: Omit<LxcInstallOptions, 'contid' | 'hook'>): string {
  if (names.length) {
    return names
      .map((name) => {
        const file = containerConfig(name, o.lxcPath ?? DEFAULT_LXC_PATH);
        const text = readFileSync(file, 'utf8');
        if (!text.includes(BEGIN)) return `${file} has no contid hooks`;
        writeFileSync(file, stripBlock(text));
        return `removed contid's hooks from ${file}`;
      })
      .join('\n');
  }
  const out: string[] = [];
  for (const [file, marker] of [
    [o.globalSnippet ?? GLOBAL_SNIPPET, BEGIN],
    [o.systemdDropIn ?? SYSTEMD_DROP_IN, DROP_IN_MARK],
  ] as const) {
    if (!existsSync(file)) {
      out.push(`${file} is not installed`);
      continue;
    }
    if (!readFileSync(file, 'utf8').includes(marker)) throw new ContidError(`${file} was not installed by contid; leaving it`);
    unlinkSync(file);
    out.push(`removed ${file}`);
  }
  const dropInDir = dirname(o.systemdDropIn ?? SYSTEMD_DROP_IN);
  if (existsSync(dropInDir) && readdirSync(dropInDir).length === 0) rmdirSync(dropInDir);
  return out.join('\n');
}
