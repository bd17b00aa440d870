import { constants } from 'node:os';
import { passwdEntries } from '@contid/core';
import { bytesToText } from '@contid/audit';

/*
 * The few interpretations a report needs beyond @contid/audit's (syscall names come from its
 * libaudit tables): errno names, socket addresses and user names as single values.
 * @contid/audit's libauparse interpreter renders whole events only; TO REPLACE with a
 * per-field call into it (auparse_do_interpretation on one name=value) once it offers one.
 */

const errnoNames = new Map<number, string>(Object.entries(constants.errno).map(([name, n]) => [n, name]));

/** `-2` → `ENOENT` (Node's table of the host's errno names); the number itself when unknown. */
export function errnoName(exit: string): string {
  const n = Number(exit);
  if (!Number.isInteger(n) || n >= 0) return exit;
  return errnoNames.get(-n) ?? exit;
}

/** A SOCKADDR record's `saddr=` hex as text: `127.0.0.1:9`, `[::1]:443`, `unix:/run/x.sock`, `netlink`. */
export function sockaddrText(hex: string): string {
  if (!/^[0-9A-Fa-f]*$/.test(hex) || hex.length < 4) return `saddr=${hex}`;
  const b = Buffer.from(hex, 'hex');
  const family = b.readUInt16LE(0);
  switch (family) {
    case 1: {
      const path = b.subarray(2);
      if (path.length === 0) return 'unix:(unnamed)';
      // an abstract name starts with a NUL; ausearch shows it with a leading @
      if (path[0] === 0) return `unix:@${pathText(path.subarray(1)).replace(/\0+$/, '')}`;
      const end = path.indexOf(0);
      return `unix:${pathText(path.subarray(0, end < 0 ? path.length : end))}`;
    }
    case 2:
      if (b.length < 8) break;
      return `${b[4]}.${b[5]}.${b[6]}.${b[7]}:${b.readUInt16BE(2)}`;
    case 10: {
      if (b.length < 24) break;
      const groups: number[] = [];
      for (let i = 8; i < 24; i += 2) groups.push(b.readUInt16BE(i));
      return `[${ipv6Text(groups)}]:${b.readUInt16BE(2)}`;
    }
    case 16:
      return b.length >= 8 ? `netlink:pid=${b.readUInt32LE(4)}` : 'netlink';
    case 17:
      return 'packet';
    case 0:
      return 'unspec';
  }
  return `family ${family}`;
}

/**
 * A socket path's bytes as text, as report's other names are (facts.ts exactValue): UTF-8
 * decoded, an invalid byte as \ooo, and a backslash of the path itself as \134 so the two
 * never read alike.
 */
function pathText(bytes: Buffer): string {
  return bytesToText(bytes.toString('latin1').replace(/\\/g, '\\134'), { escapeControls: false });
}

/** RFC 5952: the longest run (≥ 2) of zero groups becomes `::`. */
function ipv6Text(groups: number[]): string {
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best < 0) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
}

let passwd: Map<string, string> | undefined;

/** The host's name for a uid (aureport -i looks names up on the host too); the number when none. */
export function userName(uid: string): string {
  if (uid === '4294967295' || uid === '-1') return 'unset';
  if (!passwd) {
    passwd = new Map();
    // the first line naming a uid, as getpwuid answers; no file: numbers only
    for (const { name, uid: id } of passwdEntries()) if (!passwd.has(String(id))) passwd.set(String(id), name);
  }
  return passwd.get(uid) ?? uid;
}
