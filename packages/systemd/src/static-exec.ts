import { closeSync, openSync, readSync, statSync } from 'node:fs';

/** The busybox contid's own root lines start through: Debian's busybox-static installs it here. */
export const STATIC_BUSYBOX = '/bin/busybox';

const PT_INTERP = 3;

/** Bytes [offset, offset+length) of an open file (short at its end). */
function readAt(fd: number, offset: number, length: number): Buffer {
  const buf = Buffer.alloc(length);
  return buf.subarray(0, readSync(fd, buf, 0, length, offset));
}

/** Whether an ELF file names a program interpreter (the dynamic loader, which honours LD_PRELOAD). */
function hasInterpreter(fd: number): boolean | string {
  const head = readAt(fd, 0, 64);
  if (head.length < 52 || head.readUInt32BE(0) !== 0x7f454c46) return 'not an ELF executable';
  const wide = head[4] === 2;
  const le = head[5] === 1;
  const u16 = (b: Buffer, o: number) => (le ? b.readUInt16LE(o) : b.readUInt16BE(o));
  const u32 = (b: Buffer, o: number) => (le ? b.readUInt32LE(o) : b.readUInt32BE(o));
  if (wide && head.length < 64) return 'a truncated ELF header';
  const phoff = wide ? Number(le ? head.readBigUInt64LE(32) : head.readBigUInt64BE(32)) : u32(head, 28);
  const phentsize = u16(head, wide ? 54 : 42);
  const phnum = u16(head, wide ? 56 : 44);
  if (phentsize < 4 || phnum === 0 || phnum > 256) return 'no program headers';
  const table = readAt(fd, phoff, phentsize * phnum);
  if (table.length < phentsize * phnum) return 'a truncated program header table';
  for (let i = 0; i < phnum; i++) if (u32(table, i * phentsize) === PT_INTERP) return true;
  return false;
}

/**
 * Why PATH cannot start a root line without the unit's environment reaching it, or null when it
 * can: a root-owned executable no one else may write, linked statically (an ELF file without a
 * program interpreter, so no dynamic loader reads LD_PRELOAD or LD_LIBRARY_PATH).
 */
export function notStaticRootExecutable(path: string): string | null {
  let fd: number;
  try {
    const st = statSync(path);
    if (!st.isFile() || (st.mode & 0o111) === 0) return `${path} is not an executable file`;
    if (st.uid !== 0 || (st.mode & 0o022) !== 0) return `${path} is not owned by root and writable by root only`;
    fd = openSync(path, 'r');
  } catch (e) {
    return `${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`;
  }
  try {
    const dynamic = hasInterpreter(fd);
    if (typeof dynamic === 'string') return `${path} is ${dynamic}`;
    return dynamic ? `${path} is dynamically linked` : null;
  } finally {
    closeSync(fd);
  }
}
