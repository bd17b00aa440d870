import { randomBytes } from 'node:crypto';
import { closeSync, constants, fstatSync, fsyncSync, lstatSync, mkdirSync, openSync, realpathSync, renameSync, statSync, unlinkSync, writeSync, type Stats } from 'node:fs';
import { basename, dirname, join, resolve, sep } from 'node:path';
import { ContidError } from './errors';

const callerUid = (): number => process.geteuid?.() ?? 0;

/** `/a/b/c` → ['/', '/a', '/a/b', '/a/b/c']: each directory of an absolute path, from the root down. */
function prefixes(abs: string): string[] {
  const parts = abs.split(sep).filter(Boolean);
  return ['/', ...parts.map((_p, i) => '/' + parts.slice(0, i + 1).join('/'))];
}

/**
 * Why others than its owner may rename or replace the entries of a directory with this mode,
 * or null: its group or everyone may write it, without the sticky bit. A root-owned directory
 * is no safer for that (/var/local is root:staff 2775 on Debian: any member of staff can swap
 * what is under it — outside attack 7). The one rule for every directory contid writes under
 * or trusts a cache in.
 */
export function othersMayReplaceEntries(mode: number): string | null {
  if ((mode & 0o022) === 0 || (mode & 0o1000) !== 0) return null;
  return `${(mode & 0o002) !== 0 ? 'everyone' : 'its group'} may write without the sticky bit (mode ${(mode & 0o7777).toString(8)})`;
}

/**
 * Why an entry on the way to a file contid writes would let someone else redirect the write,
 * or null. The kernel's fs.protected_symlinks rule, generalised to every component: a symlink
 * or directory owned by anyone but root or the caller (its owner can swap what it leads to),
 * or a directory others may write without the sticky bit (they can rename its entries).
 */
function untrustedEntry(st: Stats, uid: number): string | null {
  const what = st.isSymbolicLink() ? 'a symbolic link' : 'a directory';
  if (st.uid !== 0 && st.uid !== uid) return `is ${what} owned by uid ${st.uid}, not by root or you (uid ${uid})`;
  const shared = st.isDirectory() ? othersMayReplaceEntries(st.mode) : null;
  return shared && `is a directory ${shared}`;
}

function lstatOrNull(path: string): Stats | null {
  try {
    return lstatSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR') return null;
    throw new ContidError(`cannot use directory ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

/** Refuses `dir` (which exists) if any entry of its path, as written or resolved, is untrusted; returns the resolved path. */
export function trustedDirectory(dir: string, uid = callerUid()): string {
  const abs = resolve(dir);
  let real: string;
  try {
    real = realpathSync(abs);
    if (!statSync(real).isDirectory()) throw Object.assign(new Error('ENOTDIR'), { code: 'ENOTDIR' });
  } catch (e) {
    throw new ContidError(`cannot use directory ${dir}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  // As written (a planted symlink) and as resolved (the directories it leads through).
  for (const p of new Set([...prefixes(abs), ...prefixes(real)])) {
    const st = lstatOrNull(p);
    const why = st && untrustedEntry(st, uid);
    if (why) throw new ContidError(`refusing to write under ${dir}: ${p} ${why}`);
  }
  return real;
}

/**
 * `mkdir -p` that cannot loop and cannot be redirected: the existing part of the path must pass
 * trustedDirectory, then each missing directory is created in turn (one mkdir per component —
 * Node 20's recursive mkdir spins forever on paths under /proc). One clear error otherwise.
 * Returns the resolved path of `dir`.
 */
export function makeDirectory(dir: string, mode = 0o755, uid = callerUid()): string {
  const all = prefixes(resolve(dir));
  let existing = 0;
  while (existing < all.length && lstatOrNull(all[existing]) !== null) existing++;
  let real = trustedDirectory(all[existing - 1], uid);
  for (const p of all.slice(existing)) {
    real = join(real, basename(p));
    try {
      mkdirSync(real, { mode });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw new ContidError(`cannot create directory ${p === resolve(dir) ? dir : `${p} (for ${dir})`}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    const st = lstatSync(real);
    const why = !st.isDirectory() ? 'is not a directory' : untrustedEntry(st, uid);
    if (why) throw new ContidError(`refusing to write under ${dir}: ${p} ${why}`);
  }
  return real;
}

/**
 * Opens a file that privileged output (audit events) is appended to, without trusting what
 * someone else may have put at that path first: a symlink is never followed (O_NOFOLLOW), a new
 * file is created exclusively (O_EXCL) as 0600, and an existing one is used only when it is a
 * regular file with one link, owned by the caller and writable by nobody else. Anything else
 * is one clear error — nothing is written to a file an attacker prepared (say in /tmp).
 * Returns the file descriptor.
 */
export function openOutputFile(path: string, uid = callerUid()): number {
  trustedDirectory(dirname(path), uid);
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
 * openOutputFile in a directory others can write (/tmp): the directory (created with
 * makeDirectory when missing) must be one nobody else can redirect, and it is named by its
 * resolved path for the whole write; the temporary name is unguessable and created
 * exclusively, never through a symlink, 0600; the rename replaces whatever was at `path` (a
 * planted symlink included) without following it. Node has no openat/renameat, so the
 * directory's identity (dev/ino) is checked again after the rename.
 */
export function writeFileWhole(path: string, content: string, uid = callerUid()): void {
  const dir = makeDirectory(dirname(path), 0o755, uid);
  const before = statSync(dir);
  const target = join(dir, basename(path));
  const tmp = join(dir, `.${basename(path)}.${randomBytes(8).toString('hex')}.tmp`);
  let fd: number;
  try {
    fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
  } catch (e) {
    throw outputError(tmp, e);
  }
  try {
    let written: Stats;
    try {
      writeSync(fd, content);
      fsyncSync(fd);
      written = fstatSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, target);
    const after = statSync(dir);
    const landed = lstatSync(target);
    if (after.dev !== before.dev || after.ino !== before.ino || landed.ino !== written.ino || landed.dev !== written.dev) {
      throw new ContidError(`cannot write ${path}: its directory was replaced while writing`);
    }
  } catch (e) {
    if (e instanceof ContidError) throw e;
    try {
      unlinkSync(tmp);
    } catch {
      // already renamed or gone
    }
    throw new ContidError(`cannot write ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}
