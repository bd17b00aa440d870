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
 * The front's own links, read at the first call: a process's pid namespace is fixed when it is
 * made (setns and unshare change only its children's), and its user namespace changes only by
 * its own setns or unshare, which the kernel refuses a multi-threaded process — Node always is.
 * So /proc/self's links stay what they were for the front's whole life; they were read again for
 * every root connection (two per `docker exec`). Another proc root or `self` (a test's) is read
 * every time: nothing says its links stay.
 */
let ownLinks: readonly string[] | null = null;
function linksOf(procRoot: string, self: string): readonly string[] {
  const own = procRoot === '/proc' && self === 'self';
  if (own && ownLinks) return ownLinks;
  const links = HOST_NAMESPACES.map((ns) => readlinkSync(`${procRoot}/${self}/ns/${ns}`));
  if (own) ownLinks = links;
  return links;
}

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
    const own = linksOf(procRoot, self);
    return HOST_NAMESPACES.every((ns, i) => readlinkSync(`${procRoot}/${pid}/ns/${ns}`) === own[i]);
  } catch {
    return false;
  }
}
