import { lstatSync, statSync, unlinkSync } from 'node:fs';
import { connect, type Server } from 'node:net';
import { dirname } from 'node:path';
import { ContidError } from './errors';
import { trustedDirectory } from './output-file';

/**
 * Binds a unix socket at `path` with `mode` from its creation. Whoever can write the socket's
 * directory can rename a symlink over the fresh socket, so a chmod(path) after bind would change
 * whatever file the symlink names, as root (outside attacks 4 and 6). The socket's mode comes
 * from the umask at bind(2), which Node makes synchronously inside listen(); the umask is the
 * process's, so it is narrowed only around that call (a file some thread-pool call creates
 * meanwhile gets a narrower mode, never a wider one).
 */
export function listenWithMode(server: Server, path: string, mode: number, onListening: () => void): void {
  const umask = process.umask(0o777 & ~mode);
  try {
    server.listen(path, onListening);
  } finally {
    process.umask(umask);
  }
}

/**
 * Makes `path` free for a new listening socket. Its directories must be ones nobody else can
 * redirect (the rule of contid's output files), so the path names the same entry from the
 * check to the bind; the entry itself is looked at without following a link, and only a socket
 * nobody answers on (its process died) is removed. Anything else at `path` — a file, a link, a
 * socket that cannot be probed — is refused with one line and left as it is (outside attack 7:
 * tail unlinked a root file through a user's directory link). Resolves false when a live
 * process answers on `path` (the caller says who that may be), true when `path` is free.
 */
export async function clearSocketPath(path: string, uid?: number): Promise<boolean> {
  trustedDirectory(dirname(path), uid);
  let isSocket: boolean;
  try {
    isSocket = lstatSync(path).isSocket();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return true;
    throw new ContidError(`cannot use ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  // Node 20's fs.realpathSync, for a path component it has cached, tests the process-wide stat
  // buffer of the LAST stat for a socket or FIFO and then stops resolving: after an lstat of a
  // socket, later require()s through a symlink (pnpm's node_modules) failed ("Cannot find module
  // 'docker-modem'" after a restart over a stale socket). A stat of the directory leaves a
  // directory's mode in that buffer.
  statSync(dirname(path));
  if (!isSocket) throw new ContidError(`${path} exists and is not a socket; refusing to replace it`);
  const answer = await probe(path);
  if (answer === 'live') return false;
  if (answer === 'gone') return true;
  if (answer !== 'stale') throw new ContidError(`cannot tell whether something answers on ${path} (${answer}); refusing to replace it`);
  try {
    unlinkSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new ContidError(`cannot remove the stale socket ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  return true;
}

/** 'live' when something accepts (or is too busy to: EAGAIN), 'stale' when nobody listens, 'gone' when it vanished, else the error code. */
function probe(path: string): Promise<string> {
  return new Promise((resolve) => {
    const s = connect(path);
    s.once('connect', () => {
      s.destroy();
      resolve('live');
    });
    s.once('error', (e: NodeJS.ErrnoException) => {
      const code = e.code ?? e.message;
      resolve(code === 'ECONNREFUSED' ? 'stale' : code === 'ENOENT' ? 'gone' : code === 'EAGAIN' ? 'live' : code);
    });
  });
}
