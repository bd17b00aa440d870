import type { CommandModule } from 'yargs';
import { AUDIT_UNSET, ContidError, Tagger, escapeText, formatContainerId, readSessionId } from '@contid/core';
import { bindInvocation, checkUnitProcess, currentInvocation, endInvocation, forgedInvocation, mainPidFromEnv, stopReason } from '@contid/systemd';
import { warn } from '../output';

interface UnitArgs {
  unit?: string;
}

const unitOption = { type: 'string', describe: 'the unit (drop-ins pass %n; default: read from the cgroup)' } as const;

/** `ExecStartPost=+contid systemd bind`: binds $MAINPID where it already has a session of its own (PAMName=) or the kernel has procfs contid. */
const bind: CommandModule<object, UnitArgs> = {
  command: 'bind',
  describe: "ExecStartPost=: bind the unit's $MAINPID to this invocation's contid (needs PAMName= or a kernel with audit_containerid)",
  builder: (y) => y.option('unit', unitOption),
  handler: (argv) => {
    const inv = currentInvocation(process.env, argv.unit);
    const pid = mainPidFromEnv();
    // The unit's environment can set $INVOCATION_ID (outside attack 17): only the one PID 1 runs is bound.
    const real = forgedInvocation(inv);
    if (real) throw new ContidError(`$INVOCATION_ID ${inv.invocationId} is not the invocation PID 1 runs for ${escapeText(inv.unit)} (${real}): set by the unit's environment; not binding it`);
    const tagger = Tagger.open();
    try {
      checkUnitProcess(pid, inv, tagger.procRoot);
      const current = tagger.containers.findByRuntimeId(inv.invocationId);
      const procfs = tagger.writePathFor(pid) === 'procfs';
      const session = procfs ? null : awaitSession(pid, tagger.procRoot);
      // The main process already runs in a session of this invocation's container (exec
      // --systemd wrapped the line that started it; a forking daemon inherited it): record it
      // as the container's init (pid and start time), bind nothing new.
      if (current?.state === 'running' && session !== null && tagger.boundSessions(current).includes(session)) {
        tagger.recordInit(current.contid, pid);
        process.stdout.write(`${inv.unit}: main pid ${pid} runs in ${formatContainerId(current.contid)}; recorded as its init\n`);
        return;
      }
      // An earlier bind of this invocation already bound this pid (procfs: no session to compare).
      if (current?.state === 'running' && tagger.containers.bindings(current.contid).some((b) => b.pid === pid && b.session === session)) {
        process.stdout.write(`${inv.unit}: pid ${pid} is already bound to ${formatContainerId(current.contid)}\n`);
        return;
      }
      const { container, auditError } = bindInvocation(tagger, inv, { pid }, { mainPid: pid });
      if (auditError) warn(`FAIL-OPEN: ${inv.unit} runs untracked by the audit trail: ${auditError}`);
      process.stdout.write(`${inv.unit}: bound pid ${pid} to ${formatContainerId(container.contid)}\n`);
    } finally {
      tagger.close();
    }
  },
};

/**
 * Type=simple runs ExecStartPost= right after fork, while the main process may still be
 * opening its PAM session: give it a moment to leave the unset session.
 */
function awaitSession(pid: number, procRoot: string, ms = 5000): number | null {
  const deadline = Date.now() + ms;
  let session = sessionOf(pid, procRoot);
  while (session === AUDIT_UNSET && Date.now() < deadline) {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
    session = sessionOf(pid, procRoot);
  }
  return session;
}

function sessionOf(pid: number, procRoot: string): number | null {
  try {
    return readSessionId(pid, procRoot);
  } catch {
    return null;
  }
}

/** `ExecStopPost=+contid systemd end`: records the end of this invocation's container. */
const end: CommandModule<object, UnitArgs> = {
  command: 'end',
  describe: "ExecStopPost=: record the end of this invocation's container (reason from $SERVICE_RESULT, $EXIT_CODE, $EXIT_STATUS)",
  builder: (y) => y.option('unit', unitOption),
  handler: (argv) => {
    const inv = currentInvocation(process.env, argv.unit);
    const tagger = Tagger.open();
    try {
      const ended = endInvocation(tagger, inv, stopReason());
      // The main process may have failed before contid exec ran: nothing to end is not an error.
      if (!ended) process.stdout.write(`${inv.unit}: no container for invocation ${inv.invocationId}\n`);
      else process.stdout.write(`${inv.unit}: ended ${formatContainerId(ended.contid)}\n`);
    } finally {
      tagger.close();
    }
  },
};

export const systemdCommand: CommandModule<object, object> = {
  command: 'systemd <command>',
  describe: 'systemd units: bind (ExecStartPost=) and end (ExecStopPost=); ExecStart= uses contid exec --systemd',
  builder: (y) => y.command(bind).command(end).demandCommand(1),
  handler: () => {
    throw new ContidError('name a systemd command: bind, end', 2);
  },
};
