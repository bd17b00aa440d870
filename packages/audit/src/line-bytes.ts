/*
 * Byte tests on a line's head, called for nearly every line of a log by the first pass of
 * `search` and by `contid index`: plain loops over the few bytes they look at, no call into
 * Buffer's native methods (each such call costs more than reading the bytes: a per-line
 * indexOf/compare made up most of the first pass's time).
 */

/** True when `needle`'s bytes are at `buf[at…]`, wholly before `limit`. */
export function bytesAt(buf: Buffer, at: number, limit: number, needle: Buffer): boolean {
  const n = needle.length;
  if (at < 0 || at + n > limit) return false;
  for (let k = 0; k < n; k++) if (buf[at + k] !== needle[k]) return false;
  return true;
}

/** The first position in [from, to) where `needle` lies wholly before `to`, or -1 (for short distances: a plain loop). */
export function findBytes(buf: Buffer, from: number, to: number, needle: Buffer): number {
  const first = needle[0];
  for (let i = from, last = to - needle.length; i <= last; i++) if (buf[i] === first && bytesAt(buf, i, to, needle)) return i;
  return -1;
}

/** Record types that can carry a binding: the only lines the first pass decodes. */
const BINDING_MARKERS = ['type=LOGIN ', 'type=VIRT_CONTROL ', 'type=USER ', 'type=CONTAINER_OP ', 'type=UNKNOWN[1020] '].map((s) => Buffer.from(s));

/** Where `type=` starts, after an optional `node=X ` prefix (a line starting with `n`: up to its first blank, at most 256 bytes on); -1 when the head is not a record's. */
export function typeAt(buf: Buffer, start: number, end: number): number {
  if (buf[start] !== 0x6e /* n: node=X */) return start;
  for (let sp = start + 1, last = Math.min(end - 1, start + 256); sp <= last; sp++) if (buf[sp] === 0x20) return sp + 1;
  return -1;
}

/** Byte test for `[node=X ]type=<binding type> `: no decoding, no search past the line head. */
export function isBindingLine(buf: Buffer, start: number, end: number): boolean {
  const t = typeAt(buf, start, end);
  if (t < 0) return false;
  const first = buf[t + 5];
  if (first !== 0x4c && first !== 0x56 && first !== 0x43 && first !== 0x55) return false; // L V C U
  for (const marker of BINDING_MARKERS) if (bytesAt(buf, t, end, marker)) return true;
  return false;
}

const SYSCALL_HEAD = Buffer.from('type=SYSCALL ');
const SYSCALL_FIELD = Buffer.from(' syscall=');
/** pivot_root and setns: x86_64 155 and 308, i386 217 and 346 (the arch is checked on parsing). */
const ENTRY_SYSCALLS = ['155 ', '308 ', '217 ', '346 '].map((s) => Buffer.from(s));

/**
 * Byte test for the SYSCALL line of a setns or pivot_root: a process entering a container's
 * root (see entries.ts). Rare lines, decoded in the first pass with the bindings.
 */
export function isEntryLine(buf: Buffer, start: number, end: number): boolean {
  const t = typeAt(buf, start, end);
  if (t < 0 || buf[t + 5] !== 0x53 /* S */ || !bytesAt(buf, t, end, SYSCALL_HEAD)) return false;
  const at = findBytes(buf, t + SYSCALL_HEAD.length, end, SYSCALL_FIELD);
  if (at < 0) return false;
  for (const s of ENTRY_SYSCALLS) if (bytesAt(buf, at + SYSCALL_FIELD.length, end, s)) return true;
  return false;
}
