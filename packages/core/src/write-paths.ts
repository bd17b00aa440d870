import { existsSync, writeFileSync } from 'node:fs';
import { ContainerId, formatContainerId } from './container-id';
import { ContidError } from './errors';
import { AUDIT_UNSET, Pid, readLoginUid, readSessionId } from './proc';

/** The process that receives a container's kernel token. */
export interface BindTarget {
  /** 'self' when the tagger is (an ancestor of) the container and renews its own session. */
  pid: Pid;
  /**
   * The session a contid wrapper already renewed for this process (the runtime shim, `contid
   * lxc start`), handed over durably. Trusted because only privileged callers reach the
   * Tagger; the pid may have exited by the time the hand-off is processed.
   */
  session?: number;
  /**
   * The start time the hand-off saw the pid with: a process with another start time has the
   * pid now (the handed-over one exited), and is never read for the record or the registry.
   */
  start?: number;
}

/** What a write path did, for the registry and the audit record. */
export interface BindResult {
  pid: number;
  /** The audit session now dedicated to the container; null when the kernel carries the contid itself. */
  session: number | null;
}

/** A way to make the kernel carry a container's identity. */
export interface WritePath {
  readonly kind: 'session' | 'procfs';
  bind(id: ContainerId, target: BindTarget): BindResult;
}

export class UntaggableError extends ContidError {
  override name = 'UntaggableError';
}

/**
 * Stock kernels: a dedicated audit session. A process can renew only its own session, so
 * 'self' renews, and another pid is accepted only when an ancestor wrapper already gave it a
 * session of its own (it must differ from the binder's, or it would tag the host too).
 */
export class SessionWritePath implements WritePath {
  readonly kind = 'session';

  constructor(
    private readonly options: { loginUid?: number; procRoot?: string } = {},
  ) {}

  bind(_id: ContainerId, target: BindTarget): BindResult {
    const procRoot = this.options.procRoot ?? '/proc';
    if (target.pid === 'self') return { pid: process.pid, session: this.renewOwnSession() };
    if (target.session !== undefined) {
      if (target.session === AUDIT_UNSET) throw new UntaggableError(`pid ${target.pid} was handed over with the unset session`);
      return { pid: target.pid, session: target.session };
    }
    const session = readSessionId(target.pid, procRoot);
    if (session === AUDIT_UNSET || session === readSessionId('self', procRoot)) {
      throw new UntaggableError(
        `pid ${target.pid} has no audit session of its own (it shares ${session === AUDIT_UNSET ? 'the unset session' : `session ${session}`}); start it through a contid wrapper`,
      );
    }
    return { pid: target.pid, session };
  }

  /**
   * Writes the current auid (or the configured uid when unset) back to /proc/self/loginuid:
   * the kernel allocates a new session and logs type=LOGIN. Must run on the main thread
   * (synchronous fs), since the kernel only lets a task write its own loginuid.
   */
  renewOwnSession(): number {
    const before = readSessionId('self');
    const auid = readLoginUid('self');
    const uid = auid === AUDIT_UNSET ? this.options.loginUid ?? process.getuid?.() ?? 0 : auid;
    try {
      writeFileSync('/proc/self/loginuid', String(uid));
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new UntaggableError(
        code === 'EPERM'
          ? 'cannot renew the audit session: EPERM (needs CAP_AUDIT_CONTROL, and loginuid_immutable must be off)'
          : `cannot renew the audit session: ${code ?? (e as Error).message}`,
      );
    }
    const after = readSessionId('self');
    if (after === before || after === AUDIT_UNSET) {
      throw new UntaggableError(`the kernel did not give a new audit session (still ${after})`);
    }
    return after;
  }
}

/**
 * Kernels with the audit-container-ID patches: write the ID into /proc/PID/audit_containerid.
 * The kernel lets an orchestrator set it on a descendant only, never on itself.
 */
export class ProcfsWritePath implements WritePath {
  readonly kind = 'procfs';

  constructor(private readonly procRoot = '/proc') {}

  static supported(procRoot = '/proc'): boolean {
    return existsSync(`${procRoot}/self/audit_containerid`);
  }

  bind(id: ContainerId, target: BindTarget): BindResult {
    if (target.pid === 'self') {
      throw new ContidError('the procfs write path tags another process, never the caller; use the session path for self');
    }
    const file = `${this.procRoot}/${target.pid}/audit_containerid`;
    if (!existsSync(file)) throw new UntaggableError(`${file} does not exist: this kernel has no audit container ID`);
    try {
      writeFileSync(file, formatContainerId(id));
    } catch (e) {
      throw new UntaggableError(`cannot write ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    return { pid: target.pid, session: null };
  }
}

export type WritePathChoice = 'auto' | 'session' | 'procfs';

/** procfs where the kernel has it and the target is another process; the session path otherwise. */
export function chooseWritePath(
  choice: WritePathChoice,
  target: BindTarget,
  options: { procRoot?: string; loginUid?: number } = {},
): WritePath {
  const procRoot = options.procRoot ?? '/proc';
  if (choice === 'procfs' || (choice === 'auto' && target.pid !== 'self' && ProcfsWritePath.supported(procRoot))) {
    return new ProcfsWritePath(procRoot);
  }
  return new SessionWritePath(options);
}
