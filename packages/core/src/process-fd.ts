import { closeSync } from 'node:fs';
import { loadKoffi } from './native-modules';

type Syscall = (nr: number, ...args: unknown[]) => number;
let syscall: Syscall | undefined;

const SYS_PIDFD_OPEN = 434;
const SYS_PIDFD_GETFD = 438; // both the same on x86_64 and arm64

/**
 * A copy of another process's file descriptor (pidfd_open + pidfd_getfd, Linux ≥ 5.6; needs
 * ptrace access to it, e.g. root). Unlike opening /proc/PID/fd/N it works for sockets too (a
 * Node parent's stdio is a socketpair) and shares the file's offset. Null when it cannot.
 */
export function copyProcessFd(pid: number, fd: number): number | null {
  if (process.arch !== 'x64' && process.arch !== 'arm64') return null; // the numbers above are the generic table's
  if (!syscall) syscall = loadKoffi().load('libc.so.6').func('long syscall(long number, ...)') as Syscall;
  const pidfd = syscall(SYS_PIDFD_OPEN, 'int', pid, 'uint', 0);
  if (pidfd < 0) return null;
  try {
    const copy = syscall(SYS_PIDFD_GETFD, 'int', pidfd, 'int', fd, 'uint', 0);
    return copy < 0 ? null : copy;
  } finally {
    closeSync(pidfd);
  }
}
