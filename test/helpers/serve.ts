import { ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Spool, spoolDirFromEnv } from '@contid/oci';
import { CONTID_MAIN } from './cli';
import { waitFor } from './wait';

/**
 * A `contid serve` draining one test file's spool (its CONTID_STATE_DIR), on a socket of its
 * own so no other command routes through it. The hot paths (contid-spawn, contid-lxc) only
 * write spool entries; `drained()` waits until serve has bound every one of them (the spool is
 * empty) and fails, with serve's reason, if one was quarantined instead.
 */
export interface Serve {
  /** Resolves once serve says it drains (its first pass has started). */
  ready(): Promise<void>;
  drained(what?: string): Promise<void>;
  log(): string;
  /** SIGTERM by default; SIGKILL for a crash (nothing of serve's own shutdown runs). */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

export function startServe(env: NodeJS.ProcessEnv, socketDir: string): Serve {
  const spool = new Spool(spoolDirFromEnv(env));
  let log = '';
  const child: ChildProcess = spawn(process.execPath, [CONTID_MAIN, 'serve', '--socket', join(socketDir, `serve-${process.pid}-${Date.now()}.sock`)], {
    env,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
  const failedBefore = new Set(spool.failed());
  return {
    async ready() {
      await waitFor('contid serve to drain', () => {
        if (child.exitCode !== null) throw new Error(`contid serve exited ${child.exitCode}: ${log}`);
        return /draining/.test(log);
      }, 30_000);
    },
    async drained(what = 'contid serve to bind the spool') {
      await waitFor(what, () => {
        if (child.exitCode !== null) throw new Error(`contid serve exited ${child.exitCode}: ${log}`);
        return spool.pendingNames().length === 0;
      }, 30_000);
      const failed = spool.failed().filter((n) => !failedBefore.has(n));
      if (failed.length) {
        const reasons = failed.map((n) => `${n}: ${readFileSync(join(spool.dir, 'failed', `${n}.reason`), 'utf8').trim()}`);
        failed.forEach((n) => failedBefore.add(n));
        throw new Error(`contid serve quarantined ${reasons.join('; ')}`);
      }
    },
    log: () => log,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill(signal);
      await exited;
    },
  };
}
