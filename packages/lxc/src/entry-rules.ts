import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, readFileSync, realpathSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { ContidError, makeDirectory } from '@contid/core';
import { configuredLxcPath } from './lxc-tools';

/** Persistent audit rules (auditd loads rules.d at start through augenrules). */
export const ENTRY_RULES_FILE = '/etc/audit/rules.d/contid-lxc.rules';
export const ENTRY_RULES_KEY = 'contid-lxc-entry';
/**
 * The key of the rule on every mount-namespace join: most of what it records (runc exec,
 * nsenter into other runtimes) is no LXC entry, so search reports such a join only when its
 * root is an LXC container's (never by key alone).
 */
export const JOIN_RULES_KEY = 'contid-lxc-join';
/** setns's nstype bit for a mount namespace: lxc-attach passes it (0x6e020000), as nsenter -m and runc do. */
const CLONE_NEWNS = '0x20000';
const MARK = '## installed by contid install lxc';

export interface EntryRuleTargets {
  /** LXC's lxcpath: the rootfs of every (directory-backed) container lies under it. */
  lxcPath: string;
  lxcStart: string | null;
  lxcAttach: string | null;
  /** Starts containers through liblxc without lxc-start (lxc.service at boot). */
  lxcAutostart?: string | null;
}

/**
 * The rules, written as `auditctl -l` prints them so "loaded" is a plain comparison.
 * - setns and pivot_root whose path lies under the lxcpath: the kernel logs the root of the
 *   mount namespace a setns enters (PATH name="/") and the directory an init pivots into
 *   (PATH name="."), both the container's rootfs. lxc-attach cannot be caught by
 *   `-F exe=`: it re-executes itself from a memfd (exe="/memfd:lxc-attach (deleted)") before
 *   it enters, and joins by a pidfd (no namespace inode in the record). This also catches
 *   nsenter, and nothing of other runtimes (their roots lie elsewhere).
 * - pivot_root by lxc-start (and lxc-autostart): a container's init pivots into its root
 *   before it executes the init, still running LXC's binary, so `-F exe=` sees it wherever
 *   the root lies. The directory rule does not: an audit tree rule tags the mounts that exist
 *   when it is loaded, so a rootfs on its own mount (a loop or LVM mount under the lxcpath,
 *   mounted later; `lxc.rootfs.path` elsewhere) is outside it (measured).
 * - setns joining a mount namespace (`-F a1&0x20000`, key contid-lxc-join): lxc-attach into
 *   such a root. lxc-attach runs from a memfd, so no exe rule can name it; this records every
 *   mount-namespace join on the host (runc exec, nsenter), one event each, and search keeps
 *   those whose root is an LXC container's.
 * - execve of lxc-start and lxc-attach: who ran them and with which arguments.
 * Appended (-a) after any rule already loaded: an earlier rule that matches keeps its key,
 * so readers find these events by syscall and path, never by key alone.
 */
export function entryRules(t: EntryRuleTargets): string[] {
  for (const path of [t.lxcPath, t.lxcStart, t.lxcAttach, t.lxcAutostart ?? null]) {
    // auditctl splits a rule line on blanks
    if (path !== null && !/^\/[A-Za-z0-9_@%+=:,./-]*$/.test(path)) throw new ContidError(`cannot write "${path}" into an audit rule (not an absolute path of plain characters)`);
  }
  const rules = ['b64', 'b32'].map((arch) => `-a always,exit -F arch=${arch} -S pivot_root,setns -F dir=${t.lxcPath} -F key=${ENTRY_RULES_KEY}`);
  for (const exe of [t.lxcStart, t.lxcAutostart ?? null]) if (exe) rules.push(`-a always,exit -F arch=b64 -S pivot_root -F exe=${exe} -F key=${ENTRY_RULES_KEY}`);
  rules.push(`-a always,exit -F arch=b64 -S setns -F a1&${CLONE_NEWNS} -F key=${JOIN_RULES_KEY}`);
  for (const exe of [t.lxcStart, t.lxcAttach]) if (exe) rules.push(`-a always,exit -F arch=b64 -S execve,execveat -F exe=${exe} -F key=${ENTRY_RULES_KEY}`);
  return rules;
}

