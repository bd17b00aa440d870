import { ContidError, ContainerId, SessionWritePath, formatContainerId, readSessionId } from '@contid/core';
import { existsSync } from 'node:fs';
import { SOCKET_ENV, ServiceError, callService } from './client';
import { DEFAULT_SOCKET_PATH } from './service';

/** The service socket this process should use, or null when none is there (direct mode). */
export function serviceSocket(env: NodeJS.ProcessEnv = process.env): string | null {
  const path = env[SOCKET_ENV] || DEFAULT_SOCKET_PATH;
  return existsSync(path) ? path : null;
}

export interface SelfTagSpec {
  orchestrator: string;
  name: string;
  runtimeId?: string | null;
  /** An explicit parent; by default the container this process was in before it renewed. */
  parent?: ContainerId | null;
  /** Enter this container instead of creating one. */
  setns?: string;
  detail?: Record<string, unknown>;
  loginUid?: number;
  /**
   * What to do when the service fails (registry full, service down): 'closed' throws,
   * 'open' returns with contid null so the caller can run untracked and say so. A denial is
   * never subject to the policy.
   */
  failPolicy?: 'open' | 'closed';
}

export interface SelfTagResult {
  /** null when tagging failed under the open fail policy. */
  contid: string | null;
  session: number;
  auditError: string | null;
  /** Why tagging failed under the open fail policy. */
  failure?: string;
}

/**
 * Tags the calling process through the service: it renews its own session (only a process
 * can), then asks the service to bind that session. The service checks it against the
 * kernel's view of this process, so nothing here is taken on trust.
 */
export async function tagSelfViaService(socketPath: string, spec: SelfTagSpec): Promise<SelfTagResult> {
  const before = readSessionId('self');
  const session = new SessionWritePath({ loginUid: spec.loginUid }).renewOwnSession();
  try {
    const result =
      spec.setns !== undefined
        ? await callService(socketPath, { op: 'setns', contid: await resolveRef(socketPath, spec.setns), target: 'peer', detail: spec.detail })
        : await callService(socketPath, {
            op: 'create',
            orchestrator: spec.orchestrator,
            name: spec.name,
            runtimeId: spec.runtimeId ?? null,
            parent: spec.parent === undefined ? { session: before } : spec.parent === null ? null : formatContainerId(spec.parent),
            target: 'peer',
            detail: spec.detail,
          });
    return { contid: String(result.contid), session, auditError: (result.auditError as string | null) ?? null };
  } catch (e) {
    if (!(e instanceof ServiceError)) throw e;
    if (spec.failPolicy === 'open' && e.code !== 'denied' && e.code !== 'protocol') {
      return { contid: null, session, auditError: null, failure: e.message };
    }
    throw new ContidError(`contid service: ${e.message}`);
  }
}

async function resolveRef(socketPath: string, ref: string): Promise<string> {
  const shown = await callService(socketPath, { op: 'show', ref });
  return String(shown.contid);
}
