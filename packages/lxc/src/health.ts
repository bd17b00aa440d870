import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { AUDIT_UNSET, ContainerQueries, ContidConfig, HealthResult, Registry, formatContainerId } from '@contid/core';
import { initMatchesRow, openLxcRow } from './attach';
import { DEFAULT_LXC_PATH, lxcInitPid } from './lxc-tools';
import { monitoredContainers } from './monitor-process';
import { ENTRY_RULES_KEY, JOIN_RULES_KEY, entryRules, hostEntryTargets, loadedEntryRules } from './entry-rules';

/**
 * Running LXC containers (LXC's configured lxcpath: those with a monitor), or null when LXC is
 * not installed. Not `lxc-ls --running`: it asks each container over its command socket, and
 * one squatted name makes it wait for ever (monitor-process.ts).
 */
export function runningContainers(): string[] | null {
  const r = spawnSync('lxc-config', ['lxc.lxcpath'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) return null;
  return monitoredContainers(r.stdout.trim() || DEFAULT_LXC_PATH);
}

/**
 * `contid doctor`: every running LXC container should be tagged, and the row must describe
 * the instance that runs now: its live init (lxc-info -p) carries the row's session. A row
 * left open by an earlier instance (no post-stop hook, a crashed monitor) is not "ok".
 */
export function lxcHealth(config: ContidConfig): HealthResult[] {
  const running = runningContainers();
  if (running === null) return [];
  return [entryRulesHealth(), ...containersHealth(config, running)];
}

/** Are the audit rules that record entries bypassing contid (plain lxc-attach, lxc-start) loaded? */
function entryRulesHealth(): HealthResult {
  const check = 'lxc entry rules';
  const fix = 'contid install lxc';
  let loaded: string[];
  let expected: string[];
  try {
    loaded = loadedEntryRules();
    expected = entryRules(hostEntryTargets());
  } catch (e) {
    return { check, status: 'warn', detail: `cannot list audit rules: ${(e as Error).message}`, fix };
  }
  const missing = expected.filter((r) => !loaded.includes(r));
  if (missing.length === 0) return { check, status: 'ok', detail: `${loaded.length} rules under keys ${ENTRY_RULES_KEY} and ${JOIN_RULES_KEY}: plain lxc-attach and lxc-start are recorded` };
  return { check, status: 'warn', detail: `${missing.length} of ${expected.length} rules not loaded: a plain lxc-attach or lxc-start leaves no trace (${missing[0]})`, fix };
}

/**
 * Running LXC containers no open row describes (started without contid and without its
 * hooks): `contid ps` names them, since the registry alone cannot.
 */
export function unknownRunningContainers(registry: Pick<ContainerQueries, 'list'>): string[] {
  return (runningContainers() ?? []).filter((name) => !openLxcRow(registry, name));
}

function containersHealth(config: ContidConfig, running: string[]): HealthResult[] {
  if (running.length === 0) return [];
  const registry = existsSync(join(config.stateDir, 'registry.db')) ? Registry.open(config.stateDir, { readonly: true }) : null;
  try {
    return running.map((name): HealthResult => {
      const fix = `lxc-stop -n ${name} && contid lxc start ${name}`;
      const row = registry ? openLxcRow(registry, name) : undefined;
      if (!registry || !row) return { check: `lxc ${name}`, status: 'warn', detail: 'running but unknown to contid (started without contid, or before it was installed)', fix };
      const init = lxcInitPid(name);
      const { ok, initSession } = init === null ? { ok: false, initSession: null } : initMatchesRow(registry, config.procRoot, row, init);
      const id = formatContainerId(row.contid);
      if (!ok) {
        const where = initSession === null || initSession === AUDIT_UNSET ? 'no audit session' : `session ${initSession}`;
        return { check: `lxc ${name}`, status: 'warn', detail: `its running init (pid ${init ?? '?'}, ${where}) is not the instance recorded as contid ${id} (session ${row.session ?? '-'}): started without contid`, fix };
      }
      if (row.state === 'untagged') return { check: `lxc ${name}`, status: 'warn', detail: `running untagged (recorded as contid ${id}; its records are not attributed)`, fix };
      return { check: `lxc ${name}`, status: 'ok', detail: `tagged as contid ${id} (session ${initSession ?? 'procfs'})` };
    });
  } finally {
    registry?.close();
  }
}
