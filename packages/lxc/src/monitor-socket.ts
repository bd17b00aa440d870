import { Socket } from 'node:net';
import { loadKoffi } from '@contid/core';

/**
 * LXC's monitor (the `[lxc monitor]` process that runs a container from before its init starts
 * until after its init and its post-stop hooks are gone, reboots included) listens on an
 * abstract unix socket named after the container. A connection that asks nothing is kept by
 * the monitor until it exits, so its end is the container's end, learnt without a post-stop
 * hook and without polling. Node 20 cannot name an abstract socket (it pads the name with NULs
 * to the whole sun_path, so the kernel looks for another name): the connect goes through libc,
 * and the connected descriptor becomes a net.Socket.
 */

const AF_UNIX = 1;
const SOCK_STREAM = 1;
const SOCK_CLOEXEC = 0o2000000;
const SUN_PATH = 108;

type Libc = {
  socket: (domain: number, type: number, protocol: number) => number;
  connect: (fd: number, addr: Buffer, len: number) => number;
  close: (fd: number) => number;
};

let libc: Libc | undefined;

function load(): Libc {
  if (!libc) {
    const lib = loadKoffi().load('libc.so.6');
    libc = {
      socket: lib.func('int socket(int domain, int type, int protocol)') as unknown as Libc['socket'],
      connect: lib.func('int connect(int fd, const uint8_t *addr, uint32_t len)') as unknown as Libc['connect'],
      close: lib.func('int close(int fd)') as unknown as Libc['close'],
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

/**
 * A connection to the monitor of LXC container NAME (in this network namespace: abstract
 * sockets belong to one), or null when none listens (the container is stopped, or its monitor
 * runs in another network namespace).
 */
export function connectMonitor(lxcPath: string, name: string): Socket | null {
  const c = load();
  const path = Buffer.from(monitorSocketName(lxcPath, name));
  const addr = Buffer.alloc(2 + 1 + path.length);
  addr.writeUInt16LE(AF_UNIX, 0);
  path.copy(addr, 3);
  const fd = c.socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return null;
  if (c.connect(fd, addr, addr.length) !== 0) {
    c.close(fd);
    return null;
  }
  const socket = new Socket({ fd, readable: true, writable: false });
  // Nothing is asked, so nothing comes but the end; an error (ECONNRESET) ends it too.
  socket.on('error', () => socket.destroy());
  socket.resume();
  return socket;
}
