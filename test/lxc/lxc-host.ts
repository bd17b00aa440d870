import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { CONTID_MAIN, REPO_ROOT, RunResult, run } from '../helpers/cli';

/**
 * Real LXC containers for the tests: busybox template, no network, unconfined (the set-up
 * measured to start on this host). Names are unique per run; each is destroyed in teardown.
 */
export const lxcName = (label: string): string => `contid-t-${label}-${Math.random().toString(36).slice(2, 8)}`;

export function createContainer(name: string): string {
  const r = run('lxc-create', ['-t', 'busybox', '-n', name]);
  if (r.status !== 0) throw new Error(`lxc-create ${name} failed: ${r.stderr}`);
  const file = `/var/lib/lxc/${name}/config`;
  const config = readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => !/^lxc\.net\.0\.(link|flags)\b/.test(l) && !/^lxc\.apparmor\.allow_nesting\b/.test(l))
    .map((l) => (/^lxc\.net\.0\.type\b/.test(l) ? 'lxc.net.0.type = empty' : /^lxc\.apparmor\.profile\b/.test(l) ? 'lxc.apparmor.profile = unconfined' : l));
  writeFileSync(file, config.join('\n'));
  return file;
}

export function destroyContainer(name: string): void {
  run('lxc-stop', ['-n', name, '-k']);
  run('lxc-destroy', ['-n', name, '-f']);
}

export function lxcInitPid(name: string): number {
  const r = run('lxc-info', ['-n', name, '-p', '-H']);
  return Number(r.stdout.trim());
}

export function lxcStateOf(name: string): string {
  return run('lxc-info', ['-n', name, '-s', '-H']).stdout.trim() || 'missing';
}

/** Waits until LXC reports the state (lxc-start returns before the init is fully up). */
export async function waitForState(name: string, state: string, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (lxcStateOf(name) !== state) {
    if (Date.now() > deadline) throw new Error(`${name} did not reach ${state} (is ${lxcStateOf(name)})`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The init and every process under it, from the kernel's children lists. */
export function processTree(root: number): number[] {
  const out: number[] = [];
  const todo = [root];
  while (todo.length) {
    const pid = todo.pop()!;
    out.push(pid);
    try {
      for (const tid of readdirSync(`/proc/${pid}/task`)) {
        const kids = readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim();
        if (kids) todo.push(...kids.split(/\s+/).map(Number));
      }
    } catch {
      // exited while we walked
    }
  }
  return out;
}

export function sessionOf(pid: number | 'self'): number {
  return Number(readFileSync(`/proc/${pid}/sessionid`, 'utf8').trim());
}

export const CONTID_LXC = `${REPO_ROOT}/integrations/bin/contid-lxc`;
/** The compiled start beside it (integrations/lxc/contid-lxc.c), built when missing or older. */
export const CONTID_LXC_FAST = `${REPO_ROOT}/integrations/bin/contid-lxc-fast`;

export function buildLxcFast(out = CONTID_LXC_FAST): string {
  const r = spawnSync(`${REPO_ROOT}/scripts/build-lxc-fast.sh`, [out], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`scripts/build-lxc-fast.sh: ${r.stderr}`);
  return out;
}
/** What contid-lxc hands over to when the registry must decide: the built Node CLI. */
export const withCli = (env: NodeJS.ProcessEnv): NodeJS.ProcessEnv => ({ ...env, CONTID_CLI: `${process.execPath} ${CONTID_MAIN}` });

/**
 * `contid lxc attach ARGS` as the installed launcher runs it: contid-lxc (sh, no Node), which
 * hands over to the Node command (CONTID_CLI) only when the registry must decide.
 */
export function lxcAttach(args: string[], env: NodeJS.ProcessEnv): RunResult {
  return run(CONTID_LXC, ['attach', ...args], { env: withCli(env) });
}

/**
 * `contid lxc start ARGS` as the installed launcher runs it: contid-lxc-fast, which hands every
 * start it does not record itself to contid-lxc (sh) beside it.
 */
export function lxcStart(args: string[], env: NodeJS.ProcessEnv): RunResult {
  return run(buildLxcFast(), ['start', ...args], { env: withCli(env) });
}
