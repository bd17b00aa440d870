import { encodeValue, loginNameOf } from '@contid/core';
import type { Change } from './api-routes';
import type { Requester } from './requesters';

/** libaudit's encoding, and hex for a `'` too: the kernel wraps the message in msg='…'. */
const enc = (v: string): string => (v.includes("'") ? Buffer.from(v, 'utf8').toString('hex').toUpperCase() : encodeValue(v));

/**
 * The audit record type of a change the front relays: libvirt's "resource assignment" of a
 * guest, so that `ausearch -m VIRT_RESOURCE --uuid ID` / `--vm-name NAME` find it. contid's own
 * readers take bindings from VIRT_CONTROL only; this one is a witness, not a binding.
 */
export const AUDIT_VIRT_RESOURCE = 2501;

/** The longest request target kept in a record (the kernel cuts a message at 8560 bytes). */
const MAX_TARGET = 1024;

/** A container a change was relayed for: its full id and name as dockerd's inspect says. */
export interface ChangedContainer {
  id: string;
  /** dockerd's Name (`/web`); null when inspect gave none. */
  name: string | null;
}

/**
 * The message of the record of a change the front relayed (outside attack 13, F9): dockerd
 * makes the change itself — a `docker cp`'s files are written by dockerd's own child, auid
 * unset — so no kernel record names who asked, and the container's note (noteChange) exists only
 * for containers made through the front. The kernel stamps the front (pid, uid 0, its exe) as
 * sender; the requester is in `requester-*` fields, every caller string encoded as libaudit
 * encodes values (quoted, or hex when it holds a quote, a space or a control — or a `'`).
 */
export function changeRecord(what: Change, c: ChangedContainer, who: Requester, request: string): string {
  const name = c.name?.replace(/^\//, '') ?? '';
  const user = loginNameOf(who.uid);
  return [
    'virt=docker',
    'resrc=container',
    `reason=${what}`,
    `vm=${name ? enc(name) : '?'}`,
    `uuid=${enc(c.id)}`,
    `requester-uid=${who.uid}`,
    `requester-user=${user === null ? '?' : enc(user)}`,
    `requester-auid=${who.auid}`,
    `requester-ses=${who.session}`,
    `requester-pid=${who.pid}`,
    `requester-exe=${enc(who.exe)}`,
    `request=${enc(request.length > MAX_TARGET ? `${request.slice(0, MAX_TARGET)}…` : request)}`,
  ].join(' ');
}
