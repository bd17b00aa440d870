import { ContidError, PrivilegeError } from '@contid/core/dist/errors';
import { escapeText } from '@contid/core/dist/printable';

/**
 * Every failure leaves as one line on stderr and a non-zero exit. Usage errors (yargs)
 * and ContidErrors are the user's to fix; anything else is a bug, so it keeps its stack
 * when CONTID_DEBUG is set.
 */
export function failWith(err: unknown, usage = false): never {
  const e = systemErrorAsContidError(err instanceof Error ? err : new Error(String(err)));
  const known = usage || e instanceof ContidError;
  const line = known ? e.message : `internal error: ${e.message}`;
  // Messages quote what the caller typed or a container chose: escaped, so they stay one line.
  process.stderr.write(`contid: ${escapeText(line.split('\n')[0])}\n`);
  if (!known && process.env.CONTID_DEBUG) process.stderr.write(`${e.stack}\n`);
  process.exit(e instanceof ContidError ? e.exitCode : usage ? 2 : 70);
}

const VERBS: Record<string, string> = { open: 'open', read: 'read', write: 'write', mkdir: 'create directory', rename: 'rename', unlink: 'remove', scandir: 'list', stat: 'read', lstat: 'read', copyfile: 'copy', chmod: 'change mode of' };

/**
 * A failed system call on a path the caller gave or a directory contid keeps (EACCES on
 * /var/lib/contid as non-root, EIO reading /proc/self/mem) is the environment, not a bug:
 * "cannot read X: EIO", and a missing privilege says so.
 */
function systemErrorAsContidError(e: Error): Error {
  const { code, syscall, path } = e as NodeJS.ErrnoException;
  if (e instanceof ContidError || typeof code !== 'string' || !/^E[A-Z0-9]+$/.test(code) || typeof syscall !== 'string') return e;
  const what = `cannot ${VERBS[syscall] ?? syscall} ${path ?? 'input'}: ${code}`;
  if (code === 'EACCES' || code === 'EPERM') return new PrivilegeError(`${what} (permission denied: run as root?)`);
  return new ContidError(what);
}

/**
 * A reader that stops early (`contid ps --all --json | head`) is no error: leave quietly, as the
 * shell's tools do on SIGPIPE (which Node ignores), instead of an unhandled 'error' stack trace.
 * The handler is attached when the stream is first made (Node makes process.stdout and
 * process.stderr on first use): a command that writes with writeSync(1) alone, such as an
 * indexed raw search, never loads the stream modules (tty, net: ≈ 10 ms CPU of its start).
 */
export function leaveQuietlyOnClosedOutput(): void {
  for (const name of ['stdout', 'stderr'] as const) whenMade(name, (stream) => {
    madeStreams.push(stream);
    stream.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'EPIPE') process.exit(0);
      failWith(e);
    });
  });
}

/** process.stdout and process.stderr once made (leaveQuietlyOnClosedOutput): those stdioWritten waits for. */
const madeStreams: NodeJS.WriteStream[] = [];

/**
 * Resolves once what was written to process.stdout and process.stderr has reached the kernel
 * and a failed write has been reported (its 'error' comes on a later tick): for a command that
 * then leaves with process.exit(). Node writes these streams asynchronously to a pipe that is
 * full, and process.exit() drops what is still queued (a reader that waits, `2>&1 | less`).
 * Streams never made are not made here.
 */
export async function stdioWritten(): Promise<void> {
  while (madeStreams.some((s) => s.writableLength > 0 && !s.destroyed)) await new Promise((r) => setTimeout(r, 5));
  if (madeStreams.length > 0) await new Promise((r) => setImmediate(r));
}

/** Calls `made` with process[name] once it exists: at once if Node's lazy getter is not there. */
function whenMade(name: 'stdout' | 'stderr', made: (stream: NodeJS.WriteStream) => void): void {
  const own = Object.getOwnPropertyDescriptor(process, name);
  const get = own?.get;
  if (!own || !get || !own.configurable) return made(process[name]);
  Object.defineProperty(process, name, {
    configurable: true,
    enumerable: own.enumerable,
    get(): NodeJS.WriteStream {
      const stream = get.call(process) as NodeJS.WriteStream;
      Object.defineProperty(process, name, own); // Node's getter again: it keeps the stream
      made(stream);
      return stream;
    },
  });
}

export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value, (_k, v) => (typeof v === 'bigint' ? v.toString() : v)) + '\n');
}

/** Fixed-width table for humans; columns sized to their content, every cell escaped (names come from containers). */
/**
 * A table, columns split by spaces: every cell is escaped (escapeText), and a cell of a column
 * in `phrases` (contid's own words, such as "revoked 2026-…") keeps its spaces; any other
 * cell's are written `\x20`, so a name such as `web running 4242` stays one cell and cannot
 * forge the columns after it.
 */
export function printTable(headers: string[], rawRows: string[][], phrases: ReadonlySet<number> = new Set()): void {
  const rows = rawRows.map((r) => r.map((cell, i) => (phrases.has(i) ? escapeText(cell) : escapeText(cell).replace(/ /g, '\\x20'))));
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const fmt = (cells: string[]): string => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]))).join('  ');
  process.stdout.write([fmt(headers), ...rows.map(fmt)].join('\n') + '\n');
}

export function warn(message: string): void {
  process.stderr.write(`contid: warning: ${escapeText(message)}\n`);
}
