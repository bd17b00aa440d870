import { ChildProcess, spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Dockerode, dockerClient } from '@contid/docker';
import { REPO_ROOT, RunResult, run } from '../helpers/cli';
import { buildFastShim } from '../helpers/fast-shim';

/** The repository's sh runtime shim (the reference the compiled one hands its other cases to). */
export const SHIM = join(REPO_ROOT, 'integrations/docker/contid-runc');
/**
 * What dockerd runs as runtime "contid": the compiled shim, as `contid install docker` installs
 * it where it was built (it sits beside the sh and contid-tag.sh in integrations/docker).
 */
export const DOCKER_SHIM = buildFastShim();
export const IMAGE = 'local/busybox:1';

export interface EngineOptions {
  /** Unique per area: data root /var/lib/contid-test-<label>, exec root /run/contid-test-<label>. */
  label: string;
  /** Environment for dockerd, inherited by containerd, its shims and so by contid-runc. */
  env?: NodeJS.ProcessEnv;
  /** Extra `--add-runtime name=path` entries (the shim is always added as "contid"). */
  runtimes?: Record<string, string>;
  /** dockerd's --config-file (default: the host's /etc/docker/daemon.json). */
  configFile?: string;
  /** false: do not register the repository's shim as "contid" (the config file does it). */
  shimRuntime?: boolean;
  /** Another image than plain busybox: its name, empty directories and symlinks to add. */
  image?: { name: string; dirs?: string[]; links?: Record<string, string> };
}

/**
 * A real Debian dockerd of the test's own: unique data root, exec root, pid file and socket,
 * no iptables, no bridge; the image is built locally with `docker import` (no registry here).
 */
export class DockerEngine {
  readonly root: string;
  readonly execRoot: string;
  readonly host: string;
  readonly api: Dockerode;
  private daemon: ChildProcess | null = null;

  constructor(private readonly options: EngineOptions) {
    this.root = `/var/lib/contid-test-${options.label}`;
    this.execRoot = `/run/contid-test-${options.label}`;
    this.host = `unix://${this.execRoot}/docker.sock`;
    this.api = dockerClient(`${this.execRoot}/docker.sock`);
  }

  private get pidFile(): string {
    return `${this.execRoot}.pid`;
  }

  docker(args: string[], input?: string): RunResult {
    return run('docker', ['-H', this.host, ...args], { input, timeout: 120_000 });
  }

  /** Asynchronous variant, for running many clients at once. */
  dockerAsync(args: string[]): Promise<RunResult> {
    return new Promise((resolve) => {
      const child = spawn('docker', ['-H', this.host, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('close', (status, signal) => resolve({ status, signal, stdout, stderr, pid: child.pid ?? 0 }));
    });
  }

  async start(): Promise<void> {
    mkdirSync(join(this.root, 'docker'), { recursive: true });
    mkdirSync(this.execRoot, { recursive: true });
    this.stopStale();
    const logFile = join(this.root, 'dockerd.log');
    const log = openSync(logFile, 'w');
    const runtimes = { ...(this.options.shimRuntime === false ? {} : { contid: DOCKER_SHIM }), ...(this.options.runtimes ?? {}) };
    this.daemon = spawn(
      'dockerd',
      [
        '--data-root', join(this.root, 'docker'),
        '--exec-root', this.execRoot,
        '--pidfile', this.pidFile,
        '-H', this.host,
        '--iptables=false',
        '--bridge=none',
        ...(this.options.configFile ? ['--config-file', this.options.configFile] : []),
        ...Object.entries(runtimes).flatMap(([n, p]) => ['--add-runtime', `${n}=${p}`]),
      ],
      { stdio: ['ignore', log, log], env: { ...process.env, ...(this.options.env ?? {}) } },
    );
    closeSync(log);
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (this.daemon.exitCode !== null) throw new Error(`dockerd exited: ${readFileSync(logFile, 'utf8').slice(-2000)}`);
      if (this.docker(['version', '--format', '{{.Server.Version}}']).status === 0) break;
      if (Date.now() > deadline) throw new Error('dockerd did not answer within 60 s');
      await new Promise((r) => setTimeout(r, 200));
    }
    this.ensureImage();
  }

  /** A dockerd left by a crashed earlier run holds our roots: stop it by its own pid file. */
  private stopStale(): void {
    if (!existsSync(this.pidFile)) return;
    const pid = Number(readFileSync(this.pidFile, 'utf8').trim());
    try {
      if (readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'dockerd') process.kill(pid, 'SIGTERM');
    } catch {
      // Already gone.
    }
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline && existsSync(`/proc/${pid}`)) spawnSleep(100);
  }

  get image(): string {
    return this.options.image?.name ?? IMAGE;
  }

  /** busybox (plus any extra directories and links), imported from a tar of the host's static busybox. */
  ensureImage(): void {
    if (this.docker(['image', 'inspect', this.image]).status === 0) return;
    const root = join(this.root, 'rootfs');
    rmSync(root, { recursive: true, force: true });
    for (const dir of ['bin', ...(this.options.image?.dirs ?? [])]) mkdirSync(join(root, dir), { recursive: true });
    writeFileSync(join(root, 'bin', 'busybox'), readFileSync('/bin/busybox'), { mode: 0o755 });
    for (const [link, target] of Object.entries({ 'bin/sh': 'busybox', ...(this.options.image?.links ?? {}) })) symlinkSync(target, join(root, link));
    const imported = run('sh', ['-c', `tar -C ${root} -c . | docker -H ${this.host} import - ${this.image}`]);
    if (imported.status !== 0) throw new Error(`docker import failed: ${imported.stderr}`);
  }

  async stop(): Promise<void> {
    const ids = this.docker(['ps', '-aq']).stdout.split('\n').filter(Boolean);
    if (ids.length) this.docker(['rm', '-f', ...ids]);
    await this.stopDaemon();
  }

  /** dockerd stopped and started again, containers left as dockerd leaves them (as `systemctl restart docker`). */
  async restart(): Promise<void> {
    await this.stopDaemon();
    await this.start();
  }

  private async stopDaemon(): Promise<void> {
    const daemon = this.daemon;
    if (daemon && daemon.exitCode === null) {
      const gone = new Promise((r) => daemon.once('exit', r));
      daemon.kill('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([gone, new Promise((r) => (timer = setTimeout(r, 20_000)))]);
      clearTimeout(timer);
    }
  }
}

function spawnSleep(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}
