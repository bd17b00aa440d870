import koffi from 'koffi';
import type { Socket } from 'node:net';
import { ContidError } from '@contid/core';

/** The kernel's word on who is at the other end of a unix socket (struct ucred). */
export interface PeerCredentials {
  /** In the service's pid namespace: the kernel translates it, so a container cannot lie. */
  pid: number;
  uid: number;
  gid: number;
}

const SOL_SOCKET = 1;
const SO_PEERCRED = 17;
const UCRED_SIZE = 12; // three 32-bit ints: pid, uid, gid

const SO_PEERPIDFD = 77; // Linux 6.5
const ENOPROTOOPT = 92;

type GetSockOpt = (fd: number, level: number, name: number, value: Buffer, length: number[]) => number;
type PidfdSendSignal = (pidfd: number, sig: number, info: null, flags: number) => number;
let getsockopt: GetSockOpt | undefined;
let pidfdSendSignal: PidfdSendSignal | undefined;
let libc: koffi.IKoffiLib | undefined;

function load(): GetSockOpt {
  if (!getsockopt) {
    libc ??= koffi.load('libc.so.6');
    getsockopt = libc.func('int getsockopt(int fd, int level, int name, _Out_ uint8_t *value, _Inout_ uint32_t *length)') as GetSockOpt;
  }
  return getsockopt;
}

/** Node keeps the descriptor on the socket's libuv handle; it is not public API. */
function fdOf(socket: Socket): number {
  const handle = (socket as unknown as { _handle?: { fd?: number } })._handle;
  if (typeof handle?.fd !== 'number' || handle.fd < 0) throw new ContidError('unix socket has no file descriptor (closed?)');
  return handle.fd;
}

/** SO_PEERCRED of an accepted unix-socket connection: set by the kernel at connect time. */
export function peerCredentials(socket: Socket): PeerCredentials {
  const value = Buffer.alloc(UCRED_SIZE);
  const length = [UCRED_SIZE];
  if (load()(fdOf(socket), SOL_SOCKET, SO_PEERCRED, value, length) !== 0 || length[0] !== UCRED_SIZE) {
    throw new ContidError(`getsockopt(SO_PEERCRED) failed: errno ${koffi.errno()}`);
  }
  return { pid: value.readInt32LE(0), uid: value.readUInt32LE(4), gid: value.readUInt32LE(8) };
}

/**
 * SO_PEERPIDFD: a pidfd for the very process that connected (not whatever has its pid now),
 * or null where the kernel has no such option (before 6.5). Throws when the kernel cannot give
 * one (the peer is gone). The caller closes it.
 */
export function peerPidfd(socket: Socket): number | null {
  const value = Buffer.alloc(4);
  const length = [4];
  if (load()(fdOf(socket), SOL_SOCKET, SO_PEERPIDFD, value, length) !== 0) {
    const errno = koffi.errno();
    if (errno === ENOPROTOOPT) return null;
    throw new ContidError(`getsockopt(SO_PEERPIDFD) failed: errno ${errno}`);
  }
  return value.readInt32LE(0);
}

/**
 * Whether the process a pidfd names has not been reaped yet (running, or a zombie): only then
 * can its pid not have been given to another process, so what /proc/<pid> said was its own.
 */
export function pidfdProcessExists(pidfd: number): boolean {
  if (!pidfdSendSignal) {
    libc ??= koffi.load('libc.so.6');
    pidfdSendSignal = libc.func('int pidfd_send_signal(int pidfd, int sig, void *info, unsigned int flags)') as PidfdSendSignal;
  }
  return pidfdSendSignal(pidfd, 0, null, 0) === 0;
}
