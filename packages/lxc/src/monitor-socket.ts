import { Socket } from 'node:net';
import { readFileSync, readdirSync, readlinkSync, statSync } from 'node:fs';
import { loadKoffi } from '@contid/core';
import { isMonitorProcess } from './monitor-process';

/**
 * LXC's monitor (the `[lxc monitor]` process that runs a container from before its init starts
 * until after its init and its post-stop hooks are gone, reboots included) listens on an
 * abstract unix socket named after the container. A connection that asks nothing is kept by
 * the monitor until it exits, so its end is the container's end, learnt without a post-stop
 * hook and without polling. Node 20 cannot name an abstract socket (it pads the name with NULs
 * to the whole sun_path, so the kernel looks for another name): the connect goes through libc,
 * and the connected descriptor becomes a net.Socket.
 *
 * An abstract name has no owner and no permission: any user in the network namespace can bind
 * a stopped container's name (or take it in a reboot's window) — with a full backlog a blocking
 * connect would wait for ever on serve's event loop, and an accepted connection would let her
 * decide when the container "ends". So the connect never blocks (SOCK_NONBLOCK: a full backlog
 * is EAGAIN), and a connection is used only when its peer is root (SO_PEERCRED, fixed when the
 * peer listened, so nobody else can forge it) and the container's own monitor process holds the
 * socket listening under that name.
 */

const AF_UNIX = 1;
const SOCK_STREAM = 1;
const SOCK_NONBLOCK = 0o4000;
const SOCK_CLOEXEC = 0o2000000;
const SOL_SOCKET = 1;
const SO_PEERCRED = 17;
const EAGAIN = 11;
const EINPROGRESS = 115;
const SUN_PATH = 108;

type Libc = {
  socket: (domain: number, type: number, protocol: number) => number;
  connect: (fd: number, addr: Buffer, len: number) => number;
  getsockopt: (fd: number, level: number, name: number, value: Buffer, len: Buffer) => number;
  close: (fd: number) => number;
  errno: () => number;
};

let libc: Libc | undefined;

function load(): Libc {
  if (!libc) {
    const koffi = loadKoffi();
    const lib = koffi.load('libc.so.6');
    libc = {
      socket: lib.func('int socket(int domain, int type, int protocol)') as unknown as Libc['socket'],
      connect: lib.func('int connect(int fd, const uint8_t *addr, uint32_t len)') as unknown as Libc['connect'],
      getsockopt: lib.func('int getsockopt(int fd, int level, int name, _Inout_ uint8_t *value, _Inout_ uint8_t *len)') as unknown as Libc['getsockopt'],
      close: lib.func('int close(int fd)') as unknown as Libc['close'],
      errno: () => koffi.errno(),
    };
  }
  return libc;
}

/** FNV-1a, 64 bits: what LXC hashes a too-long socket name with (lxc_make_abstract_socket_name). */
function fnv1a64(text: string): bigint {
  let h = 0xcbf29ce484222325n;
  for (const byte of Buffer.from(text)) h = ((h ^ BigInt(byte)) * 0x100000001b3n) & 0xffffffffffffffffn;
  return h;
}

/** The monitor's command socket name (without the leading NUL), as LXC 4/5 make it. */
export function monitorSocketName(lxcPath: string, name: string): string {
  const plain = `${lxcPath}/${name}/command`;
  // Room in sun_path: the leading NUL and a trailing one LXC keeps.
  if (Buffer.byteLength(plain) < SUN_PATH - 2) return plain;
  return `lxc/${fnv1a64(`${lxcPath}/${name}`).toString(16).padStart(16, '0')}/command`;
}

/** The process that listened on the other end (SO_PEERCRED). */
export interface Peer {
  pid: number;
  uid: number;
}

/**
 * What a connect to a container's monitor socket gave:
 * - `monitor`: the connection, its peer checked;
 * - `none`: nothing listens under the name (stopped, or another network namespace);
 * - `busy`: something listens but takes no connection now (a full backlog);
 * - `refused`: something answered that is not the container's monitor (closed, not used).
 */
export type MonitorConnection =
  | { kind: 'monitor'; socket: Socket }
  | { kind: 'none' }
  | { kind: 'busy' }
  | { kind: 'refused'; peer: Peer | null; why: string };

/**
 * Connects, without blocking, to the monitor of LXC container NAME under LXCPATH, expected to
 * be process MONITORPID (null: not known, so nothing that answers can be trusted).
 */
