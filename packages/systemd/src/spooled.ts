import { ContainerId, ContidError, Tagger, escapeText, formatContainerId, processStartTime } from '@contid/core';
import { Invocation, checkUnitProcess, checkedInvocation, inUnitCgroup } from './invocation';
import { ORCHESTRATOR, bindInvocation } from './unit-container';
import { forgedInvocation } from './cgroup-invocation';
import { activeEndFollower } from './end-follower';

/** The part of a spool entry (@contid/oci) the systemd adapter reads: what contid-systemd wrote. */
export interface SpooledLine {
  name: string;
  /** $INVOCATION_ID. */
  id: string;
  /** The unit (`--unit %n`). */
  containerName: string | null;
  /** The line's pid (it became the line's command). */
  wrapperPid: number;
  /** The session the line renewed (exec), or $MAINPID's (bind). */
  session: number | null;
  /** The session the writer ran in before. */
  oldSession: number | null;
  fields: Readonly<Record<string, string>>;
}

export type SpooledOutcome =
  | { kind: 'tagged'; contid: ContainerId; op: 'create' | 'setns' | 'init' | 'untagged' }
  | { kind: 'already'; contid: ContainerId }
  | { kind: 'deferred'; why: string };

/**
 * A line of a new invocation, while an older one of its unit still runs in the registry: its end
 * comes from systemd (end-follower.ts), sent before anything of the new one; the line waits for
 * it a little rather than supersede the older one without systemd's reason.
 */
function waitForOlderEnd(tagger: Tagger, inv: Invocation): SpooledOutcome | null {
  // A later line of a running invocation joins it: nothing older to wait for.
  if (tagger.containers.findByRuntimeId(inv.invocationId)?.state === 'running') return null;
  const why = activeEndFollower()?.beforeBind(inv.unit, inv.invocationId);
  return why ? { kind: 'deferred', why } : null;
}

/**
 * A line whose $INVOCATION_ID is not its unit's: never bound to the id it names (a made-up one
 * would be "found stopped" by the end follower at once, another unit's is refused), and the
 * unit is never left running unattributed without a word either: its process is recorded as an
 * untagged container of the unit (op=untagged, `contid doctor`'s "untagged workloads") under
 * the id PID 1 runs, which the end follower ends when PID 1 ends that invocation. Without an
 * answer from the cgroup (`real` null: only another unit's id gives it away) the row has no
 * runtime id, and ends when its process is found gone.
 */
function recordForged(tagger: Tagger, inv: Invocation, forged: Forged, pid: number, entryName: string): SpooledOutcome {
  const { real } = forged;
  const reason = real
    ? `$INVOCATION_ID ${inv.invocationId} is not the invocation PID 1 runs for ${escapeText(inv.unit)} (${real}): set by the unit's environment; not binding it`
    : `invocation ${inv.invocationId} belongs to ${escapeText(forged.owner ?? '')}, not ${escapeText(inv.unit)} ($INVOCATION_ID set by the unit's environment); not binding it`;
  const done = tagger.containers.list({ state: 'untagged', orchestrator: ORCHESTRATOR }).find((c) => c.name === inv.unit && c.runtimeId === real && c.initPid === pid);
  if (done) return { kind: 'already', contid: done.contid };
  let container;
  try {
    ({ container } = tagger.recordUntagged({
      orchestrator: ORCHESTRATOR,
      name: inv.unit,
      runtimeId: real,
      labels: { 'systemd.unit': inv.unit, 'systemd.cgroup': inv.cgroup },
      pid,
      detail: { reason, spoolEntry: entryName },
    }));
  } catch (e) {
    throw new ContidError(`${reason} (and its pid ${pid} could not be recorded as untagged: ${(e as Error).message})`);
  }
  if (real) activeEndFollower()?.watch(inv.unit, real);
  return { kind: 'tagged', contid: container.contid, op: 'untagged' };
}

/** A line's id that is not its unit's: the id PID 1 runs (from the cgroup), else the unit whose container has the id. */
interface Forged {
  real: string | null;
  owner?: string;
}

/** Whether the line names an invocation not its unit's (null: its own, or it cannot be told). */
function notItsOwn(tagger: Tagger, inv: Invocation): Forged | null {
  const real = forgedInvocation(inv);
  if (real) return { real };
  const c = tagger.containers.findByRuntimeId(inv.invocationId);
  return c && (c.orchestrator !== ORCHESTRATOR || c.name !== inv.unit) ? { real: null, owner: c.name } : null;
}

const num = (v: string | undefined): number | null => (v !== undefined && /^\d{1,10}$/.test(v) ? Number(v) : null);

function invocationOf(entry: SpooledLine): Invocation {
  return checkedInvocation(entry.id, entry.containerName ?? '', entry.fields.cgroup ?? '');
}

