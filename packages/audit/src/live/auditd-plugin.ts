import { chmodSync, closeSync, existsSync, readdirSync, readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, isAbsolute } from 'node:path';
import { ContidError, auditDaemonPid, escapeText, makeDirectory, openOutputFile } from '@contid/core';
import { auditdRunner, restartAdvice, restartAuditd } from './auditd-service';

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
  /** Where the plugin's stderr (ready line, drop reports, summary) goes. */
  logPath?: string;
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

export const PLUGIN_LOG_PATH = '/var/log/contid/auditd-plugin.log';

/**
 * Node flags of the plugin's launcher. A plugin lives as long as auditd: a 1 MB young
 * generation keeps its RSS low at little CPU cost (most of what it allocates per event dies
 * young). `pnpm bench tail` replays through the same flags.
 */
export const PLUGIN_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=1'];

/** auditd gives plugins no stderr worth having: drop reports and errors go to `logPath`. */
export function pluginLauncher(contid: string[], tailArgs: string[], logPath = PLUGIN_LOG_PATH): string {
  const command = [...contid, 'tail', '--source', 'plugin', ...tailArgs].map(shellQuote).join(' ');
  return [
    '#!/bin/sh',
    MARKER,
    '# Run by auditd (plugins.d/contid.conf): records arrive on stdin.',
    `mkdir -p ${shellQuote(dirname(logPath))}`,
    `exec 2>>${shellQuote(logPath)}`,
    `exec ${command}`,
    '',
  ].join('\n');
}

/**
 * The launcher's `exec 2>>LOG` runs as root at every start of auditd and appends to whatever is
 * at that path then, link or someone's file: so the log must be root's own file in a directory
 * only root can write — even a sticky one like /tmp lets others plant the name first, or again
 * after a rotation removes it (outside attack 14, N1). Made here, at install, or refused.
 */
function preparePluginLog(logPath: string): void {
  const shown = escapeText(logPath);
  if (!isAbsolute(logPath)) throw new ContidError(`log=${shown} must be an absolute path`, 2);
  const dir = makeDirectory(dirname(logPath), 0o755, 0);
  const mode = statSync(dir).mode;
  if ((mode & 0o022) !== 0) {
    throw new ContidError(`refusing log=${shown}: others may write its directory (mode ${(mode & 0o7777).toString(8)}); choose a file in a directory only root can write, as ${PLUGIN_LOG_PATH}`);
  }
  closeSync(openOutputFile(logPath, 0));
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
  preparePluginLog(o.logPath ?? PLUGIN_LOG_PATH);
  makeDirectory(dirname(launcher));
  writeFileSync(launcher, pluginLauncher(o.contid, o.tailArgs, o.logPath), { mode: 0o755 });
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

/** A CLI installer is synchronous; this waits without spinning. */
function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * auditd's pid: the audit daemon the kernel has registered (null when none is). Never a /proc
 * scan by name: any user can start a process called auditd, and this pid is signalled and
 * restarted as root.
 */
export function auditdPid(): number | null {
  return auditDaemonPid();
}

/** Children of auditd running `contid tail --source plugin`. */
export function runningPlugins(auditd: number, procRoot = '/proc'): number[] {
  const found: number[] = [];
  for (const entry of readdirSync(procRoot)) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`${procRoot}/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid !== auditd) continue;
      if (readFileSync(`${procRoot}/${entry}/cmdline`, 'utf8').includes('tail\0--source\0plugin')) found.push(Number(entry));
    } catch {
      // gone
    }
  }
  return found;
}

/**
 * SIGHUP makes auditd re-read plugins.d, starting new plugins and stopping removed ones.
 * auditd 3.0.9 here sometimes applies a plugin change only on the following SIGHUP, so this
 * checks the outcome and signals again before giving up. Measured: once a reload has
 * stopped a plugin, that auditd starts no plugin on SIGHUP any more; only a restart does.
 * Then, with `restart`, auditd is restarted the way the host runs it (its systemd unit, or
 * the same command line) and the message says so; without, the error names the command.
 */
export function reloadAuditdPlugins(wantRunning: boolean, options: { restart?: boolean; tries?: number; waitMs?: number } = {}): string {
  const pid = auditdPid();
  if (pid === null) return 'auditd is not running; it will pick the plugin change up when it starts';
  const tries = options.tries ?? 2;
  const waitMs = options.waitMs ?? 2500;
  const done = (p: number): boolean => runningPlugins(p).length > 0 === wantRunning;
  for (let attempt = 1; attempt <= tries; attempt++) {
    process.kill(pid, 'SIGHUP');
    for (const deadline = Date.now() + waitMs; Date.now() < deadline; ) {
      sleepSync(100);
      if (done(pid)) return `auditd (pid ${pid}) ${wantRunning ? 'started' : 'stopped'} the plugin`;
    }
  }
  // The pid read before the reloads must still be the kernel's audit daemon: a pid comes round
  // again in seconds here, and what a restart runs is read from this pid's /proc.
  const now = auditdPid();
  if (now !== pid) throw new ContidError(`auditd changed while its plugins were reloaded (pid ${pid}, now ${now ?? 'none'}); run the command again`);
  const runner = auditdRunner(pid);
  const why =
    `auditd (pid ${pid}) did not ${wantRunning ? 'start' : 'stop'} the plugin on reload` +
    (wantRunning ? ' (auditd 3.0.9 starts no plugin on SIGHUP once a reload has stopped one, until it is restarted)' : '');
  if (!options.restart) throw new ContidError(`${why}; to apply it, restart auditd: ${restartAdvice(runner, pid)}`);
  const fresh = restartAuditd(runner, pid, () => auditdPid());
  for (const deadline = Date.now() + 10_000; Date.now() < deadline; sleepSync(100)) {
    if (done(fresh)) return `${why}; restarted auditd (${restartAdvice(runner, pid)}): auditd (pid ${fresh}) ${wantRunning ? 'started' : 'stopped'} the plugin`;
  }
  throw new ContidError(`${why}, nor after a restart (${restartAdvice(runner, pid)}, now pid ${fresh}); see auditd's messages in syslog`);
}
