import { ContainerRecord, ContidConfig, HealthResult, Registry, auditControlHolders, formatContainerId, hostHelperHolders } from '@contid/core';
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
  const files = [join(config.stateDir, 'registry.db'), join(config.stateDir, 'keys'), join(config.stateDir, 'keys', 'signing.key')].filter(existsSync);
  const badFiles = files.map(tooOpen).filter((p): p is string => p !== null);
  out.push(
    badFiles.length
      ? { check: 'registry files', status: 'fail', detail: `${badFiles.join('; ')}: others could read the signing key or rewrite bindings`, fix: `chown root: ${files.join(' ')} && chmod go-rwx ${files.join(' ')}` }
      : { check: 'registry files', status: 'ok', detail: files.length ? 'registry.db and the signing key root-only' : 'none yet' },
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

/** How to take CAP_AUDIT_CONTROL away from a container, in its orchestrator's own terms. */
function capFix(c: ContainerRecord): string {
  switch (c.orchestrator) {
    case 'lxc':
      return `add "lxc.cap.drop = audit_control" to its config (contid install lxc ${c.name} does), then restart it`;
    case 'systemd':
      return `add CapabilityBoundingSet=~CAP_AUDIT_CONTROL to ${c.name} (systemctl edit ${c.name}), then restart it`;
    case 'docker':
    case 'kubernetes':
      return 'Docker drops it by default: do not --cap-add AUDIT_CONTROL (or ALL) or run --privileged; or give nested orchestrators a channel (contid serve --nested)';
    default:
      return 'start it without CAP_AUDIT_CONTROL in its bounding set (capsh --drop=cap_audit_control, setpriv --bounding-set -audit_control)';
  }
}

/** How to take the usermode-helper route away from a container, in its orchestrator's own terms. */
function sysAdminFix(c: ContainerRecord): string {
  switch (c.orchestrator) {
    case 'lxc':
      return `make it unprivileged (lxc.idmap), confine it (lxc.apparmor.profile = generated, on a host with AppArmor), or add sys_admin to lxc.cap.drop; then restart it (lxc-stop -n ${c.name} && contid lxc start ${c.name})`;
    case 'systemd':
      return `add CapabilityBoundingSet=~CAP_SYS_ADMIN to ${c.name} (systemctl edit ${c.name}), then restart it`;
    case 'docker':
    case 'kubernetes':
      return 'do not run it --privileged or with --cap-add SYS_ADMIN';
    default:
      return 'start it without CAP_SYS_ADMIN in its bounding set (setpriv --bounding-set -sys_admin), or in a user namespace of its own';
  }
}

/**
 * Running containers with a live process (init, MAINPID, or anything in a bound session) whose
 * bounding set holds CAP_AUDIT_CONTROL can renew their own session and leave their identity;
 * untagged ones were never bound at all.
 */
export function workloadChecks(config: ContidConfig): HealthResult[] {
  if (!existsSync(join(config.stateDir, 'registry.db'))) return [];
  const registry = Registry.open(config.stateDir, { readonly: true });
  try {
    const holders = auditControlHolders(registry, config.procRoot);
    const helpers = hostHelperHolders(registry, config.procRoot);
    const untagged = registry.list({ state: 'untagged' }).map((c) => `${c.name} (${formatContainerId(c.contid)})`);
    return [
      ...(holders.length
        ? holders.map(({ container: c, pid }): HealthResult => ({
            check: 'containers with CAP_AUDIT_CONTROL',
            status: 'warn',
            detail: `${c.orchestrator} ${c.name} (${formatContainerId(c.contid)}, pid ${pid}) holds it in its bounding set: it can renew its session and leave its identity`,
            fix: capFix(c),
          }))
        : [{ check: 'containers with CAP_AUDIT_CONTROL', status: 'ok' as const, detail: 'none of the running containers holds it' }]),
      ...(helpers.length
        ? helpers.map(({ container: c, pid }): HealthResult => ({
            check: 'containers with CAP_SYS_ADMIN on the host',
            status: 'warn',
            detail: `${c.orchestrator} ${c.name} (${formatContainerId(c.contid)}, pid ${pid}) holds CAP_SYS_ADMIN in the host's user namespace with no AppArmor confinement: root in it can mount a fresh /proc and set kernel.core_pattern (or kernel.modprobe, binfmt_misc), whose helper the kernel runs as host root in no audit session, and leave its identity`,
            fix: sysAdminFix(c),
          }))
        : [{ check: 'containers with CAP_SYS_ADMIN on the host', status: 'ok' as const, detail: 'no running container can have the kernel run a helper of its choosing' }]),
      untagged.length
        ? { check: 'untagged workloads', status: 'warn', detail: `${untagged.length} running without a session of their own: ${untagged.slice(0, 10).join(', ')}`, fix: 'restart them through contid (runtime shim, contid lxc start, contid exec)' }
        : { check: 'untagged workloads', status: 'ok', detail: 'none recorded' },
    ];
  } finally {
    registry.close();
  }
}

/** `contid doctor`'s security checks: who could reach the service or its files, and what runs untagged. */
export function serviceHealth(config: ContidConfig, socketPath = process.env[SOCKET_ENV] || DEFAULT_SOCKET_PATH): HealthResult[] {
  return [...permissionChecks(config, socketPath), ...workloadChecks(config)];
}
