import { ContainerId, ContainerRecord, ContidError, Tagger } from '@contid/core';
import { hookContext, runHook } from './hook';
import { ORCHESTRATOR } from './start';

/** The part of a spool entry (@contid/oci) the LXC adapter reads: contid-lxc's start-host entry. */
export interface SpooledInit {
  id: string;
  fields: Readonly<Record<string, string>>;
}

export type SpooledInitOutcome = { kind: 'tagged'; contid: ContainerId; op: 'init' | 'untagged' } | { kind: 'already'; contid: ContainerId };

const num = (v: string | undefined): number | null => (v !== undefined && /^\d{1,10}$/.test(v) ? Number(v) : null);

/**
 * The open row that already records this init (a re-read entry): the newest row of that name, by
 * the runtime_id index — a scan of every LXC row ever recorded grew with the registry's history.
 * Only when another orchestrator's row took the name since does it look through LXC's rows.
 */
function alreadyRecorded(tagger: Tagger, name: string, pid: number, initStart: number): ContainerRecord | undefined {
  const records = (c: ContainerRecord) => c.runtimeId === name && c.initPid === pid && c.initStart === initStart && c.state !== 'ended';
  const newest = tagger.containers.findByRuntimeId(name);
  if (!newest || newest.orchestrator === ORCHESTRATOR) return newest && records(newest) ? newest : undefined;
  return tagger.containers.list({ orchestrator: ORCHESTRATOR }).find(records);
}

/**
 * `contid serve`'s half of contid-lxc's start-host hook (an op=init spool entry): the hook's own
 * work — the init recorded for the container contid lxc start bound (op=update), or the
 * container recorded as untagged — from what the hook saw when LXC ran it. The entry is
 * validated as the hook's environment was; a re-read entry (a crash after commit) does nothing.
 */
export function recordSpooledInit(entry: SpooledInit, tagger: Tagger): SpooledInitOutcome {
  const f = entry.fields;
  const ctx = hookContext({ LXC_HOOK_TYPE: 'start-host', LXC_NAME: entry.id, LXC_PID: f.pid, LXC_CONFIG_FILE: f.config, LXC_ROOTFS_PATH: f.rootfs }, []);
  const initSession = num(f['init-session']);
  const initStart = num(f['init-start']);
  if (initSession === null || initStart === null) throw new ContidError(`LXC start-host entry for "${ctx.name}" without the init's session and start time`);
  const done = alreadyRecorded(tagger, ctx.name, ctx.pid!, initStart);
  if (done) return { kind: 'already', contid: done.contid };
  const outcome = runHook(tagger, { ...ctx, seen: { initSession, initStart } });
  return { kind: 'tagged', contid: outcome.container.contid, op: outcome.action === 'untagged' ? 'untagged' : 'init' };
}
