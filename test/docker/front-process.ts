import { ChildProcess, spawn } from 'node:child_process';
import { existsSync, lstatSync } from 'node:fs';
import { CONTID_MAIN } from '../helpers/cli';
import { waitFor } from '../helpers/wait';

/** A real `contid docker front` process between docker clients and an engine's own socket. */
export class FrontProcess {
  private child: ChildProcess | null = null;
  /** What the front wrote on stderr since its last start. */
  log = '';

  constructor(private readonly options: { listen: string; upstream: string; requesters: string }) {}

  /** The running front's pid (undefined before start). */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Started (with EXTRA_ARGS for `contid docker front`) once the listen path is its socket (not the fail-open link) and it said what it relays. */
  async start(extraArgs: string[] = []): Promise<void> {
    this.log = '';
    const { listen, upstream, requesters } = this.options;
    const child = spawn(process.execPath, [CONTID_MAIN, 'docker', 'front', '--listen', listen, '--upstream', upstream, '--requesters', requesters, ...extraArgs], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    child.stderr!.on('data', (d: Buffer) => (this.log += d.toString()));
    await waitFor('the front', () => (existsSync(listen) && !lstatSync(listen).isSymbolicLink() && this.log.includes('->')) || child.exitCode !== null, 30_000);
    if (child.exitCode !== null) throw new Error(`front exited: ${this.log}`);
  }

  /** Stops it (SIGKILL: as a crash would) and waits for its exit; nothing when it is not running. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    const gone = new Promise((r) => child.once('exit', r));
    child.kill(signal);
    await gone;
  }
}
