import { readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ContainerId, formatContainerId, makeDirectory } from '@contid/core';

/**
 * What `contid-lxc attach` (sh, no Node) reads to know, without the registry, that a running
 * LXC container is the instance contid recorded: its contid, and its init's session, pid and
 * start time as the start-host hook saw them. One line, `CONTID SESSION PID START`, in
 * STATE_DIR/lxc/NAME (root-only, like the registry beside it). It only ever lets the fast path
 * skip the Node check: a record that does not match the live init sends attach to the registry.
 */
export interface InstanceRecord {
  contid: ContainerId;
  session: number;
  initPid: number;
  initStart: number;
}

export const instanceRecordPath = (stateDir: string, name: string): string => join(stateDir, 'lxc', name);

/**
 * The record directories this process has made or checked: contid serve writes a record per
 * start, and checking every entry of the path each time was a third of that write's CPU. Once
 * made (or found) root's and writable by nobody else, the directory stays so: only root could
 * change it.
 */
const madeDirectories = new Set<string>();

/** Written whole (temp name, then rename): a reader never sees half a line. */
export function writeInstanceRecord(stateDir: string, name: string, r: InstanceRecord): void {
  const dir = join(stateDir, 'lxc');
  // Not a recursive mkdir: one that could be redirected (a planted symlink) or loop is refused.
  if (!madeDirectories.has(dir)) {
    makeDirectory(dir, 0o700);
    madeDirectories.add(dir);
  }
  const file = instanceRecordPath(stateDir, name);
  const line = `${formatContainerId(r.contid)} ${r.session} ${r.initPid} ${r.initStart}\n`;
  try {
    writeFileSync(`${file}.tmp`, line, { mode: 0o600 });
  } catch (e) {
    // The directory was removed since (root cleaning up): made and checked again.
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    makeDirectory(dir, 0o700);
    writeFileSync(`${file}.tmp`, line, { mode: 0o600 });
  }
  renameSync(`${file}.tmp`, file);
}

export function removeInstanceRecord(stateDir: string, name: string): void {
  try {
    unlinkSync(instanceRecordPath(stateDir, name));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
}

/** Removes NAME's record only when it is still CONTID's (a later instance may have written its own). */
export function removeInstanceRecordOf(stateDir: string, name: string, contid: ContainerId): void {
  let text: string;
  try {
    text = readFileSync(instanceRecordPath(stateDir, name), 'utf8');
  } catch {
    return;
  }
  if (text.split(' ')[0] === formatContainerId(contid)) removeInstanceRecord(stateDir, name);
}
