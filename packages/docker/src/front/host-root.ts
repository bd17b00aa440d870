import { readlinkSync } from 'node:fs';

/**
 * The namespaces that make uid 0 the host's root rather than a container's: a process in
 * another pid namespace (every container but a `--pid host` one, which non-root callers may not
 * create) or another user namespace (a rootless or userns-remapped container) is root of that
 * container only, whatever SO_PEERCRED's uid says — the usual `-v /var/run/docker.sock` hands
 * the front's socket to such a root.
 */
const HOST_NAMESPACES = ['pid', 'user'] as const;

/**
 * Whether the client `pid` with SO_PEERCRED uid `uid` is the host's root: uid 0 and in the
 * front's own pid and user namespaces. Its audit session was the other choice of mark, but a
 * session bound to a container is only known to contid's registry (not the front's), and host
 * root may well sit in a session contid bound (an admin's `docker exec` shell). Anything that
 * cannot be read is not root. The caller pins `pid` (SO_PEERPIDFD) around this read.
 */
export function isHostRoot(pid: number, uid: number, procRoot = '/proc', self = 'self'): boolean {
  if (uid !== 0) return false;
  try {
    return HOST_NAMESPACES.every((ns) => readlinkSync(`${procRoot}/${pid}/ns/${ns}`) === readlinkSync(`${procRoot}/${self}/ns/${ns}`));
  } catch {
    return false;
  }
}