/** A session is dedicated to one container: an entry naming another's is refused, never re-bound. */
function boundElsewhere(tagger: Tagger, session: number, inv: Invocation): 'here' | null {
  const c = tagger.containers.containerOfSession(session);
  if (!c) return null;
  if (c.runtimeId === inv.invocationId) return 'here';
  throw new ContidError(`session ${session} is already bound to ${formatContainerId(c.contid)} (${escapeText(c.name)}), not to ${inv.unit} invocation ${inv.invocationId}`);
}

/**
 * `contid serve`'s half of contid-systemd exec (one Exec line of a unit): the line renewed its
 * own session, and the invocation's first line creates the container, every later one joins it
 * (op=setns), as `contid exec --systemd` does synchronously. Entries come in session order, so
 * the lines come as systemd ran them. A re-read entry (a crash after commit) does nothing.
 */
export function bindSpooledLine(entry: SpooledLine, tagger: Tagger): SpooledOutcome {
  const inv = invocationOf(entry);
  if (entry.session === null) throw new ContidError(`${inv.unit}: an Exec line's entry without a session`);
  if (boundElsewhere(tagger, entry.session, inv) === 'here') return { kind: 'already', contid: tagger.containers.containerOfSession(entry.session)!.contid };
  const forged = notItsOwn(tagger, inv);
  if (forged) return recordForged(tagger, inv, forged, entry.wrapperPid, entry.name);
  const wait = waitForOlderEnd(tagger, inv);
  if (wait) return wait;
  const parent = entry.oldSession === null ? null : { session: entry.oldSession };
  const { container, binding } = bindInvocation(tagger, inv, { pid: entry.wrapperPid, session: entry.session }, { spoolEntry: entry.name }, parent);
  if (binding.op === 'create') activeEndFollower()?.watch(inv.unit, inv.invocationId);
  return { kind: 'tagged', contid: container.contid, op: binding.op === 'create' ? 'create' : 'setns' };
}

/**
 * A main process that exited before serve reached its entry (a short confined run, a daemon
 * that died, serve down or behind): what the privileged binder saw stands in for the live
 * check — the cgroup it read between two reads of the same start time, so of that process.
 * A pid outside the unit's cgroup never gets this far (contid-systemd bind refuses it), and an
 * entry without that field (an older writer) is refused as before.
 */
function checkSeenInUnit(entry: SpooledLine, inv: Invocation, pid: number): void {
  const seen = entry.fields['init-cgroup'];
  if (!seen || !inUnitCgroup(seen, inv)) {
    throw new ContidError(`${inv.unit}: MAINPID ${pid} exited before contid serve recorded it`);
  }
}

/**
 * `contid serve`'s half of contid-systemd bind (ExecStartPost=+ of a forking unit): $MAINPID,
 * the daemon, runs in a session bound to the invocation's container (it was forked by the
 * wrapped ExecStart= line) and is recorded as its init (op=update); a main process with a session
 * of its own (a confined unit's `exec --renew-only`, PAMName=) is bound to the invocation, as
 * `contid systemd bind` does. Only a process of the unit: $MAINPID can be set by the unit.
 */
export function recordSpooledMainPid(entry: SpooledLine, tagger: Tagger): SpooledOutcome {
  const inv = invocationOf(entry);
  const pid = num(entry.fields.pid);
  const session = num(entry.fields['init-session']);
  const start = num(entry.fields['init-start']);
  if (pid === null || session === null || start === null) throw new ContidError(`${inv.unit}: a MAINPID entry without the pid, its session and its start time`);
  // The binder's own session is never the main process's: that would tag everything systemd starts.
  if (session === entry.oldSession) throw new ContidError(`${inv.unit}: MAINPID ${pid} shares the session of ExecStartPost= (${session}): it has no session of its own`);
  const c = tagger.containers.findByRuntimeId(inv.invocationId);
  if (c && c.state !== 'ended' && c.initPid === pid && c.initStart === start) return { kind: 'already', contid: c.contid };
  const exited = processStartTime(pid, tagger.procRoot) !== start;
  if (exited) checkSeenInUnit(entry, inv, pid);
  else checkUnitProcess(pid, inv, tagger.procRoot);
  if (c && c.state === 'running' && tagger.boundSessions(c).includes(session)) {
    // An exited daemon is recorded as the binder saw it, never read from a process that has its pid now.
    tagger.recordInit(c.contid, pid, {}, exited ? start : undefined);
    return { kind: 'tagged', contid: c.contid, op: 'init' };
  }
  if (boundElsewhere(tagger, session, inv) === 'here') throw new ContidError(`${inv.unit}: MAINPID ${pid}'s session ${session} belongs to an ended container of this invocation`);
  const forged = notItsOwn(tagger, inv);
  if (forged) return recordForged(tagger, inv, forged, pid, entry.name);
  const wait = waitForOlderEnd(tagger, inv);
  if (wait) return wait;
  const { container, binding } = bindInvocation(tagger, inv, { pid, session, start }, { mainPid: pid, spoolEntry: entry.name }, null);
  if (binding.op === 'create') activeEndFollower()?.watch(inv.unit, inv.invocationId);
  return { kind: 'tagged', contid: container.contid, op: binding.op === 'create' ? 'create' : 'setns' };
}
