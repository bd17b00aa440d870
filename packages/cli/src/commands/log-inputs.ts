import { createWriteStream, existsSync } from 'node:fs';
import { uptime } from 'node:os';
import { resolve } from 'node:path';
import { ContidError } from '@contid/core/dist/errors';
import { defaultLogFiles, orderLogFiles } from '@contid/audit/dist/reader';
import { parseTimeWords } from '@contid/audit/dist/filter';
import type { ContainerLookup } from '@contid/audit/dist/attributor';
import { gunzipInputs } from './gzip-inputs';

/**
 * What every command that reads audit logs after the fact shares (search, report): the
 * inputs (files, directories, stdin), the time window, the registry used for enrichment
 * and the one-line errors for unreadable logs.
 */
export interface LogInputArgs {
  input?: string[];
  /** Positional inputs (log files or directories). */
  files?: string[];
  start?: string[];
  end?: string[];
}

export const LOG_INPUT_OPTIONS = {
  input: { alias: 'i', type: 'string', array: true, describe: 'log file(s) or directory; - for stdin (default: /var/log/audit/audit.log*)' },
  start: { alias: 'ts', type: 'string', array: true, describe: 'from: recent, today, yesterday, this-week, week-ago, this-month, this-year, boot, MM/DD/YYYY [HH:MM:SS], ISO-8601, @EPOCH' },
  end: { alias: 'te', type: 'string', array: true, describe: 'until (same words as --start)' },
} as const;

export function timeArg(name: string, words: string[] | undefined): number | undefined {
  if (!words || words.length === 0) return undefined;
  const bootMs = Date.now() - uptime() * 1000;
  const t = parseTimeWords(words.map(String), new Date(), bootMs);
  if (t === null) throw new ContidError(`--${name}: not a time: "${words.join(' ')}" (try recent, today, this-week, MM/DD/YYYY HH:MM:SS, YYYY-MM-DD, @EPOCH)`, 2);
  return t;
}

/** The registry for enrichment, when there is one: the log's own records attribute without it. */
export function openRegistry(stateDir: string): (ContainerLookup & { close(): void }) | undefined {
  if (!existsSync(resolve(stateDir, 'registry.db'))) return undefined;
  try {
    // required here: most searches have no registry, and its module brings the migrations and the allocator
    return (require('@contid/core/dist/registry') as typeof import('@contid/core/dist/registry')).Registry.open(stateDir, { readonly: true });
  } catch {
    return undefined; // enrichment only: the log's own records attribute
  }
}

/** stdin cannot be read twice: spool it to a private temporary copy (private-copy.ts) for the two passes. */
async function spoolStdin(): Promise<{ file: string; cleanup: () => void }> {
  const copy = (require('./private-copy') as typeof import('./private-copy')).privateCopy('contid-search-', 'stdin.log');
  try {
    const out = createWriteStream(copy.path);
    process.stdin.pipe(out);
    // required here: the streams' modules cost a search of files their load time (≈ 4 ms CPU)
    await (require('node:stream/promises') as typeof import('node:stream/promises')).finished(out);
  } catch (err) {
    copy.close();
    throw err;
  }
  return { file: copy.path, cleanup: copy.close };
}

/** The log files to read, in time order, and what to remove afterwards (a spooled stdin). */
/** `temporary`: some of `files` are this process's own copies (stdin spooled, gzip inflated), gone with `cleanup`. */
export async function resolveLogFiles(argv: LogInputArgs): Promise<{ files: string[]; cleanup: () => void; temporary: boolean }> {
  const inputs = [...(argv.input ?? []), ...(argv.files ?? [])].map(String).filter((f) => f !== '');
  // yargs-parser drops a bare `-`, so stdin is recognised on the command line itself.
  if (process.argv.slice(2).includes('-')) inputs.push('-');
  if (inputs.includes('-')) {
    if (inputs.length > 1) throw new ContidError('- (stdin) cannot be combined with other inputs', 2);
    const spooled = await spoolStdin();
    const inflated = await gunzipInputs([spooled.file], ['stdin']);
    return { files: inflated.files, cleanup: () => (inflated.cleanup(), spooled.cleanup()), temporary: true };
  }
  if (inputs.length > 0) {
    for (const f of inputs) if (!existsSync(f)) throw new ContidError(`no such log file or directory: ${f}`, 2);
    return gunzipInputs(orderLogFiles(inputs));
  }
  const files = defaultLogFiles();
  if (files.length === 0) throw new ContidError('no audit log found in /var/log/audit (use -i FILE)', 2);
  return { files, cleanup: () => undefined, temporary: false };
}

/** File-system errors on the logs are the user's to fix: one line, not a stack. */
export function readable<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'EACCES' || e.code === 'EPERM') throw new ContidError(`cannot read ${e.path ?? 'the audit log'}: permission denied (audit logs are root-only)`, 1);
    if (e.code === 'EISDIR' || e.code === 'EIO') throw new ContidError(`cannot read ${e.path ?? 'the audit log'}: ${e.code}`, 1);
    throw err;
  }
}
