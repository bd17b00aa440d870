import { loadKoffi } from '@contid/core/dist/native-modules';

/**
 * libaudit's own tables (what ausearch uses): record type names and numbers, syscall names
 * per architecture. Loaded on first use; answers cached in bounded maps.
 */
interface Libaudit {
  nameToType(name: string): number;
  typeToName(type: number): string | null;
  elfToMachine(elf: number): number;
  detectMachine(): number;
  syscallToName(syscall: number, machine: number): string | null;
  nameToErrno(name: string): number;
}

let lib: Libaudit | null | undefined;

function libaudit(): Libaudit | null {
  if (lib !== undefined) return lib;
  try {
    const so = loadKoffi().load('libaudit.so.1');
    lib = {
      nameToType: so.func('int audit_name_to_msg_type(const char *type)') as Libaudit['nameToType'],
      typeToName: so.func('const char *audit_msg_type_to_name(int type)') as Libaudit['typeToName'],
      elfToMachine: so.func('int audit_elf_to_machine(unsigned int elf)') as Libaudit['elfToMachine'],
      detectMachine: so.func('int audit_detect_machine(void)') as Libaudit['detectMachine'],
      syscallToName: so.func('const char *audit_syscall_to_name(int sc, int machine)') as Libaudit['syscallToName'],
      nameToErrno: so.func('int audit_name_to_errno(const char *error)') as Libaudit['nameToErrno'],
    };
  } catch {
    lib = null;
  }
  return lib;
}

function cached<K, V>(max: number, compute: (k: K) => V): (k: K) => V {
  const cache = new Map<K, V>();
  return (k) => {
    const hit = cache.get(k);
    if (hit !== undefined || cache.has(k)) return hit as V;
    const v = compute(k);
    if (cache.size >= max) cache.clear();
    cache.set(k, v);
    return v;
  };
}

/**
 * `audit_name_to_msg_type` for type names outside contid's table (APPARMOR_*, NetLabel,
 * IMA, newer kernel types): null when libaudit does not know the name either, or is absent.
 */
export const libauditTypeNumber = cached(1024, (name: string): number | null => {
  const l = libaudit();
  const n = l && name.length < 64 && /^[A-Z0-9_[\]]+$/.test(name) ? l.nameToType(name) : -1;
  return n >= 0 ? n : null;
});

/** libaudit's canonical name of a record type number (`UNKNOWN[1334]` is `BPF` to it), or null. */
export const libauditTypeName = cached(1024, (type: number): string | null => libaudit()?.typeToName(type) ?? null);

let hostMachine: number | undefined;

/** `audit_elf_to_machine` of an arch= value (hex), asked once per value. */
const elfMachine = cached(256, (archHex: string): number => {
  const l = libaudit();
  const elf = Number.parseInt(archHex, 16);
  return l && Number.isFinite(elf) && elf >= 0 && elf <= 0xffffffff ? l.elfToMachine(elf) : -1;
});

/**
 * `audit_elf_to_machine(arch)`; -1 when unknown. The host's machine for `arch` undefined
 * (audit_detect_machine calls uname(2): asked once, where ausearch asks per SYSCALL record).
 */
export function machineOf(archHex: string | undefined): number {
  const l = libaudit();
  if (!l) return -1;
  if (archHex === undefined) return (hostMachine ??= l.detectMachine());
  return elfMachine(archHex);
}

/** The syscall's name on its architecture (SYSCALL `arch=` and `syscall=`), or undefined. */
export const syscallName = cached(4096, (key: string): string | undefined => {
  const [arch, number] = key.split(':');
  const n = Number(number);
  const machine = machineOf(arch);
  if (!Number.isInteger(n) || machine < 0) return undefined;
  return libaudit()?.syscallToName(n, machine) ?? undefined;
});

/** An errno name (EACCES) as libaudit knows it, or null. */
export function errnoNumber(name: string): number | null {
  const l = libaudit();
  if (!l || !/^E[A-Z0-9]{1,20}$/.test(name)) return null;
  const n = l.nameToErrno(name);
  return n > 0 ? n : null;
}
