import { spawnSync } from 'node:child_process';
import { ContidError } from '@contid/core';

/**
 * lxc-info asks the container's monitor over its abstract command socket, which an unprivileged
 * user can squat (bind a stopped container's name and never answer): no call of contid waits
 * longer than this for it.
 */
export const LXC_INFO_TIMEOUT_MS = 10_000;

/** Why an lxc-info that did not answer in time did not: one line naming the socket. */
const notAnswering = (name: string): string =>
  `lxc-info -n ${name} did not answer within ${LXC_INFO_TIMEOUT_MS / 1000} s (whatever listens on the container's command socket does not answer; it may not be LXC's)`;

/** What `lxc-info -s` reports, or 'missing' when LXC does not know the container. */
export type LxcState = 'RUNNING' | 'STOPPED' | 'STARTING' | 'STOPPING' | 'ABORTING' | 'FREEZING' | 'FROZEN' | 'THAWED' | 'missing';

/**
 * LXC names become paths (/var/lib/lxc/NAME) and audit fields: refuse what LXC itself
 * would mangle, and anything that could pass as an option to the lxc-* tools.
 */
export function validateContainerName(name: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.+-]{0,127}$/.test(name)) {
    throw new ContidError(`"${name}" is not an LXC container name (letters, digits, _ . + -, not starting with - or .)`, 2);
  }
  return name;
}

/** The `-P/--lxcpath` an lxc-* argument list selects, so state checks look where lxc-start will. */
export function lxcPathOf(args: readonly string[]): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '--') break;
    if (a === '-P' || a === '--lxcpath') return args[i + 1];
    if (a.startsWith('--lxcpath=')) return a.slice('--lxcpath='.length);
    if (a.startsWith('-P') && a.length > 2) return a.slice(2);
  }
  return undefined;
}

/** LXC's default lxcpath. */
export const DEFAULT_LXC_PATH = '/var/lib/lxc';

/** LXC's lxcpath on this host (`lxc-config lxc.lxcpath`), or its default. */
export function configuredLxcPath(): string {
  const r = spawnSync('lxc-config', ['lxc.lxcpath'], { encoding: 'utf8' });
  return r.status === 0 && r.stdout.trim() ? r.stdout.trim() : DEFAULT_LXC_PATH;
}

/** Asks LXC (lxc-info) for a container's state: the registry alone may be stale. */
export function lxcState(name: string, lxcPath?: string): LxcState {
  const args = ['-n', name, '-s', '-H', ...(lxcPath ? ['-P', lxcPath] : [])];
  const r = spawnSync('lxc-info', args, { encoding: 'utf8', timeout: LXC_INFO_TIMEOUT_MS });
  if ((r.error as NodeJS.ErrnoException | undefined)?.code === 'ETIMEDOUT') throw new ContidError(notAnswering(name));
  if (r.error) throw new ContidError(`cannot run lxc-info: ${(r.error as NodeJS.ErrnoException).code ?? r.error.message} (is LXC installed?)`);
  if (r.status !== 0) return 'missing';
  return r.stdout.trim() as LxcState;
}

/** The hook commands LXC will run for a container (its config with includes, as lxc-info reads it). */
export function lxcHooks(name: string, lxcPath?: string): { startHost: string[]; postStop: string[] } {
  const r = spawnSync('lxc-info', ['-n', name, '-c', 'lxc.hook.start-host', '-c', 'lxc.hook.post-stop', ...(lxcPath ? ['-P', lxcPath] : [])], {
    encoding: 'utf8',
  });
  const values = (key: string): string[] =>
    (r.stdout ?? '')
      .split('\n')
      .filter((l) => l.startsWith(`${key} = `))
      .map((l) => l.slice(key.length + 3).trim())
      .filter(Boolean);
  return { startHost: values('lxc.hook.start-host'), postStop: values('lxc.hook.post-stop') };
}

/** The container init's host pid as LXC reports it (`lxc-info -p`), or null when not running. */
export function lxcInitPid(name: string, lxcPath?: string): number | null {
  const r = spawnSync('lxc-info', ['-n', name, '-p', '-H', ...(lxcPath ? ['-P', lxcPath] : [])], { encoding: 'utf8', timeout: LXC_INFO_TIMEOUT_MS });
  const pid = Number((r.stdout ?? '').trim());
  return r.status === 0 && Number.isInteger(pid) && pid > 0 ? pid : null;
}
