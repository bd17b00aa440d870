import { closeSync, constants, existsSync, openSync, readFileSync, readdirSync, readlinkSync, renameSync, statSync, unlinkSync, utimesSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { makeDirectory, readLoginUid, readSessionId } from '@contid/core';
import type { Change } from './api-routes';

/** Who asked for a container or an exec: the client process at the other end of the API socket, as the kernel names it. */
export interface Requester {
  uid: number;
  /** The client's login uid (AUDIT_UNSET when it has none). */
  auid: number;
  session: number;
  pid: number;
  exe: string;
}

export const REQUESTERS_DIR = '/run/contid/requesters';

/** exe as one printable line: the file is parsed line by line by sh and TS, so a path cannot add fields. */
const oneLine = (s: string): string => s.replace(/[^\x21-\x7e]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);

/** The requester of a client process, read now from /proc (null when it has already exited). */
export function requesterOf(pid: number, uid: number, procRoot = '/proc'): Requester | null {
  try {
    let exe = '?';
    try {
      exe = readlinkSync(`${procRoot}/${pid}/exe`);
    } catch {
      // A process of another user namespace or already exec-ing: the rest still names it.
    }
    return { uid, auid: readLoginUid(pid, procRoot), session: readSessionId(pid, procRoot), pid, exe };
  } catch {
    return null;
  }
}

export function formatRequester(r: Requester): string {
  return `uid=${r.uid}\nauid=${r.auid}\nsession=${r.session}\npid=${r.pid}\nexe=${oneLine(r.exe)}\n`;
}

/**
 * A `changed=` line of a container's note: someone changed it after its last start (see
 * CHANGES). Fields by commas, the exe last (it may hold commas, never a newline or a space).
 */
export function formatChange(what: Change, r: Requester): string {
  return `changed=${what},${r.uid},${r.auid},${r.session},${r.pid},${oneLine(r.exe)}\n`;
}

/** Whether two requesters are the same person to the kernel: the same uid and login uid. */
export const samePerson = (a: Requester, b: Requester): boolean => a.uid === b.uid && a.auid === b.auid;

export function parseRequester(text: string): Requester | null {
  const f = new Map(text.split('\n').filter(Boolean).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)] as const));
  const num = (k: string): number | null => (/^\d+$/.test(f.get(k) ?? '') ? Number(f.get(k)) : null);
  const [uid, auid, session, pid] = [num('uid'), num('auid'), num('session'), num('pid')];
  if (uid === null || auid === null || session === null || pid === null) return null;
  return { uid, auid, session, pid, exe: f.get('exe') ?? '?' };
}

/**
 * The hand-off from the API front to the runtime shim: one small file per container id
 * (`c-ID`) and per exec id (`e-ID`) in a root-only directory on tmpfs. The shim reads it on
 * create/exec (a `read` loop, no fork) and renews its session with the requester's auid.
 * Only root can write here, so a client cannot name another requester.
 *
 * A container note is good for one start a client asked for: the shim appends `used=PID` when
 * a create takes it. A run dockerd makes on its own (a restart policy's, a healthcheck probe)
 * is the note's starter's, marked requester-by=dockerd — unless someone else changed the
 * container since that start (`changed=` lines, noteChange): then it has no single requester.
 */
/**
 * `c`: a container's note (its last starter, for the shim); `e`: an exec's; `m`: who made a
 * container through the front, kept as it was when starts replace its `c` note (the front's
 * own record of whose container it is, for rename and network connect: outside attack 12, R1);
 * `v`: who made a named volume through the front, keyed by its name's hash (volume-makers.ts);
 * `n`: who made a network through the front, by its id (network removal: outside attack 13, F4).
 */
export type NoteKind = 'c' | 'e' | 'm' | 'v' | 'n';

export class RequesterStore {
  constructor(readonly dir: string = REQUESTERS_DIR) {}

  prepare(): void {
    makeDirectory(this.dir, 0o700);
    const st = statSync(this.dir);
    if (st.uid !== 0 && process.getuid?.() === 0) throw new Error(`${this.dir} is not owned by root`);
    if ((st.mode & 0o077) !== 0) throw new Error(`${this.dir} is open to other users (mode ${(st.mode & 0o777).toString(8)}); it must be 0700`);
  }

  private path(kind: NoteKind, id: string): string {
    if (!/^[0-9a-f]{64}$/.test(id)) throw new Error(`not a full Docker id: ${JSON.stringify(id)}`);
    return join(this.dir, `${kind}-${id}`);
  }

  /** Atomic (temp name, then rename): the shim never reads half a file. */
  note(kind: NoteKind, id: string, who: Requester): void {
    const file = this.path(kind, id);
    const tmp = `${this.dir}/.tmp-${process.pid}-${kind}-${id}`;
    writeFileSync(tmp, formatRequester(who), { mode: 0o600 });
    renameSync(tmp, file);
  }

  /**
   * Notes `who` and returns the note's text before (null: there was none), so that a call
   * dockerd then refuses or finds nothing to do for (a 304 start of a running container) can
   * put the earlier note back: a note must only ever say who asked for what dockerd did.
   */
  replace(kind: 'c' | 'e', id: string, who: Requester): string | null {
    let before: string | null = null;
    try {
      before = readFileSync(this.path(kind, id), 'utf8');
    } catch {
      // Not noted yet.
    }
    this.note(kind, id, who);
    return before;
  }

