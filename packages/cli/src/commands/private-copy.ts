import { closeSync, existsSync, mkdtempSync, openSync, rmdirSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ContidError } from '@contid/core/dist/errors';
import { openNameless } from '@contid/audit/dist/spool-file';

/**
 * A private temporary copy of an input (stdin spooled, a gzip log inflated) that nothing can
 * leave behind in the temporary directory: it has no name there (O_TMPFILE; else its name is
 * removed as soon as it is open), and it is written and read by /proc/self/fd/N (each stream
 * opens it anew and closes its own descriptor, this one staying open), so the kernel frees it
 * when the process ends, however it ends. A handler could not: SIGINT, SIGTERM and SIGHUP skip
 * the 'exit' listeners, a JavaScript signal listener runs only once the synchronous search
 * returns (Ctrl-C would wait for the answer), and SIGKILL runs nothing (review34).
 *
 * Required only by a search of stdin or of a gzip file (not on a plain search's start-up).
 */
export interface PrivateCopy {
  /** The name to read it by, in this process (its threads included). */
  path: string;
  close: () => void;
}

export function privateCopy(prefix: string, name: string): PrivateCopy {
  let fd: number;
  try {
    fd = openNameless();
  } catch (err) {
    // a file system without O_TMPFILE (EOPNOTSUPP; EISDIR before Linux 3.11): a name, removed
    // at once; a signal in between may leave it, empty
    if (!['EOPNOTSUPP', 'EISDIR', 'EINVAL'].includes((err as NodeJS.ErrnoException).code ?? '')) throw err;
    const dir = mkdtempSync(join(tmpdir(), prefix));
    try {
      fd = openSync(join(dir, name), 'wx+', 0o600);
      unlinkSync(join(dir, name));
    } finally {
      rmdirSync(dir);
    }
  }
  const path = `/proc/self/fd/${fd}`;
  if (!existsSync(path)) {
    closeSync(fd);
    throw new ContidError('cannot keep a private copy of the input: /proc is not mounted', 1);
  }
  let open = true;
  return {
    path,
    close: () => {
      if (open) closeSync(fd);
      open = false;
    },
  };
}
