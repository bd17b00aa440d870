import { chmodSync, mkdirSync, readFileSync, readdirSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ContidError } from '@contid/core';

/** What the runtime shim learned at one runc create/run (create), exec (setns), or its failure. */
export type SpoolOp = 'create' | 'setns' | 'fail';

/** One hand-off from `integrations/docker/contid-runc`, as written in the spool. */
export interface SpoolEntry {
  /** File name in the spool: unique, and sorts by the session it carries. */
  name: string;
  op: SpoolOp;
  /** The runc subcommand: create, run or exec. */
  subcommand: string;
  /** The runc (Docker / containerd / CRI-O) container id. */
  id: string;
  bundle: string;
  pidFile: string | null;
  processFile: string | null;
  /** The shim's pid, which became runc's (exec keeps the pid). */
  wrapperPid: number;
  /** The session the shim renewed (equal to oldSession on failure). */
  session: number | null;
  oldSession: number | null;
  /** Milliseconds since the epoch, when the shim wrote the entry (the file's mtime). */
  time: number;
  /** Why tagging failed (op=fail, fail-open). */
  reason: string | null;
  /** The bundle's config.json as the shim copied it (text: it may be malformed). */
  configText: string | null;
  /** runc exec's process.json as the shim copied it. */
  processText: string | null;
}

export const DEFAULT_SPOOL_DIR = '/var/lib/contid/spool';

/** The spool the shim writes to: same defaults and variables as the shim itself. */
export function spoolDirFromEnv(env: NodeJS.ProcessEnv = process.env): string {
  return env.CONTID_SPOOL_DIR || join(env.CONTID_STATE_DIR || '/var/lib/contid', 'spool');
}

const SECTION = /^--- (config\.json|process\.json)$/m;

function num(v: string | undefined): number | null {
  return v !== undefined && /^\d+$/.test(v) ? Number(v) : null;
}

/** Parses an entry's text: `key=value` lines, then optional `--- config.json` / `--- process.json` sections. */
export function parseSpoolEntry(name: string, text: string, mtimeMs = 0): SpoolEntry {
  const first = SECTION.exec(text);
  const head = first ? text.slice(0, first.index) : text;
  const fields = new Map<string, string>();
  for (const line of head.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) fields.set(line.slice(0, eq), line.slice(eq + 1));
  }
  const sections: Record<string, string> = {};
  if (first) {
    const parts = text.slice(first.index).split(/^--- (config\.json|process\.json)\n/m);
    for (let i = 1; i + 1 < parts.length; i += 2) sections[parts[i]] = parts[i + 1];
  }
  const op = fields.get('op');
  if (op !== 'create' && op !== 'setns' && op !== 'fail') throw new ContidError(`spool entry ${name}: bad op "${op ?? ''}"`);
  return {
    name,
    op,
    subcommand: fields.get('subcommand') ?? '',
    id: fields.get('id') ?? '',
    bundle: fields.get('bundle') ?? '',
    pidFile: fields.get('pidfile') || null,
    processFile: fields.get('process') || null,
    wrapperPid: num(fields.get('wrapper-pid')) ?? 0,
    session: num(fields.get('session')),
    oldSession: num(fields.get('old-session')),
    time: mtimeMs,
    reason: fields.get('reason') || null,
    configText: sections['config.json'] ?? null,
    processText: sections['process.json'] ?? null,
  };
}

/** The root-only directory of hand-offs between the shim and the Node side. */
export class Spool {
  constructor(readonly dir: string) {}

  /** Creates the spool root-only (the entries hold config.json and exec environments). */
  prepare(): void {
    try {
      mkdirSync(this.dir, { recursive: true, mode: 0o700 });
      if ((statSync(this.dir).mode & 0o077) !== 0) chmodSync(this.dir, 0o700);
    } catch (e) {
      throw new ContidError(`spool ${this.dir} is not usable: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  }

  /** Complete entries, oldest session first (temp files being written are skipped). */
  names(): string[] {
    let all: string[];
    try {
      all = readdirSync(this.dir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw new ContidError(`cannot read spool ${this.dir}: ${(e as NodeJS.ErrnoException).code}`);
    }
    const session = (n: string) => Number(/^\d+/.exec(n)?.[0] ?? 0);
    return all.filter((n) => n.endsWith('.entry') && !n.startsWith('.')).sort((a, b) => session(a) - session(b) || (a < b ? -1 : a > b ? 1 : 0));
  }

  read(name: string): SpoolEntry | null {
    let text: string;
    let mtimeMs: number;
    try {
      mtimeMs = statSync(join(this.dir, name)).mtimeMs;
      text = readFileSync(join(this.dir, name), 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null; // another consumer took it
      throw e;
    }
    return parseSpoolEntry(name, text, mtimeMs);
  }

  /** Called only after the entry's registry transaction committed. */
  remove(name: string): void {
    try {
      unlinkSync(join(this.dir, name));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
  }

  /** Keeps an entry that cannot be processed, with the reason next to it: never dropped silently. */
  quarantine(name: string, reason: string): void {
    const dir = join(this.dir, 'failed');
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    writeFileSync(join(dir, `${name}.reason`), reason + '\n');
    renameSync(join(this.dir, name), join(dir, name));
  }
}
