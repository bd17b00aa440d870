import { chmodSync, copyFileSync, existsSync, readFileSync, readdirSync, renameSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { ContidError, makeDirectory } from '@contid/core';
import { DaemonJsonChange, SHIM_HEADER, SHIM_INSTALL_PATH, addRuntime, isShimBytes, parseDaemonJson, removeRuntime, sameJson } from './daemon-json';

/**
 * What `contid install docker` keeps beside daemon.json so that uninstall can give the file
 * back exactly: one backup of the bytes found before contid's first edit, or — where there was
 * no file — a marker saying contid created it. Later installs never add another backup.
 */
export const backupPathOf = (file: string): string => `${file}.contid-backup`;
export const createdMarkerOf = (file: string): string => `${file}.contid-created`;

/** Replaces a file through a temp name (atomic), keeping the old file's mode. */
function replaceFile(file: string, text: string): void {
  const mode = existsSync(file) ? statSync(file).mode & 0o7777 : 0o644;
  const tmp = `${file}.contid-tmp`;
  writeFileSync(tmp, text, { mode });
  chmodSync(tmp, mode);
  renameSync(tmp, file);
}

export interface DaemonJsonInstall {
  change: DaemonJsonChange;
  /** The one backup of the original file (null: there was no file, or nothing changed). */
  backup: string | null;
}

/** Adds the contid runtime to daemon.json; before the first edit, keeps the original bytes (or notes that there were none). */
export function installDaemonJson(file: string, shimPath: string, makeDefault: boolean): DaemonJsonInstall {
  const exists = existsSync(file);
  const change = addRuntime(exists ? readFileSync(file, 'utf8') : '', shimPath, { makeDefault, file });
  if (!change.changed) return { change, backup: null };
  parseDaemonJson(change.text, file); // never write what does not parse
  makeDirectory(dirname(file));
  const backup = backupPathOf(file);
  const marker = createdMarkerOf(file);
  if (exists && !existsSync(backup) && !existsSync(marker)) copyFileSync(file, backup);
  if (!exists && !existsSync(backup)) writeFileSync(marker, '');
  replaceFile(file, change.text);
  return { change, backup: exists && existsSync(backup) ? backup : null };
}

export type DaemonJsonRestore =
  | { action: 'absent' }
  | { action: 'unchanged' }
  | { action: 'restored'; from: string }
  | { action: 'removed' }
  /** The file was edited since install: contid's entry removed, everything else kept; the backup stays. */
  | { action: 'rewritten'; backup: string | null };

/**
 * Takes contid's runtime out of daemon.json. If what remains is what contid found, the backup
 * is put back byte for byte (or the file contid created is removed); edits made since are
 * never thrown away: then only contid's keys go and the backup is kept for the operator.
 */
export function restoreDaemonJson(file: string): DaemonJsonRestore {
  const backup = backupPathOf(file);
  const marker = createdMarkerOf(file);
  if (!existsSync(file)) {
    if (existsSync(marker)) unlinkSync(marker);
    return { action: 'absent' };
  }
  const text = readFileSync(file, 'utf8');
  const change = removeRuntime(text, { file });
  const remaining = parseDaemonJson(change.text, file);
  if (existsSync(backup) && sameJson(remaining, parseDaemonJson(readFileSync(backup, 'utf8'), backup))) {
    renameSync(backup, file);
    if (existsSync(marker)) unlinkSync(marker);
    return { action: 'restored', from: backup };
  }
  if (existsSync(marker) && Object.keys(remaining).length === 0) {
    unlinkSync(file);
    unlinkSync(marker);
    return { action: 'removed' };
  }
  if (!change.changed) return { action: 'unchanged' };
  replaceFile(file, change.text);
  return { action: 'rewritten', backup: existsSync(backup) ? backup : null };
}

/** Where the compiled shim goes beside the sh one (it hands the sh its other cases by that name). */
export const compiledShimPathOf = (shim: string): string => `${shim}-fast`;

/**
 * Copies the shim into place (root-owned, 0755) through a temp name, and the compiled one
 * beside it when it was built (`compiled`: scripts/build-shim.sh's output) and the sh keeps its
 * own name, contid-runc, which the compiled one execs for the cases it hands on. Returns the
 * path dockerd is to run: the compiled shim where it was installed, else the sh.
 */
export function installShim(source: string, target = SHIM_INSTALL_PATH, compiled: string | null = null): string {
  makeDirectory(dirname(target), 0o755);
  // The tagging step the shim sources from its own directory (shared with contid-spawn).
  copyInto(join(dirname(source), TAG_LIBRARY), join(dirname(target), TAG_LIBRARY), 0o644);
  copyInto(source, target, 0o755);
  if (compiled === null || basename(target) !== 'contid-runc' || !existsSync(compiled) || !isShimBytes(readFileSync(compiled))) return target;
  copyInto(compiled, compiledShimPathOf(target), 0o755);
  return compiledShimPathOf(target);
}

const TAG_LIBRARY = 'contid-tag.sh';

function copyInto(source: string, target: string, mode: number): void {
  const tmp = `${target}.tmp`;
  copyFileSync(source, tmp);
  chmodSync(tmp, mode);
  renameSync(tmp, target);
}

export function removeShim(target = SHIM_INSTALL_PATH): boolean {
  const compiled = compiledShimPathOf(target);
  if (existsSync(compiled)) {
    if (!isShimBytes(readFileSync(compiled))) throw new ContidError(`${compiled} is not contid's shim; leaving it`);
    unlinkSync(compiled);
  }
  if (!existsSync(target)) return false;
  if (!readFileSync(target, 'utf8').startsWith(SHIM_HEADER)) throw new ContidError(`${target} is not contid's shim; leaving it`);
  unlinkSync(target);
  // The library stays while another contid script beside it still sources it.
  const others = readdirSync(dirname(target)).filter((f) => f.startsWith('contid-') && f !== TAG_LIBRARY);
  if (others.length === 0) rmSync(join(dirname(target), TAG_LIBRARY), { force: true });
  return true;
}
