import {
  AUDIT_UNSET,
  ContainerRecord,
  ContidError,
  ContainerQueries,
  TagResult,
  Tagger,
  boundSessions,
  formatContainerId,
  sameProcess,
  scanProcesses,
} from '@contid/core';
import { ORCHESTRATOR } from './start';
import { lxcInitPid, lxcPathOf, lxcState, validateContainerName } from './lxc-tools';

export interface AttachPlan {
  argv: string[];
  tag: TagResult;
}

/** The newest open registry row for an LXC name. */
export function openLxcRow(registry: Pick<ContainerQueries, 'list'>, name: string): ContainerRecord | undefined {
  return registry
    .list({ orchestrator: ORCHESTRATOR })
    .reverse()
    .find((c) => c.runtimeId === name && c.state !== 'ended');
}

/**
 * Is the init LXC runs now the instance the row describes? A tagged row's init carries one of
 * its sessions; an untagged row recorded the init itself (pid and start time).
 */
export function initMatchesRow(registry: ContainerQueries, procRoot: string, row: ContainerRecord, init: number): { ok: boolean; initSession: number | null } {
  const table = scanProcesses(procRoot);
  const initSession = table.session.get(init) ?? null;
  // Untagged rows and procfs-path rows (no session of their own) name the init itself.
  if (row.state === 'untagged' || row.session === null) return { ok: row.initPid === init && sameProcess(row.initPid, row.initStart, table), initSession };
  return { ok: initSession !== null && boundSessions(registry, row).includes(initSession), initSession };
}

/**
 * `contid lxc attach NAME [lxc-attach args] -- CMD`: a fresh session for this process, bound
 * to the running container as op=setns, then lxc-attach (whose attached child inherits it).
 * Refused when the running instance is not the one the registry knows (started without contid
 * after the recorded one ended): binding into it would attribute to a container that is gone.
 */
export function planAttach(tagger: Tagger, name: string, lxcAttachArgs: readonly string[], command: readonly string[]): AttachPlan {
  validateContainerName(name);
  const lxcPath = lxcPathOf(lxcAttachArgs);
  const state = lxcState(name, lxcPath);
  if (state !== 'RUNNING') throw new ContidError(`LXC container "${name}" is ${state === 'missing' ? 'not defined' : state.toLowerCase()}, not running`);
  const container = openLxcRow(tagger.containers, name);
  const restart = `restart it with "lxc-stop -n ${name} && contid lxc start ${name}"`;
  if (!container) throw new ContidError(`LXC container "${name}" is running but not in the registry (started without contid?); ${restart}`);
  const init = lxcInitPid(name, lxcPath);
  if (init === null) throw new ContidError(`LXC container "${name}" has no init pid (lxc-info -p): not running`);
  const { ok, initSession } = initMatchesRow(tagger.containers, tagger.procRoot, container, init);
  if (!ok) {
    const where = initSession === null || initSession === AUDIT_UNSET ? 'no audit session' : `session ${initSession}`;
    throw new ContidError(
      `LXC container "${name}"'s running init (pid ${init}, ${where}) is not the instance contid recorded as ${formatContainerId(container.contid)} (session ${container.session ?? '-'}): it was started without contid; ${restart}`,
    );
  }
  const argv = ['lxc-attach', '-n', name, ...lxcAttachArgs, ...(command.length ? ['--', ...command] : [])];
  const tag = tagger.setns({ contid: container.contid, target: { pid: 'self' }, detail: { command: argv } });
  return { argv, tag };
}
