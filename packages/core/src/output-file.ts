import { randomBytes } from 'node:crypto';
import { closeSync, constants, fstatSync, fsyncSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { ContidError } from './errors';

/**
 * Opens a file that privileged output (audit events) is appended to, without trusting what
 * someone else may have put at that path first: a symlink is never followed (O_NOFOLLOW), a new
 * file is created exclusively (O_EXCL) as 0600, and an existing one is used only when it is a
 * regular file with one link, owned by the caller and writable by nobody else. Anything else
 * is one clear error — nothing is written to a file an attacker prepared (say in /tmp).
 * Returns the file descriptor.
 */
export function openOutputFile(path: string, uid = process.geteuid?.() ?? 0): number {
  const append = constants.O_WRONLY | constants.O_APPEND | constants.O_NOFOLLOW;
  try {
    return openSync(path, append | constants.O_CREAT | constants.O_EXCL, 0o600);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw outputError(path, e);
  }
  let fd: number;
  try {
    // O_NONBLOCK: a FIFO planted at the path must not hang the open until someone reads it.
    fd = openSync(path, append | constants.O_NONBLOCK);
  } catch (e) {
    throw outputError(path, e);
  }
  const st = fstatSync(fd);
  const why = !st.isFile()
    ? 'is not a regular file'
    : st.nlink !== 1
      ? `has ${st.nlink} hard links`
      : st.uid !== uid
        ? `is owned by uid ${st.uid}, not by you (uid ${uid})`
        : (st.mode & 0o022) !== 0
          ? `is writable by group or others (mode ${(st.mode & 0o777).toString(8)})`
          : null;
  if (why) {
    closeSync(fd);
    throw new ContidError(`refusing to write to ${path}: it ${why}; remove it or choose another file`);
  }
  return fd;
}

function outputError(path: string, e: unknown): ContidError {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ELOOP') return new ContidError(`refusing to write to ${path}: it is a symbolic link; remove it or choose another file`);
  return new ContidError(`cannot open ${path} for writing: ${code ?? (e as Error).message}`);
}

/**
 * Writes `path` whole or not at all (a temporary file renamed over it), as safely as
 * openOutputFile in a directory others can write (/tmp): the temporary name is unguessable and
 * created exclusively, never through a symlink, 0600; the rename replaces whatever was at
 * `path` (a planted symlink included) without following it.
 */
export function writeFileWhole(path: string, content: string): void {
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(8).toString('hex')}.tmp`);
  let fd: number;
  try {
    fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
  } catch (e) {
    throw outputError(tmp, e);
  }
  try {
    try {
      writeSync(fd, content);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (e) {
    try {
      unlinkSync(tmp);
    } catch {
      // already renamed or gone
    }
    throw new ContidError(`cannot write ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}
