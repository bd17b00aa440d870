import type { Server } from 'node:net';

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
