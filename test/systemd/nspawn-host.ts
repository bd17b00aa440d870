import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, readlinkSync, renameSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { REPO_ROOT, RunResult, run } from '../helpers/cli';

/**
 * A real systemd (PID 1) booted in systemd-nspawn from a Debian bookworm tree that is built
 * once with debootstrap and cached outside the repository (never half-built: it is written
 * under a temporary name and renamed when complete).
 */
export const TREE = process.env.CONTID_TEST_BOOKWORM ?? '/var/cache/contid-test/bookworm';

export function ensureTree(): void {
  if (existsSync(`${TREE}/usr/lib/systemd/systemd`)) return;
  const tmp = `${TREE}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  const r = spawnSync('debootstrap', ['--variant=minbase', '--include=systemd,systemd-sysv,dbus', 'bookworm', tmp, debianMirror()], {
    encoding: 'utf8',
    timeout: 600_000,
  });
  if (r.status !== 0) throw new Error(`debootstrap failed: ${r.stderr.slice(-2000)}`);
  renameSync(tmp, TREE);
}

function debianMirror(): string {
  const sources = '/etc/apt/sources.list.d/debian.sources';
  const uri = existsSync(sources) ? /^URIs:\s*(\S+)/m.exec(readFileSync(sources, 'utf8'))?.[1] : undefined;
  return uri ?? 'http://deb.debian.org/debian';
}

export interface Machine {
  name: string;
  /** Host pid of the guest's systemd. */
  init: number;
  /** Runs a command in the guest with a clean environment (as systemd's own units see it). */
  exec(args: string[]): RunResult;
  /** The host pid of a guest pid (nspawn shares the host's audit; pids differ). */
  hostPid(guestPid: number): number;
  /** Host pids of every process in the guest. */
  processes(): number[];
  stop(): Promise<void>;
}

/**
 * Boots the tree: --volatile=overlay keeps the cached tree pristine; the repository and the
 * Node binary are bound read-only at the same paths, `stateDir` rw at /var/lib/contid-test.
 * nspawn's seccomp filter answers socket(NETLINK_AUDIT) with EAFNOSUPPORT in every guest;
 * SYSTEMD_SECCOMP=0 lifts it so contid in the guest reaches the host's audit like on a host.
 * nspawn is started with the unset loginuid, as PID 1 has on a real host. The host's static
 * busybox (busybox-static, scripts/setup-host.sh; the same Debian release) is bound at the
 * guest's /usr/bin/busybox, as that package installs it: contid's root lines of a unit start
 * through it, and the cached minbase tree has none.
 */
export async function bootMachine(name: string, stateDir: string): Promise<Machine> {
  const nodeDir = dirname(process.execPath);
  const nspawnArgs = [
    '-D', TREE, '--volatile=overlay', '--register=no', '--keep-unit', '--boot', '-M', name,
    `--bind-ro=${REPO_ROOT}`, `--bind-ro=${nodeDir === '/usr/bin' ? process.execPath : nodeDir}`, `--bind=${stateDir}:/var/lib/contid-test`,
    '--bind-ro=/bin/busybox:/usr/bin/busybox',
  ];
  const child: ChildProcess = spawn('sh', ['-c', 'echo 4294967295 > /proc/self/loginuid 2>/dev/null; exec systemd-nspawn "$@"', 'sh', ...nspawnArgs], {
    env: { ...process.env, SYSTEMD_SECCOMP: '0' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += String(d)));
  const exited = new Promise<void>((res) => child.once('exit', () => res()));
  const stop = async (): Promise<void> => {
    child.kill('SIGTERM'); // nspawn asks the guest's systemd to power off
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    await exited;
    clearTimeout(timer);
  };
  const exec = (init: number, args: string[]): RunResult =>
    run('nsenter', ['-t', String(init), '-a', 'env', '-i', 'PATH=/usr/sbin:/usr/bin:/sbin:/bin', ...args]);
  let init: number;
  try {
    init = await waitFor(() => childrenOf(child.pid!).find((p) => comm(p) === 'systemd'), 20_000, () => `nspawn did not start systemd: ${stderr}`);
    // systemctl needs the guest's private bus socket, which systemd creates a moment after start.
    await waitFor(() => ['running', 'degraded'].includes(exec(init, ['systemctl', 'is-system-running', '--wait']).stdout.trim()), 60_000, () => `guest systemd never ran: ${stderr}`);
  } catch (e) {
    await stop(); // a half-booted machine must not outlive the test (nor keep Jest alive)
    throw e;
  }
  return {
    name,
    init,
    exec: (args) => exec(init, args),
    processes: () =>
      readdirSync('/proc')
        .filter((p) => /^\d+$/.test(p))
        .map(Number)
        .filter((p) => sameMachine(p, init)),
    hostPid: (guestPid) => {
      const pid = readdirSync('/proc')
        .filter((p) => /^\d+$/.test(p))
        .map(Number)
        .find((p) => {
          try {
            const ns = /^NSpid:\s+(.*)$/m.exec(readFileSync(`/proc/${p}/status`, 'utf8'))?.[1].split(/\s+/).map(Number);
            return ns !== undefined && ns.length > 1 && ns[ns.length - 1] === guestPid && sameMachine(p, init);
          } catch {
            return false;
          }
        });
      if (pid === undefined) throw new Error(`no host pid for guest pid ${guestPid}`);
      return pid;
    },
    stop,
  };
}

function sameMachine(pid: number, init: number): boolean {
  try {
    return readlinkSync(`/proc/${pid}/ns/pid`) === readlinkSync(`/proc/${init}/ns/pid`);
  } catch {
    return false;
  }
}

function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

function comm(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '';
  }
}

export async function waitFor<T>(probe: () => T | undefined, ms: number, why: () => string): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = probe();
    if (v !== undefined && v !== null && (v as unknown) !== false) return v;
    if (Date.now() > deadline) throw new Error(why());
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * `contid serve` as a unit of the guest's own systemd (as `contid install service` deploys it),
 * draining the spool the units' sh wrapper writes (`guestState`, the guest path of the bound
 * `hostState`). Its socket is its own, so no Node command routes through it. `drained()` waits
 * until serve has bound every entry and fails, with serve's reason, when one was quarantined.
 */
export interface GuestServe {
  drained(what?: string): Promise<void>;
  /**
   * As drained, but the entries serve quarantined since the last look are returned (name and
   * reason), not thrown: for a test that kills a unit's line on purpose (a stop during a restart).
   */
  settled(what?: string): Promise<{ name: string; reason: string }[]>;
  log(): string;
  stop(): void;
  /** kill -9, as a crash would. */
  kill(): void;
}

/** `properties`: more systemd-run --property= settings of serve's unit (e.g. fewer capabilities). */
export async function startGuestServe(machine: Machine, contid: string[], guestState: string, hostState: string, properties: string[] = []): Promise<GuestServe> {
  const unit = 'contid-test-serve.service';
  machine.exec(['systemctl', 'reset-failed', unit]); // an earlier one killed in a test
  const started = machine.exec([
    'systemd-run', `--unit=${unit}`, '--property=Type=exec', '--collect', ...properties.map((p) => `--property=${p}`),
    ...contid, '--state-dir', guestState, 'serve', '--socket', '/run/contid-test-serve.sock',
  ]);
  if (started.status !== 0) throw new Error(`systemd-run contid serve in the guest: ${started.stderr}`);
  const log = (): string => machine.exec(['journalctl', '-u', unit, '--no-pager', '-o', 'cat']).stdout;
  const running = (): boolean => machine.exec(['systemctl', 'is-active', '--quiet', unit]).status === 0;
  await waitFor(
    () => {
      if (!running()) throw new Error(`contid serve in the guest stopped: ${log()}`);
      return /draining/.test(log()) || undefined;
    },
    30_000,
    () => `contid serve in the guest never drained: ${log()}`,
  );
  const spoolDir = `${hostState}/spool`;
  const entries = (dir: string, f: (n: string) => boolean): string[] => (existsSync(dir) ? readdirSync(dir).filter(f) : []);
  const failedBefore = new Set(entries(`${spoolDir}/failed`, (n) => n.endsWith('.entry')));
  const settled = async (what = 'contid serve in the guest to bind the spool'): Promise<{ name: string; reason: string }[]> => {
    await waitFor(() => entries(spoolDir, (n) => n.endsWith('.entry')).length === 0 || undefined, 30_000, () => `${what}: ${entries(spoolDir, () => true).join(' ')} ${log()}`);
    const failed = entries(`${spoolDir}/failed`, (n) => n.endsWith('.entry')).filter((n) => !failedBefore.has(n));
    failed.forEach((n) => failedBefore.add(n));
    return failed.map((name) => ({ name, reason: readFileSync(`${spoolDir}/failed/${name}.reason`, 'utf8').trim() }));
  };
  return {
    async drained(what = 'contid serve in the guest to bind the spool') {
      const failed = await settled(what);
      if (failed.length) throw new Error(`contid serve quarantined ${failed.map((f) => `${f.name}: ${f.reason}`).join('; ')}`);
    },
    settled,
    log,
    stop: () => void machine.exec(['systemctl', 'stop', unit]),
    kill: () => void machine.exec(['systemctl', 'kill', '-s', 'KILL', unit]),
  };
}
