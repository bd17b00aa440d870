import { readFileSync } from 'node:fs';
import { PrivilegeError } from './errors';

/** Capability numbers from linux/capability.h. */
export const CAP_AUDIT_WRITE = 29;
export const CAP_AUDIT_CONTROL = 30;
export const CAP_AUDIT_READ = 37;
export const CAP_SYS_ADMIN = 21;

const NAMES: Record<number, string> = {
  [CAP_AUDIT_WRITE]: 'CAP_AUDIT_WRITE',
  [CAP_AUDIT_CONTROL]: 'CAP_AUDIT_CONTROL',
  [CAP_AUDIT_READ]: 'CAP_AUDIT_READ',
};

/** Effective capability set of a process, from /proc/PID/status. */
export function effectiveCaps(pid: number | 'self' = 'self', procRoot = '/proc'): bigint {
  const status = readFileSync(`${procRoot}/${pid}/status`, 'utf8');
  const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(status);
  return m ? BigInt('0x' + m[1]) : 0n;
}

/**
 * Every capability a process holds or can come to hold: its bounding set, and its permitted,
 * effective, inheritable and ambient sets. The bounding set alone is not it: a process that
 * dropped a capability from its bounding set keeps it in its permitted set, and root's next
 * execve gives it back from the inheritable one (`setpriv --inh-caps +audit_control setpriv
 * --bounding-set -audit_control sh` still writes /proc/self/loginuid; outside attack 15, F4).
 */
export function heldCaps(pid: number | 'self' = 'self', procRoot = '/proc'): bigint {
  const status = readFileSync(`${procRoot}/${pid}/status`, 'utf8');
  let all = 0n;
  for (const set of ['CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb']) {
    const m = new RegExp(`^${set}:\\s*([0-9a-f]+)$`, 'm').exec(status);
    if (m) all |= BigInt('0x' + m[1]);
  }
  return all;
}

export function hasCap(cap: number, caps = effectiveCaps()): boolean {
  return ((caps >> BigInt(cap)) & 1n) === 1n;
}

/** Throws one clear line naming every missing capability. */
export function requireCaps(caps: number[], what: string, have = effectiveCaps()): void {
  const missing = caps.filter((c) => !hasCap(c, have)).map((c) => NAMES[c] ?? `cap ${c}`);
  if (missing.length > 0) {
    throw new PrivilegeError(`${what} needs ${missing.join(' and ')} (run as root on the host, not inside a container)`);
  }
}

/** The capabilities tagging needs: renewing a set loginuid and writing audit records. */
export const TAGGING_CAPS = [CAP_AUDIT_CONTROL, CAP_AUDIT_WRITE];
