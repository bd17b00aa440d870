import { createHash } from 'node:crypto';
import { type BigIntStats, lstatSync } from 'node:fs';
import { dirname } from 'node:path';
import { type Requester, formatRequester, parseRequester } from './requesters';

/**
 * Who made a named volume through the front (outside attack 11, V3): a caller other than host
 * root may mount, and remove, only the named volumes she made — a plain volume of root's (a
 * database's data, the scripts a root service runs) mounted by her was hers to read and to
 * write what root's container ran next.
 *
 * A volume's name is no identity: it can be removed and made again by someone else. dockerd's
 * own `CreatedAt` is none either: dockerd 20.10's local driver reports the ctime of the volume's
 * `_data` directory, which every file written into the volume changes. So a note says which
 * call made the volume — who asked and when the call went to dockerd and came back — and a volume
 * is the note's only when its directory (the local driver's `volumes/NAME`, the parent of its
 * Mountpoint, never a mount point itself) was born within that call: a volume root makes under
 * the name later is born later, whoever's note is left.
 */
export interface VolumeNote {
  uid: number;
  name: string;
  /** Wall-clock nanoseconds: when the call that made it went to dockerd, and when dockerd answered. */
  since: bigint;
  until: bigint;
}

/** The note key of volume `name` (notes are keyed by 64 hex digits; a name may be any of dockerd's). */
export const volumeKey = (name: string): string => createHash('sha256').update(name).digest('hex');

/** Wall-clock now in nanoseconds (Date.now: what the kernel stamps a new directory with, to its tick). */
export const nowNs = (): bigint => BigInt(Date.now()) * 1_000_000n;

/**
 * The kernel stamps a directory's birth with its coarse clock, up to a tick (10 ms at HZ=100)
 * behind the clock Date.now reads, and Date.now drops the sub-millisecond part: 50 ms either side
 * covers both. A volume root makes under the name later than that is not hers.
 */
const SLACK_NS = 50_000_000n;

export function formatVolumeNote(who: Requester, name: string, since: bigint, until: bigint): string {
  return `${formatRequester(who)}volume=${name}\nsince=${since}\nuntil=${until}\n`;
}

export function parseVolumeNote(text: string): VolumeNote | null {
  const who = parseRequester(text);
  const field = (k: string): string | undefined => text.split('\n').find((l) => l.startsWith(`${k}=`))?.slice(k.length + 1);
  const [name, since, until] = [field('volume'), field('since'), field('until')];
  if (!who || name === undefined || !/^\d+$/.test(since ?? '') || !/^\d+$/.test(until ?? '')) return null;
  return { uid: who.uid, name, since: BigInt(since!), until: BigInt(until!) };
}

/**
 * When the local volume whose Mountpoint is `mountpoint` was made: the birth time of its
 * directory (the Mountpoint's parent), or its ctime on a file system that keeps no birth time (it
 * changes only when entries are added to it or removed, which dockerd does only as it makes the
 * volume). Null when there is no such directory.
 */
export function volumeBorn(mountpoint: string, lstat: (p: string) => BigIntStats = (p) => lstatSync(p, { bigint: true })): bigint | null {
  if (!mountpoint.startsWith('/')) return null;
  try {
    const st = lstat(dirname(mountpoint));
    if (!st.isDirectory()) return null;
    return st.birthtimeNs > 0n ? st.birthtimeNs : st.ctimeNs;
  } catch {
    return null;
  }
}

/** The uid `note` names as the maker of volume `name` born at `born` (null: the note is not of this volume). */
export function volumeMaker(note: VolumeNote | null, name: string, born: bigint | null): number | null {
  if (!note || born === null || note.name !== name) return null;
  return born >= note.since - SLACK_NS && born <= note.until + SLACK_NS ? note.uid : null;
}
