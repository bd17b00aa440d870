import { BindTarget, ContainerRecord, ContidConfig, ContidError, ParentSpec, SessionWritePath, TagResult, Tagger, escapeText } from '@contid/core';
import { Invocation } from './invocation';

export const ORCHESTRATOR = 'systemd';

/**
 * Binds a process of a unit invocation: the first one creates the invocation's container
 * (runtime id = $INVOCATION_ID), later ones (further ExecStart= of a oneshot, an
 * ExecStartPost= bind after an exec --systemd) join it. A new invocation never joins an old
 * container: each start or restart gets a new INVOCATION_ID, and containers of earlier
 * invocations of the same unit still marked running (ExecStopPost= never ran: SIGKILL,
 * crash) are ended first, so no stale binding survives. `parent` defaults to the container the
 * caller runs in; contid serve passes the session the line ran in before it renewed.
 */
export function bindInvocation(tagger: Tagger, inv: Invocation, target: BindTarget, detail: Record<string, unknown>, parent: ParentSpec = 'auto'): TagResult {
  const current = tagger.containers.findByRuntimeId(inv.invocationId);
  // systemd lets a unit's own Environment= override $INVOCATION_ID: an id is joined only by its own unit.
  if (current && (current.orchestrator !== ORCHESTRATOR || current.name !== inv.unit)) {
    throw new ContidError(`invocation ${inv.invocationId} belongs to ${escapeText(current.name)}, not ${escapeText(inv.unit)} (is $INVOCATION_ID set by the unit?); not joining it`);
  }
  if (current && current.state === 'running') return tagger.setns({ contid: current.contid, target, detail });
  tagger.replaceStale(ORCHESTRATOR, (c) => c.name === inv.unit && c.runtimeId !== inv.invocationId, `superseded by invocation ${inv.invocationId}`);
  return tagger.create({
    orchestrator: ORCHESTRATOR,
    name: inv.unit,
    runtimeId: inv.invocationId,
    labels: { 'systemd.unit': inv.unit, 'systemd.cgroup': inv.cgroup },
    parent,
    target,
    detail,
  });
}

/** Records the end of an invocation's container; null when nothing was bound in it. */
export function endInvocation(tagger: Tagger, inv: Invocation, reason?: string): ContainerRecord | null {
  const c = tagger.containers.findByRuntimeId(inv.invocationId);
  if (!c || c.orchestrator !== ORCHESTRATOR) return null;
  if (c.name !== inv.unit) throw new ContidError(`invocation ${inv.invocationId} belongs to ${escapeText(c.name)}, not ${escapeText(inv.unit)} (is $INVOCATION_ID set by the unit?); not ending it`);
  return tagger.end(c.contid, reason);
}

/**
 * The unprivileged half of a unit under User= or network sandboxing: the main process gives
 * itself a fresh audit session (a process whose loginuid is unset, as systemd leaves it, may
 * set it once without privilege), and the privileged `ExecStartPost=+contid systemd bind`
 * binds that session to the invocation's contid. The kernel chooses the session number, so
 * the unit cannot claim another container's.
 */
export function renewOwnSession(config: Pick<ContidConfig, 'loginUid'>): number {
  return new SessionWritePath({ loginUid: config.loginUid }).renewOwnSession();
}
