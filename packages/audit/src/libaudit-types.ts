import koffi from 'koffi';

let nameToType: ((name: string) => number) | null | undefined;
const cache = new Map<string, number | null>();

/**
 * libaudit's own `audit_name_to_msg_type` (what ausearch groups by) for type names outside
 * contid's table: APPARMOR_*, NetLabel, IMA, newer kernel types. Null when libaudit does
 * not know the name either, or is absent. Answers are cached (a bounded number of names).
 */
export function libauditTypeNumber(name: string): number | null {
  const hit = cache.get(name);
  if (hit !== undefined) return hit;
  if (nameToType === undefined) {
    try {
      nameToType = koffi.load('libaudit.so.1').func('int audit_name_to_msg_type(const char *type)') as (name: string) => number;
    } catch {
      nameToType = null;
    }
  }
  const n = nameToType && name.length < 64 && /^[A-Z0-9_[\]]+$/.test(name) ? nameToType(name) : -1;
  const value = n >= 0 ? n : null;
  if (cache.size < 1024) cache.set(name, value);
  return value;
}
