import { ContidError, ContainerId, DEFAULT_STATE_DIR, SessionWritePath, formatContainerId, readSessionId } from '@contid/core';
import { existsSync } from 'node:fs';
import { SOCKET_ENV, ServiceClient, ServiceError } from './client';
import { DEFAULT_SOCKET_PATH } from './service';

/**
 * The service socket this process should use, or null (direct mode). $CONTID_SOCKET wins;
 * the default socket is used only with the default registry, since the service owns that one
 * and a caller who chose another registry (--state-dir) means to tag into it.
 */
export function serviceSocket(env: NodeJS.ProcessEnv = process.env): string | null {
  const chosen = env[SOCKET_ENV];
  if (chosen) return existsSync(chosen) ? chosen : null;
  const defaultRegistry = !env.CONTID_STATE_DIR || env.CONTID_STATE_DIR === DEFAULT_STATE_DIR;
  return defaultRegistry && existsSync(DEFAULT_SOCKET_PATH) ? DEFAULT_SOCKET_PATH : null;
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
  // Connect before renewing: a service that is down leaves this process untouched, so the
  // caller can fall back to tagging directly (ServiceUnavailableError).
  let client: ServiceClient;
  try {
    client = await ServiceClient.connect(socketPath);
  } catch (e) {
    throw new ServiceUnavailableError(e instanceof Error ? e.message : String(e));
  }
  try {
    const before = readSessionId('self');
    const session = new SessionWritePath({ loginUid: spec.loginUid }).renewOwnSession();
    try {
      const result =
        spec.setns !== undefined
          ? await client.call({ op: 'setns', contid: String((await client.call({ op: 'show', ref: spec.setns })).contid), target: 'peer', detail: spec.detail })
          : await client.call({
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
  } finally {
    client.close();
  }
}

/** The service socket exists but nothing answers: nothing was changed, tag directly instead. */
export class ServiceUnavailableError extends ContidError {
  override name = 'ServiceUnavailableError';
}
