import { AUDIT_UNSET, CAP_AUDIT_CONTROL, CAP_AUDIT_WRITE, effectiveCaps, hasCap, readSessionId } from '@contid/core';
import { readlinkSync } from 'node:fs';
import { PeerCredentials } from './peer-credentials';

/** Who sent a request, from the kernel (SO_PEERCRED, /proc), never from the request itself. */
export interface Caller extends PeerCredentials {
  /** The caller's audit session at the time of the request (it may have renewed after connecting). */
  session: number;
  caps: bigint;
  /** pid namespace inode: places the caller in a container. */
  pidNamespace: number | null;
}

export class CallerGoneError extends Error {
  override name = 'CallerGoneError';
}

function pidNamespace(pid: number, procRoot: string): number | null {
  try {
    const m = /\[(\d+)\]/.exec(readlinkSync(`${procRoot}/${pid}/ns/pid`));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

/** Reads the caller's session and capabilities now; throws CallerGoneError when it has exited. */
export function identifyCaller(cred: PeerCredentials, procRoot = '/proc'): Caller {
  try {
    return {
      ...cred,
      session: readSessionId(cred.pid, procRoot),
      caps: effectiveCaps(cred.pid, procRoot),
      pidNamespace: pidNamespace(cred.pid, procRoot),
    };
  } catch {
    throw new CallerGoneError(`caller pid ${cred.pid} is gone`);
  }
}

/** The host channel's bar: real root holding both audit capabilities, as the direct CLI needs. */
export function isHostOrchestrator(c: Caller): boolean {
  return c.uid === 0 && hasCap(CAP_AUDIT_CONTROL, c.caps) && hasCap(CAP_AUDIT_WRITE, c.caps);
}

export function describeCaller(c: Caller): string {
  return `pid ${c.pid} uid ${c.uid} ses ${c.session === AUDIT_UNSET ? 'unset' : c.session}`;
}