  /** Puts back a note's earlier text (null: removes the note). */
  restore(kind: NoteKind, id: string, text: string | null): void {
    if (text === null) return this.forget(kind, id);
    this.write(kind, id, text);
  }

  /** Writes a note's whole text (atomic, as note). */
  write(kind: NoteKind, id: string, text: string): void {
    const tmp = `${this.dir}/.tmp-${process.pid}-${kind}-${id}`;
    writeFileSync(tmp, text, { mode: 0o600 });
    renameSync(tmp, this.path(kind, id));
  }

  /**
   * A container start by `who` that dockerd refused or found nothing to do for (304): its note
   * `before` is put back (null: the note is removed), with the changes noted while the start's
   * own note stood (the front's and the shim's, appended to it) and, when `who` is not the
   * earlier note's starter, a `start` change of theirs: what they did meanwhile (an exec the shim
   * compared with their own note, not the starter's) cannot be told from their start, so it counts.
   */
  putBack(id: string, before: string | null, who: Requester): void {
    if (before === null) return this.restore('c', id, null);
    const kept = new Set(before.split('\n'));
    const during = (this.text('c', id) ?? '').split('\n').filter((l) => l.startsWith('changed=') && !kept.has(l));
    const starter = parseRequester(before);
    const theirs = starter && !samePerson(starter, who) ? formatChange('start', who) : '';
    this.restore('c', id, before + during.map((l) => `${l}\n`).join('') + theirs);
  }

  /** The note's text now (null: none). */
  text(kind: NoteKind, id: string): string | null {
    try {
      return readFileSync(this.path(kind, id), 'utf8');
    } catch {
      return null;
    }
  }

  /**
   * Appends a `changed=` line to container `id`'s note (O_APPEND, as the shim appends `used=`
   * and its own exec changes: appends never lose one another). A container with no note (root's,
   * made on dockerd's own socket) has no starter to misname, so nothing is written (null; the
   * front's audit record of the change is written whatever the note: change-record.ts). The
   * shim then gives a run dockerd makes on its own no single requester when a line names someone
   * other than the note's starter; the next start a client asks for writes a fresh note.
   * Returns the line written, for withdrawChange.
   */
  noteChange(id: string, what: Change, who: Requester): string | null {
    const line = formatChange(what, who);
    return this.append(id, Buffer.from(line)) ? line : null;
  }

  /** Appends to container `id`'s note if there is one (no O_CREAT: a note removed meanwhile stays removed). */
  private append(id: string, bytes: Buffer): boolean {
    let fd: number;
    try {
      fd = openSync(this.path('c', id), constants.O_WRONLY | constants.O_APPEND | constants.O_NOFOLLOW);
    } catch {
      return false;
    }
    try {
      writeSync(fd, bytes);
      return true;
    } finally {
      closeSync(fd);
    }
  }

  /**
   * Takes back a `changed=` line noteChange wrote (its last occurrence, a whole line) when dockerd
   * refused the change: a call that changed nothing must not cost the container's runs their
   * requester. Rewritten as restore does (temp name, rename); what the shim appended to the old
   * file while it was read and renamed (`used=`, an exec's change) is read through the descriptor
   * kept open on it and appended again, so no line of its is lost. A line no longer there (a
   * start wrote a fresh note meanwhile) or no note: nothing is written.
   */
  withdrawChange(id: string, line: string): void {
    let fd: number;
    try {
      fd = openSync(this.path('c', id), constants.O_RDONLY | constants.O_NOFOLLOW);
    } catch {
      return;
    }
    try {
      const before = readFileSync(fd, 'utf8');
      const at = before.lastIndexOf(line);
      if (at < 0 || (at > 0 && before[at - 1] !== '\n')) return;
      this.restore('c', id, before.slice(0, at) + before.slice(at + line.length));
      const late = readFileSync(fd);
      if (late.length) this.append(id, late);
    } finally {
      closeSync(fd);
    }
  }

  read(kind: NoteKind, id: string): Requester | null {
    try {
      return parseRequester(readFileSync(this.path(kind, id), 'utf8'));
    } catch {
      return null;
    }
  }

  /** Marks a note as in use now, so that prune's age counts from its last use (a volume of hers lives as long as she uses it). */
  touch(kind: NoteKind, id: string): void {
    try {
      const now = new Date();
      utimesSync(this.path(kind, id), now, now);
    } catch {
      // Removed meanwhile.
    }
  }

  forget(kind: NoteKind, id: string): void {
    try {
      unlinkSync(this.path(kind, id));
    } catch {
      // Never noted, or already pruned.
    }
  }

  /** Exec notes are needed only until runc exec has read them; container and volume notes until it is removed (then by age since the last use). */
  prune(now = Date.now(), execAgeMs = 3_600_000, containerAgeMs = 30 * 86_400_000): number {
    if (!existsSync(this.dir)) return 0;
    let removed = 0;
    for (const name of readdirSync(this.dir)) {
      const file = join(this.dir, name);
      try {
        const age = now - statSync(file).mtimeMs;
        if (age > (/^[cmvn]-/.test(name) ? containerAgeMs : execAgeMs)) {
          unlinkSync(file);
          removed++;
        }
      } catch {
        // Removed meanwhile.
      }
    }
    return removed;
  }
}