export function connectMonitor(lxcPath: string, name: string, monitorPid: number | null): MonitorConnection {
  const c = load();
  const socketName = monitorSocketName(lxcPath, name);
  const path = Buffer.from(socketName);
  const addr = Buffer.alloc(2 + 1 + path.length);
  addr.writeUInt16LE(AF_UNIX, 0);
  path.copy(addr, 3);
  const fd = c.socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return { kind: 'none' };
  if (c.connect(fd, addr, addr.length) !== 0) {
    const errno = c.errno();
    c.close(fd);
    return errno === EAGAIN || errno === EINPROGRESS ? { kind: 'busy' } : { kind: 'none' };
  }
  const why = untrusted(fd, lxcPath, name, socketName, monitorPid);
  if (why !== null) {
    c.close(fd);
    return { kind: 'refused', peer: why.peer, why: why.why };
  }
  const socket = new Socket({ fd, readable: true, writable: false });
  // Nothing is asked, so nothing comes but the end; an error (ECONNRESET) ends it too.
  socket.on('error', () => socket.destroy());
  socket.resume();
  return { kind: 'monitor', socket };
}

/** Why the connected FD's peer is not NAME's monitor, or null when it is. */
function untrusted(fd: number, lxcPath: string, name: string, socketName: string, monitorPid: number | null): { peer: Peer | null; why: string } | null {
  const peer = peerOf(fd);
  if (peer === null) return { peer, why: 'its credentials cannot be read' };
  if (peer.uid !== 0) return { peer, why: 'not root' };
  if (monitorPid === null) return { peer, why: `${name}'s monitor process is not known` };
  if (!isMonitorProcess(monitorPid, lxcPath, name)) return { peer, why: `process ${monitorPid} is not ${name}'s monitor` };
  if (!holdsListener(monitorPid, socketName)) return { peer, why: `${name}'s monitor (pid ${monitorPid}) does not hold the socket listening under that name` };
  return null;
}

function peerOf(fd: number): Peer | null {
  const value = Buffer.alloc(12);
  const len = Buffer.alloc(4);
  len.writeUInt32LE(12, 0);
  if (load().getsockopt(fd, SOL_SOCKET, SO_PEERCRED, value, len) !== 0) return null;
  return { pid: value.readInt32LE(0), uid: value.readUInt32LE(4) };
}

/**
 * PID holds the unix socket listening under abstract name NAME in this network namespace: the
 * name is unique there, so whoever holds its listener is whom a connect to it reached — our
 * peer was root (checked before), and root is whom the name's listener belongs to.
 */
function holdsListener(pid: number, socketName: string): boolean {
  const held = new Set(listenerInodes(`@${socketName}`).map((inode) => `socket:[${inode}]`));
  if (held.size === 0) return false;
  try {
    return readdirSync(`/proc/${pid}/fd`).some((fd) => held.has(readlinkOrNull(`/proc/${pid}/fd/${fd}`) ?? ''));
  } catch {
    return false;
  }
}

/**
 * Who holds the socket listening under NAME's monitor socket name when NAME has no monitor
 * (someone squats it: LXC cannot start NAME then, and lxc-ls or lxc-info wait on it for ever).
 * Found without connecting: the listener's inode from /proc/net/unix, then the processes that
 * hold it. Empty when nothing listens; a walk of /proc otherwise, so only for that anomaly.
 */
export function squatters(lxcPath: string, name: string, procRoot = '/proc'): Peer[] {
  const held = new Set(listenerInodes(`@${monitorSocketName(lxcPath, name)}`).map((inode) => `socket:[${inode}]`));
  if (held.size === 0) return [];
  const found: Peer[] = [];
  for (const entry of readdirSync(procRoot)) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (!readdirSync(`${procRoot}/${entry}/fd`).some((fd) => held.has(readlinkOrNull(`${procRoot}/${entry}/fd/${fd}`) ?? ''))) continue;
      found.push({ pid: Number(entry), uid: statSync(`${procRoot}/${entry}`).uid });
    } catch {
      // gone, or not ours to read
    }
  }
  return found;
}

function readlinkOrNull(path: string): string | null {
  try {
    return readlinkSync(path);
  } catch {
    return null;
  }
}

/**
 * The inodes of the listening unix sockets shown as PATH (`@…` for an abstract name) in
 * /proc/net/unix. Every one: /proc/net/unix prints a pathname socket bound at the *relative*
 * path `@/var/lib/lxc/N/command` exactly like the abstract name, so any local user can add a
 * line that reads like the monitor's (outside attack 11, L2: taking only the first line made
 * serve refuse the real monitor).
 */
function listenerInodes(path: string): string[] {
  // Num RefCount Protocol Flags Type St Inode Path; a listener has __SO_ACCEPTCON (00010000) in Flags.
  const inodes: string[] = [];
  for (const line of readFileSync('/proc/net/unix', 'latin1').split('\n')) {
    if (!line.endsWith(path)) continue;
    const f = line.split(' ');
    if (f.length >= 8 && f[3] === '00010000' && f.slice(7).join(' ') === path) inodes.push(f[6]);
  }
  return inodes;
}
