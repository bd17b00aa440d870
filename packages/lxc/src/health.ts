import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ContidConfig, ContainerRecord, HealthResult, Registry } from '@contid/core';
import { ORCHESTRATOR } from './start';

/** Running LXC containers (default lxcpath), or null when LXC is not installed. */
function runningContainers(): string[] | null {
  const r = spawnSync('lxc-ls', ['-1', '--running'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) return null;
  return r.stdout.split('\n').filter(Boolean);
}

/**
 * `contid doctor`: every running LXC container should be tagged. One started without
 * `contid lxc start` shares someone else's session (or none), so its records are unattributed.
 */
export function lxcHealth(config: ContidConfig): HealthResult[] {
  const running = runningContainers();
  if (running === null || running.length === 0) return [];
  const known = new Map<string, ContainerRecord>();
  if (existsSync(join(config.stateDir, 'registry.db'))) {
    const registry = Registry.open(config.stateDir, { readonly: true });
    try {
      for (const c of registry.list({ orchestrator: ORCHESTRATOR })) if (c.state !== 'ended' && c.runtimeId) known.set(c.runtimeId, c);
    } finally {
      registry.close();
    }
  }
  return running.map((name): HealthResult => {
    const c = known.get(name);
    if (c?.state === 'running') return { check: `lxc ${name}`, status: 'ok', detail: `tagged as contid ${c.contid} (session ${c.session ?? 'procfs'})` };
    return {
      check: `lxc ${name}`,
      status: 'warn',
      detail: c ? `running untagged (recorded as contid ${c.contid}; its records are not attributed)` : 'running but unknown to contid (started before contid was installed?)',
      fix: `lxc-stop -n ${name} && contid lxc start ${name}`,
    };
  });
}
