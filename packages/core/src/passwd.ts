import { readFileSync } from 'node:fs';

/**
 * The host's login users as `/etc/passwd` lists them — where ausearch -i and aureport look names
 * up too, so contid's names agree with theirs. No file (a minimal container image): none.
 */
export function passwdEntries(path = '/etc/passwd'): { name: string; uid: number }[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return [];
  }
  const out: { name: string; uid: number }[] = [];
  for (const line of text.split('\n')) {
    const [name, , uid] = line.split(':');
    if (name && uid !== undefined && /^\d+$/.test(uid)) out.push({ name, uid: Number(uid) });
  }
  return out;
}

/** The login name of `uid` (the first line naming it, as getpwuid answers); null when none. */
export function loginNameOf(uid: number, path?: string): string | null {
  return passwdEntries(path).find((e) => e.uid === uid)?.name ?? null;
}

/** The uid of login `name`; null when none. */
export function uidOfLogin(name: string, path?: string): number | null {
  return passwdEntries(path).find((e) => e.name === name)?.uid ?? null;
}
