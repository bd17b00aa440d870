import { SpawnSyncOptionsWithStringEncoding, SpawnSyncReturns, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

/** The built CLI (`pnpm test` builds first): tests run it exactly as users do. */
export const CONTID_MAIN = resolve(__dirname, '../../packages/cli/dist/main.js');
export const REPO_ROOT = resolve(__dirname, '../..');

export interface RunResult {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  pid: number;
}

function result(r: SpawnSyncReturns<string>): RunResult {
  if (r.error) throw r.error;
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr, pid: r.pid };
}

/** Runs `contid ARGS` (optionally behind a prefix such as setpriv or unshare). */
type Options = Omit<SpawnSyncOptionsWithStringEncoding, 'encoding'>;

export function contid(args: string[], options: Options & { prefix?: string[] } = {}): RunResult {
  const argv = [...(options.prefix ?? []), process.execPath, CONTID_MAIN, ...args];
  return result(spawnSync(argv[0], argv.slice(1), { timeout: 60_000, ...options, encoding: 'utf8' }));
}

export function run(cmd: string, args: string[], options: Options = {}): RunResult {
  return result(spawnSync(cmd, args, { timeout: 60_000, ...options, encoding: 'utf8' }));
}

/** A fresh registry directory for one test file, removed afterwards. */
export function tempStateDir(label: string): { dir: string; env: NodeJS.ProcessEnv; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `contid-${label}-`));
  return {
    dir,
    env: { ...process.env, CONTID_STATE_DIR: join(dir, 'state') },
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

export const uniqueName = (label: string): string => `${label}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
