import { resolve } from 'node:path';
import { ContidError, DEFAULT_STATE_DIR, TagResult, Tagger } from '@contid/core';
import { lxcHooks, lxcPathOf, lxcState, validateContainerName } from './lxc-tools';

export const ORCHESTRATOR = 'lxc';

export interface StartPlan {
  /** The command to exec: lxc-start, which inherits the session just bound. */
  argv: string[];
  tag: TagResult;
  /** Problems that leave the container tagged but the registry incomplete. */
  warnings: string[];
}

/** `contid lxc hook`, contid-lxc's hook (what contid install lxc writes) or an older contid's hook-main.js. */
const isContidHook = (line: string): boolean => / lxc hook$/.test(line) || /\/hook-main\.js( |$)/.test(line) || /\/contid-lxc( --state-dir \S+)? hook$/.test(line);

/** The registry a hook command line uses: its --state-dir, else the default. */
function stateDirOf(hook: string): string | undefined {
  const m = / --state-dir[ =](\S+)/.exec(hook);
  return m?.[1];
}

/**
 * The session binding works without hooks, but only the start-host hook tells contid the real
 * init (contid serve learns the end from the monitor); and a hook writing to another registry
 * would record this container as untagged.
 */
function hookWarnings(name: string, lxcPath: string | undefined, stateDir: string, defaultStateDir: string): string[] {
  const fix = `run "contid install lxc ${name}"`;
  const ours = lxcHooks(name, lxcPath).startHost.filter(isContidHook);
  if (ours.length === 0) return [`LXC container "${name}" has no contid lxc.hook.start-host: the registry will not learn its init pid; ${fix}`];
  if (!ours.some((l) => (stateDirOf(l) ?? defaultStateDir) === stateDir)) {
    return [`LXC container "${name}"'s contid lxc.hook.start-host uses another registry than ${stateDir}; ${fix} with the same --state-dir`];
  }
  return [];
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
  // LXC says it is stopped: rows still open for this name missed their post-stop hook.
  tagger.replaceStale(ORCHESTRATOR, (c) => c.runtimeId === name, 'found stopped by contid lxc start');
  const warnings = hookWarnings(name, lxcPathOf(lxcStartArgs), resolve(tagger.stateDir), DEFAULT_STATE_DIR);
  const argv = ['lxc-start', '-n', name, ...lxcStartArgs];
  const tag = tagger.create({
    orchestrator: ORCHESTRATOR,
    name,
    runtimeId: name,
    target: { pid: 'self' },
    parent: 'auto',
    detail: { command: argv },
  });
  return { argv, tag, warnings };
}
