import { ChildProcess, spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RunResult, run } from '../helpers/cli';
import { FIXTURES } from './harness';

/** This area's own Docker engine: unique roots so it never meets another test's dockerd. */
export const ENGINE_ROOT = '/var/lib/contid-test-security';
const DATA_ROOT = join(ENGINE_ROOT, 'docker');
const EXEC_ROOT = '/run/contid-test-security';
const PIDFILE = '/run/contid-test-security.pid';
const HOST = `unix://${EXEC_ROOT}/docker.sock`;
export const IMAGE = 'contid-security/busybox:1';
/** Renews the session per runc call, so each container gets a session of its own. */
export const RUNTIME = 'contid-sec';

export class DockerEngine {
  private daemon: ChildProcess | null = null;

  docker(args: string[], input?: string): RunResult {
    return run('docker', ['-H', HOST, ...args], { input, timeout: 120_000 });
  }

  async start(): Promise<void> {
    mkdirSync(DATA_ROOT, { recursive: true });
    mkdirSync(EXEC_ROOT, { recursive: true });
    this.stopStale();
    const log = openSync(join(ENGINE_ROOT, 'dockerd.log'), 'w');
    this.daemon = spawn(
      'dockerd',
      [
        '--data-root', DATA_ROOT,
        '--exec-root', EXEC_ROOT,
        '--pidfile', PIDFILE,
        '-H', HOST,
        '--iptables=false',
        '--bridge=none',
        '--add-runtime', `${RUNTIME}=${join(FIXTURES, 'runc-renew.sh')}`,
      ],
      { stdio: ['ignore', log, log] },
    );
    closeSync(log);
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      if (this.daemon.exitCode !== null) throw new Error(`dockerd exited: ${readFileSync(join(ENGINE_ROOT, 'dockerd.log'), 'utf8').slice(-2000)}`);
      if (this.docker(['version', '--format', '{{.Server.Version}}']).status === 0) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    this.ensureImage();
  }

  /** A dockerd left by a crashed earlier run holds our roots: stop it by its own pidfile. */
  private stopStale(): void {
    if (!existsSync(PIDFILE)) return;
    const pid = Number(readFileSync(PIDFILE, 'utf8').trim());
    try {
      if (readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'dockerd') process.kill(pid, 'SIGTERM');
    } catch {
      // Already gone.
    }
  }

  /**
   * busybox plus mount points for the host's /usr (node) and the repository, bind-mounted
   * read-only at run time, so the probe speaks through the real client code.
   */
  private ensureImage(): void {
    if (this.docker(['image', 'inspect', IMAGE]).status === 0) return;
    const root = join(ENGINE_ROOT, 'rootfs');
    rmSync(root, { recursive: true, force: true });
    for (const d of ['bin', 'usr', 'proc', 'sys', 'dev', 'etc', 'tmp', 'run', 'work']) mkdirSync(join(root, d), { recursive: true });
    writeFileSync(join(root, 'bin', 'busybox'), readFileSync('/bin/busybox'), { mode: 0o755 });
    symlinkSync('busybox', join(root, 'bin', 'sh'));
    symlinkSync('usr/lib', join(root, 'lib'));
    symlinkSync('usr/lib64', join(root, 'lib64'));
    const imported = run('sh', ['-c', `tar -C ${root} -c . | docker -H ${HOST} import - ${IMAGE}`]);
    if (imported.status !== 0) throw new Error(`docker import failed: ${imported.stderr}`);
  }

  async stop(): Promise<void> {
    const ids = this.docker(['ps', '-aq']).stdout.split('\n').filter(Boolean);
    if (ids.length) this.docker(['rm', '-f', ...ids]);
    const daemon = this.daemon;
    if (daemon && daemon.exitCode === null) {
      const gone = new Promise((r) => daemon.once('exit', r));
      daemon.kill('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([gone, new Promise((r) => (timer = setTimeout(r, 20_000)))]);
      clearTimeout(timer);
    }
    for (const entry of readdirSync(EXEC_ROOT)) if (entry.startsWith('nested-')) rmSync(join(EXEC_ROOT, entry), { recursive: true, force: true });
  }
}
