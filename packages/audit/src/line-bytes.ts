/** Record types that can carry a binding: the only lines the first pass decodes. */
const BINDING_MARKERS = ['type=LOGIN ', 'type=VIRT_CONTROL ', 'type=USER ', 'type=CONTAINER_OP ', 'type=UNKNOWN[1020] '].map((s) => Buffer.from(s));

/** Where `type=` starts, after an optional `node=X ` prefix; -1 when the head is not a record's. */
function typeAt(buf: Buffer, start: number): number {
  if (buf[start] !== 0x6e /* n: node=X */) return start;
  const sp = buf.indexOf(0x20, start);
  return sp < 0 || sp - start > 256 ? -1 : sp + 1;
}

/** Byte test for `[node=X ]type=<binding type> `: no decoding, no search past the line head. */
export function isBindingLine(buf: Buffer, start: number, end: number): boolean {
  const t = typeAt(buf, start);
  if (t < 0) return false;
  const first = buf[t + 5];
  if (first !== 0x4c && first !== 0x56 && first !== 0x43 && first !== 0x55) return false; // L V C U
  for (const marker of BINDING_MARKERS) if (t + marker.length <= end && buf.compare(marker, 0, marker.length, t, t + marker.length) === 0) return true;
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
  const t = typeAt(buf, start);
  if (t < 0 || buf[t + 5] !== 0x53 /* S */ || t + SYSCALL_HEAD.length > end || buf.compare(SYSCALL_HEAD, 0, SYSCALL_HEAD.length, t, t + SYSCALL_HEAD.length) !== 0) return false;
  const at = buf.indexOf(SYSCALL_FIELD, t + SYSCALL_HEAD.length);
  const v = at + SYSCALL_FIELD.length;
  if (at < 0 || v + 4 > end) return false;
  for (const s of ENTRY_SYSCALLS) if (buf.compare(s, 0, 4, v, v + 4) === 0) return true;
  return false;
}
