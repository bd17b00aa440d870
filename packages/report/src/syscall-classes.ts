/**
 * The kernel's own classes of syscalls (include/asm-generic/audit_write.h, audit_dir_write.h,
 * audit_change_attr.h), by name: what an audit watch with `-p w` or `-p a` would record.
 * A report's "files written or changed" table uses the same rule, so it agrees with aureport
 * over the events of such a watch.
 */
const WRITE = new Set([
  // audit_dir_write.h
  'rename', 'mkdir', 'rmdir', 'creat', 'link', 'unlink', 'symlink', 'mknod', 'mkdirat', 'mknodat',
  'unlinkat', 'renameat', 'renameat2', 'linkat', 'symlinkat',
  // audit_write.h
  'acct', 'swapon', 'quotactl', 'quotactl_fd', 'truncate', 'truncate64', 'ftruncate', 'ftruncate64', 'bind', 'fallocate',
]);

const CHANGE_ATTR = new Set([
  'chmod', 'fchmod', 'fchmodat', 'fchmodat2', 'chown', 'fchown', 'lchown', 'fchownat', 'chown32', 'fchown32',
  'lchown32', 'setxattr', 'lsetxattr', 'fsetxattr', 'setxattrat', 'removexattr', 'lremovexattr', 'fremovexattr',
  'removexattrat', 'link', 'linkat', 'utime', 'utimes', 'futimesat', 'utimensat', 'file_setattr',
]);

/** open(2)-style syscalls and the argument (a0…a3) holding their flags. */
const OPEN_FLAGS_ARG: Readonly<Record<string, string>> = { open: 'a1', openat: 'a2', open_by_handle_at: 'a2' };

const O_ACCMODE = 3;

/**
 * Whether a syscall writes or changes the attributes of the files it names. `arg` reads a
 * SYSCALL argument (hex, as the kernel logs it). openat2 passes its flags in a struct the
 * log does not show, so it counts as a write only when the kernel created a file (a CREATE
 * path item), which the caller can tell from the PATH records.
 */
export function writesFiles(syscall: string, arg: (name: string) => string | undefined): boolean {
  if (WRITE.has(syscall) || CHANGE_ATTR.has(syscall)) return true;
  const flagsArg = OPEN_FLAGS_ARG[syscall];
  if (flagsArg === undefined) return false;
  const flags = parseInt(arg(flagsArg) ?? '', 16);
  // the kernel's ACC_MODE: O_WRONLY and O_RDWR (and the odd 3) are writes
  return Number.isFinite(flags) && (flags & O_ACCMODE) !== 0;
}

/** The socket calls a report lists with their addresses. */
export const NETWORK_CALLS: ReadonlySet<string> = new Set(['connect', 'bind', 'accept', 'accept4', 'listen', 'sendto', 'sendmsg']);