/** An executable on PATH, resolved (auditctl's exe= compares the real file). */
function onPath(command: string): string | null {
  for (const dir of (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(delimiter)) {
    const file = join(dir, command);
    try {
      accessSync(file, constants.X_OK);
      return realpathSync(file);
    } catch {
      // next directory
    }
  }
  return null;
}

/** This host's targets: LXC's configured lxcpath and its tools. */
export function hostEntryTargets(lxcPath?: string): EntryRuleTargets {
  return { lxcPath: lxcPath || configuredLxcPath(), lxcStart: onPath('lxc-start'), lxcAttach: onPath('lxc-attach'), lxcAutostart: onPath('lxc-autostart') };
}

function auditctl(args: string[]): { ok: boolean; out: string } {
  const r = spawnSync('auditctl', args, { encoding: 'utf8' });
  if (r.error) throw new ContidError(`cannot run auditctl: ${(r.error as NodeJS.ErrnoException).code ?? r.error.message} (apt-get install auditd)`);
  return { ok: r.status === 0, out: `${r.stdout}${r.stderr}`.trim() };
}

/** contid's entry rules the kernel has now (`auditctl -l`). */
export function loadedEntryRules(): string[] {
  return auditctl(['-l']).out.split('\n').filter((l) => l.endsWith(` -F key=${ENTRY_RULES_KEY}`) || l.endsWith(` -F key=${JOIN_RULES_KEY}`));
}

/**
 * Writes the rules file and loads exactly its rules into the kernel now (idempotent: nothing
 * changes when they are loaded already). Never `augenrules --load`: it starts with -D and
 * would delete every other rule on the host.
 */
export function installEntryRules(t: EntryRuleTargets, file = ENTRY_RULES_FILE): string {
  if (!existsSync(t.lxcPath)) throw new ContidError(`${t.lxcPath} does not exist (is LXC installed?)`);
  if (existsSync(file) && !readFileSync(file, 'utf8').includes(MARK)) throw new ContidError(`${file} exists and was not installed by contid; leaving it`);
  const rules = entryRules(t);
  makeDirectory(dirname(file));
  writeFileSync(`${file}.tmp`, [`${MARK}: entries into LXC containers that bypass contid (docs/lxc.md)`, ...rules, ''].join('\n'));
  renameSync(`${file}.tmp`, file);
  const loaded = loadedEntryRules();
  if (loaded.length === rules.length && rules.every((r) => loaded.includes(r))) return `audit rules ${file} already loaded`;
  if (loaded.length > 0) unloadEntryRules();
  for (const rule of rules) {
    const r = auditctl(rule.split(' '));
    if (!r.ok) throw new ContidError(`auditctl ${rule} failed: ${r.out.split('\n')[0]}`);
  }
  return `installed and loaded audit rules ${file} (key ${ENTRY_RULES_KEY})`;
}

function unloadEntryRules(): void {
  for (const key of [ENTRY_RULES_KEY, JOIN_RULES_KEY]) auditctl(['-D', '-k', key]);
}

export function uninstallEntryRules(file = ENTRY_RULES_FILE): string {
  const had = loadedEntryRules().length > 0;
  if (had) unloadEntryRules();
  if (existsSync(file)) {
    if (!readFileSync(file, 'utf8').includes(MARK)) throw new ContidError(`${file} was not installed by contid; leaving it`);
    unlinkSync(file);
    return `removed ${file}${had ? ' and unloaded its rules' : ''}`;
  }
  return had ? `unloaded contid's entry rules (${file} was not there)` : `${file} is not installed`;
}
