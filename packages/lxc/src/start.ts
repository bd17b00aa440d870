import { ContidError, TagResult, Tagger } from '@contid/core';
import { lxcPathOf, lxcState, validateContainerName } from './lxc-tools';

export const ORCHESTRATOR = 'lxc';

export interface StartPlan {
  /** The command to exec: lxc-start, which inherits the session just bound. */
  argv: string[];
  tag: TagResult;
}

/**
 * `contid lxc start NAME [lxc-start args]`: the caller (about to become lxc-start) renews its
 * own audit session and binds it to a new container ID, so LXC's monitor, its hooks and the
 * container's init inherit it. LXC hooks cannot do this themselves: they are children of the
 * monitor, never ancestors of the init. The LXC name is the runtime id.
 */
export function planStart(tagger: Tagger, name: string, lxcStartArgs: readonly string[]): StartPlan {
  validateContainerName(name);
  // Refuse before binding: a failed lxc-start must not leave a "running" row behind.
  const state = lxcState(name, lxcPathOf(lxcStartArgs));
  if (state === 'missing') throw new ContidError(`LXC container "${name}" does not exist (lxc-create it first)`);
  if (state !== 'STOPPED') throw new ContidError(`LXC container "${name}" is ${state.toLowerCase()}, not stopped`);
  const argv = ['lxc-start', '-n', name, ...lxcStartArgs];
  const tag = tagger.create({
    orchestrator: ORCHESTRATOR,
    name,
    runtimeId: name,
    target: { pid: 'self' },
    parent: 'auto',
    detail: { command: argv },
  });
  return { argv, tag };
}
