import { existsSync, readFileSync, rmdirSync, readdirSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ContidError, makeDirectory } from '@contid/core';
import { DEFAULT_LXC_PATH, validateContainerName } from './lxc-tools';
import { CAP_DROP_LINE, capSetting, dropsAuditControl } from './cap-config';

export const GLOBAL_SNIPPET = '/usr/share/lxc/config/common.conf.d/contid.conf';
export const SYSTEMD_DROP_IN = '/etc/systemd/system/lxc@.service.d/contid.conf';
export { DEFAULT_LXC_PATH };

const BEGIN = '# >>> contid install lxc >>>';
const END = '# <<< contid install lxc <<<';
const DROP_IN_MARK = '# installed by contid install lxc';

/** Never overwrite a file someone else wrote under the same name. */
function refuseForeign(file: string, marker: string): void {
  if (existsSync(file) && !readFileSync(file, 'utf8').includes(marker)) throw new ContidError(`${file} exists and was not installed by contid; leaving it`);
}

/** The hook executable next to this module (in dist: hook-main.js), for running the hook's Node code by hand. */
export const HOOK_MAIN = join(__dirname, 'hook-main.js');

export interface LxcInstallOptions {
  /** How LXC and units run contid-lxc, e.g. ['/opt/contid/integrations/bin/contid-lxc', '--state-dir', '/x']; hooks are `… hook`. */
  contidLxc: readonly string[];
  /** The Node contid command line contid-lxc hands over to (CONTID_CLI), e.g. ['/usr/bin/node', '/opt/contid/main.js']. */
  cli: readonly string[];
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

/**
 * The config line that makes LXC call contid's hook: start-host, which records the init. No
 * post-stop hook: contid serve learns the end from the container's monitor (end-watcher.ts),
 * so a stop costs LXC no fork, no execs and no spool entry.
 */
export function hookLines(hookCommand: readonly string[]): string[] {
  return [`lxc.hook.start-host = ${commandLine(hookCommand)}`];
}

/** A drop-in for Debian's lxc@.service: the same lxc-start -F, through the session wrapper. */
export function systemdDropIn(contidLxc: readonly string[], cli: readonly string[]): string {
  return [
    `${DROP_IN_MARK}: start containers in a fresh audit session bound to their contid`,
    '[Service]',
    `Environment="CONTID_CLI=${commandLine(cli)}"`,
    'ExecStart=',
    `ExecStart=${commandLine([...contidLxc, 'start', '%i', '--', '-F'])}`,
    '',
  ].join('\n');
}

/**
 * contid's block: the hooks and, unless the config lists what it keeps (LXC refuses drop and
 * keep together), the drop of CAP_AUDIT_CONTROL, without which root in the container can
 * write /proc/self/loginuid and leave its identity. Tagging needs nothing inside.
 */
function block(hook: readonly string[], dropCap: boolean): string {
  return [BEGIN, ...hookLines(hook), ...(dropCap ? [CAP_DROP_LINE] : []), END, ''].join('\n');
}

export interface InstallReport {
  report: string;
  /** Containers that still let root keep CAP_AUDIT_CONTROL, and why. */
  warnings: string[];
}

function keepsWarning(name: string, line: string | null): string {
  return `LXC container "${name}" keeps CAP_AUDIT_CONTROL (${line ?? 'no lxc.cap.drop'}): root in it can renew its audit session and leave its identity; remove audit_control from lxc.cap.keep, or drop the line that clears lxc.cap.drop`;
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
export function installLxc(names: readonly string[], o: LxcInstallOptions): InstallReport {
  const warnings: string[] = [];
  if (names.length) {
    const report = names
      .map((name) => {
        const file = containerConfig(name, o.lxcPath ?? DEFAULT_LXC_PATH);
        const kept = stripBlock(readFileSync(file, 'utf8'));
        const keepMode = capSetting(file, kept).mode === 'keep';
        const text = `${kept}${kept.endsWith('\n') || kept === '' ? '' : '\n'}${block([...o.contidLxc, 'hook'], !keepMode)}`;
        const after = capSetting(file, text);
        if (!dropsAuditControl(after)) warnings.push(keepsWarning(name, after.lastLine));
        writeFileSync(file, text);
        return `added contid's hooks${keepMode ? '' : ` and "${CAP_DROP_LINE}"`} to ${file}`;
      })
      .join('\n');
    return { report, warnings };
  }
  const snippet = o.globalSnippet ?? GLOBAL_SNIPPET;
  const dropIn = o.systemdDropIn ?? SYSTEMD_DROP_IN;
  if (!existsSync(dirname(snippet))) throw new ContidError(`${dirname(snippet)} does not exist (is LXC installed?)`);
  refuseForeign(snippet, BEGIN);
  refuseForeign(dropIn, DROP_IN_MARK);
  writeFileSync(snippet, block([...o.contidLxc, 'hook'], true));
  makeDirectory(dirname(dropIn));
  writeFileSync(dropIn, systemdDropIn(o.contidLxc, o.cli));
  const report = [
    `installed ${snippet} (containers whose config includes LXC's common.conf; add others with "contid install lxc NAME")`,
    `installed ${dropIn} (run "systemctl daemon-reload")`,
  ].join('\n');
  return { report, warnings: existingContainersKeepingCap(o.lxcPath ?? DEFAULT_LXC_PATH) };
}

/** After a global install: the defined containers the snippet does not protect. */
function existingContainersKeepingCap(lxcPath: string): string[] {
  if (!existsSync(lxcPath)) return [];
  return readdirSync(lxcPath)
    .filter((name) => existsSync(join(lxcPath, name, 'config')))
    .flatMap((name) => {
      const setting = capSetting(join(lxcPath, name, 'config'));
      return dropsAuditControl(setting) ? [] : [keepsWarning(name, setting.lastLine) + `; or run "contid install lxc ${name}"`];
    });
}

export function uninstallLxc(names: readonly string[], o: Omit<LxcInstallOptions, 'contidLxc' | 'cli'>): string {
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
