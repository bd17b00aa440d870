import { existsSync } from 'node:fs';
import { loadKoffi } from '@contid/core';
import { Invocation, unitCgroupOf, unitOfCgroup } from './invocation';

/**
 * The invocation PID 1 runs for a unit, read from the unit's cgroup: systemd writes the
 * `trusted.invocation_id` xattr on it at each start (32 hex). Only `trusted.`: a process
 * without CAP_SYS_ADMIN can neither write nor read it, whereas `user.invocation_id` (also set
 * by newer systemd) is writable by whoever owns the cgroup — a Delegate=yes unit's service
 * user. Node has no getxattr: it goes through libc (koffi), as contid reaches libc elsewhere.
 *
 * - `id`: what PID 1 runs now;
 * - `gone`: the unit's cgroup no longer exists (the invocation ended before serve looked);
 * - `unknown`: no answer (no CAP_SYS_ADMIN, a systemd that does not set it, no libc).
 */
export type CgroupInvocation = { kind: 'id'; id: string } | { kind: 'gone' } | { kind: 'unknown'; why: string };

/** Where the unit's cgroup may be mounted: cgroup v2, v2 in hybrid mode, v1's name=systemd. */
export const CGROUP_ROOTS = ['/sys/fs/cgroup', '/sys/fs/cgroup/unified', '/sys/fs/cgroup/systemd'] as const;

const XATTR = 'trusted.invocation_id';

type Getxattr = (path: string, name: string, value: Buffer, size: number) => number;
let getxattr: Getxattr | null | undefined;

function libcGetxattr(): Getxattr | null {
  if (getxattr === undefined) {
    try {
      getxattr = loadKoffi().load('libc.so.6').func('long getxattr(const char *path, const char *name, _Out_ uint8_t *value, size_t size)') as Getxattr;
    } catch {
      getxattr = null;
    }
  }
  return getxattr;
}

/** The invocation systemd recorded on the unit cgroup `cgroup` (a path as /proc/PID/cgroup gives it). */
export function cgroupInvocation(cgroup: string, roots: readonly string[] = CGROUP_ROOTS): CgroupInvocation {
  // The path comes from a spool entry: never anything but a plain absolute path below a root.
  if (!cgroup.startsWith('/') || cgroup.split('/').some((p) => p === '..' || p === '.') || cgroup.includes('\0')) {
    return { kind: 'unknown', why: 'not a cgroup path' };
  }
  const dirs = roots.map((r) => `${r}${cgroup === '/' ? '' : cgroup}`).filter((d) => existsSync(d));
  if (!dirs.length) return { kind: 'gone' };
  const get = libcGetxattr();
  if (!get) return { kind: 'unknown', why: 'getxattr unavailable' };
  const value = Buffer.alloc(64);
  for (const dir of dirs) {
    const n = get(dir, XATTR, value, value.length);
    const text = n > 0 ? value.subarray(0, n).toString('latin1') : '';
    if (/^[0-9a-f]{32}$/.test(text)) return { kind: 'id', id: text };
  }
  return { kind: 'unknown', why: `no ${XATTR} on ${dirs.join(', ')}` };
}

/**
 * The id a line names is its unit's environment's: systemd merges the unit's own Environment=,
 * EnvironmentFile= after its own, so a confined unit's service user can set `INVOCATION_ID=`
 * for contid's root bind line (outside attack 17, F4/F5). The invocation bound is the one PID 1
 * runs: the unit cgroup's trusted.invocation_id (cgroup-invocation.ts). Returns that id when it
 * differs from the line's; null when they agree, or when the cgroup is gone (the run ended
 * before serve looked: its end comes from PID 1) or gives no answer (bound as before).
 */
export function forgedInvocation(inv: Invocation): string | null {
  const cgroup = unitCgroupOf(inv);
  // Only the unit's own cgroup (the line's, as systemd placed it) says what that unit runs.
  if (unitOfCgroup(cgroup) !== inv.unit) return null;
  const real = cgroupInvocation(cgroup);
  return real.kind === 'id' && real.id !== inv.invocationId ? real.id : null;
}
