import { ChildProcess, spawn } from 'node:child_process';
import { CONTID_MAIN } from '../helpers/cli';

export interface RunningTail {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  /** SIGTERM, then the exit code once it has written its summary. */
  stop: () => Promise<number | null>;
}

/** Starts `contid tail ARGS` and resolves once it prints its ready line on stderr. */
export function startTail(args: string[], env: NodeJS.ProcessEnv, input?: 'pipe'): Promise<RunningTail> {
  const child = spawn(process.execPath, [CONTID_MAIN, 'tail', ...args], { env, stdio: [input ?? 'ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const running: RunningTail = {
    child,
    stdout: () => out,
    stderr: () => err,
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`tail not ready after 15 s: ${err}`)), 15_000);
    const check = (): void => {
      if (!err.includes('tail ready')) return;
      clearTimeout(timer);
      child.stderr!.off('data', check);
      resolve(running);
    };
    child.stderr!.on('data', check);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`tail exited (${code}) before it was ready: ${err}`));
    });
  });
}

export interface JsonEvent {
  serial: number;
  container: { name: string; contid: string } | null;
  records: { type: string; fields: Record<string, string>; msg?: Record<string, string> }[];
}

/**
 * The execve events among EVENTS, whichever rule keyed them: the kernel keys a record with the
 * first rule that matches, so another suite's catch-all execve rule listed before ours takes
 * our records on a shared host. The tests read one session's events (--container), so its
 * execs are these whoever's key they carry.
 */
export const execveEvents = (events: JsonEvent[]): JsonEvent[] => events.filter((e) => e.records.some((r) => r.type === 'SYSCALL' && r.fields.syscall === '59'));

export const jsonEvents = (text: string): JsonEvent[] =>
  text
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as JsonEvent);

/** The argv of an execve event, from its EXECVE record (a0, a1 … quoted or hex). */
export function execArgs(e: JsonEvent): string[] {
  const rec = e.records.find((r) => r.type === 'EXECVE');
  if (!rec) return [];
  const argc = Number(rec.fields.argc);
  return [...Array(argc).keys()].map((i) => {
    const v = rec.fields[`a${i}`] ?? '';
    return /^[0-9A-F]+$/.test(v) && v.length % 2 === 0 && v.length > 2 ? Buffer.from(v, 'hex').toString() : v;
  });
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls until `predicate` holds or `ms` passes. */
export async function until(predicate: () => boolean, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!predicate() && Date.now() < deadline) await sleep(100);
}
