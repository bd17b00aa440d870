import {
  CAP_AUDIT_CONTROL,
  ContidConfig,
  HealthResult,
  Registry,
  effectiveCaps,
  formatContainerId,
  hasCap,
  readSessionId,
  registerHealthCheck,
} from '@contid/core';
import { existsSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { SOCKET_ENV } from './client';
import { DEFAULT_SOCKET_PATH } from './service';

/** Mode bits beyond the owner's, or a non-root owner: someone else could talk to or replace it. */
function tooOpen(path: string): string | null {
  const st = statSync(path);
  if (st.uid !== 0) return `${path} is owned by uid ${st.uid}`;
  if ((st.mode & 0o077) !== 0) return `${path} is mode ${(st.mode & 0o777).toString(8)}`;
  return null;
}

export function permissionChecks(config: ContidConfig, socketPath: string): HealthResult[] {
  const out: HealthResult[] = [];
  const files = [join(config.stateDir, 'registry.db'), join(config.stateDir, 'record.key')].filter(existsSync);
  const badFiles = files.map(tooOpen).filter((p): p is string => p !== null);
  out.push(
    badFiles.length
      ? { check: 'registry files', status: 'fail', detail: `${badFiles.join('; ')}: others could read the record key or rewrite bindings`, fix: `chown root: ${files.join(' ')} && chmod 600 ${files.join(' ')}` }
      : { check: 'registry files', status: 'ok', detail: files.length ? 'registry.db and record.key root-only' : 'none yet' },
  );
  if (!existsSync(socketPath)) {
    out.push({ check: 'service socket', status: 'ok', detail: `${socketPath} absent: contid tags directly (no contid serve)` });
    return out;
  }
  const bad = [tooOpen(dirname(socketPath)), tooOpen(socketPath)].filter((p): p is string => p !== null);
  out.push(
    bad.length
      ? { check: 'service socket', status: 'fail', detail: `${bad.join('; ')}: non-root callers can reach the host channel`, fix: `chmod 700 ${dirname(socketPath)} && chmod 600 ${socketPath}` }
      : { check: 'service socket', status: 'ok', detail: `${socketPath} root-only` },
  );
  return out;
}

/**
 * Running containers whose bound processes hold CAP_AUDIT_CONTROL can renew their own
 * session and leave their identity; untagged ones were never bound at all.
 */
export function workloadChecks(config: ContidConfig): HealthResult[] {
  if (!existsSync(join(config.stateDir, 'registry.db'))) return [];
  const registry = Registry.open(config.stateDir, { readonly: true });
  try {
    const capable: string[] = [];
    for (const c of registry.list({ state: 'running' })) {
      for (const b of registry.bindings(c.contid)) {
        try {
          // Only a process that still carries the bound session is that container's (pids get reused).
          if (b.session === null || readSessionId(b.pid, config.procRoot) !== b.session) continue;
          if (hasCap(CAP_AUDIT_CONTROL, effectiveCaps(b.pid, config.procRoot))) {
            capable.push(`${c.name} (${formatContainerId(c.contid)}, pid ${b.pid})`);
            break;
          }
        } catch {
          // Exited: nothing to warn about.
        }
      }
    }
    const untagged = registry.list({ state: 'untagged' }).map((c) => `${c.name} (${formatContainerId(c.contid)})`);
    return [
      capable.length
        ? { check: 'containers with CAP_AUDIT_CONTROL', status: 'warn', detail: `${capable.length}: ${capable.slice(0, 10).join(', ')} can renew their session and leave their identity`, fix: 'drop CAP_AUDIT_CONTROL (Docker drops it by default; do not --cap-add it) or give nested orchestrators a channel (contid serve --nested)' }
        : { check: 'containers with CAP_AUDIT_CONTROL', status: 'ok', detail: 'none of the running containers holds it' },
      untagged.length
        ? { check: 'untagged workloads', status: 'warn', detail: `${untagged.length} running without a session of their own: ${untagged.slice(0, 10).join(', ')}`, fix: 'restart them through contid (runtime shim, contid lxc start, contid exec)' }
        : { check: 'untagged workloads', status: 'ok', detail: 'none recorded' },
    ];
  } finally {
    registry.close();
  }
}

let registered = false;

/** Adds the security checks to `contid doctor`; idempotent. */
export function registerSecurityHealthChecks(): void {
  if (registered) return;
  registered = true;
  registerHealthCheck((config) => [...permissionChecks(config, process.env[SOCKET_ENV] || DEFAULT_SOCKET_PATH), ...workloadChecks(config)]);
}
