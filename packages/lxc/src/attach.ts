import { ContidError, TagResult, Tagger } from '@contid/core';
import { ORCHESTRATOR } from './start';
import { lxcPathOf, lxcState, validateContainerName } from './lxc-tools';

export interface AttachPlan {
  argv: string[];
  tag: TagResult;
}

/**
 * `contid lxc attach NAME [lxc-attach args] -- CMD`: a fresh session for this process, bound
 * to the running container as op=setns, then lxc-attach (whose attached child inherits it).
 */
export function planAttach(tagger: Tagger, name: string, lxcAttachArgs: readonly string[], command: readonly string[]): AttachPlan {
  validateContainerName(name);
  const state = lxcState(name, lxcPathOf(lxcAttachArgs));
  if (state !== 'RUNNING') throw new ContidError(`LXC container "${name}" is ${state === 'missing' ? 'not defined' : state.toLowerCase()}, not running`);
  const container = tagger.registry.findByRuntimeId(name);
  if (!container || container.orchestrator !== ORCHESTRATOR || container.state === 'ended') {
    throw new ContidError(`LXC container "${name}" is running but not in the registry (started before contid?); restart it with "contid lxc start ${name}"`);
  }
  const argv = ['lxc-attach', '-n', name, ...lxcAttachArgs, ...(command.length ? ['--', ...command] : [])];
  const tag = tagger.setns({ contid: container.contid, target: { pid: 'self' }, detail: { command: argv } });
  return { argv, tag };
}
