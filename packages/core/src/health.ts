import { execFileSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { ContidConfig } from './config';
import { CAP_AUDIT_CONTROL, CAP_AUDIT_WRITE, effectiveCaps, hasCap } from './privilege';
import { ProcfsWritePath } from './write-paths';
import { Registry } from './registry';

export type HealthStatus = 'ok' | 'warn' | 'fail';

export interface HealthResult {
  check: string;
  status: HealthStatus;
  detail: string;
  fix?: string;
}

/** `auditctl -s` as key → value (enabled, backlog_limit, lost, loginuid_immutable …). */
export function auditStatus(): Map<string, string> | null {
  try {
    const out = execFileSync('auditctl', ['-s'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    return new Map(out.split('\n').filter(Boolean).map((l) => [l.split(' ')[0], l.slice(l.indexOf(' ') + 1)]));
  } catch {
    return null;
  }
}

/**
 * The audit daemon's pid as the kernel knows it (`auditctl -s`: the process registered on the
 * audit netlink socket, which takes CAP_AUDIT_CONTROL), or null. A process *named* auditd is
 * not evidence: any user can start one.
 */
export function auditDaemonPid(status: Map<string, string> | null = auditStatus()): number | null {
  const pid = Number(status?.get('pid') ?? 0);
  return Number.isSafeInteger(pid) && pid > 0 ? pid : null;
}

const MIN_BACKLOG = 8192;

/** The host's own checks; the service's, the spool's and each adapter's are the caller's to add (contid doctor). */
export function runHealthChecks(config: ContidConfig): HealthResult[] {
  const results: HealthResult[] = [];
  const caps = effectiveCaps();
  const missing = [
    [CAP_AUDIT_CONTROL, 'CAP_AUDIT_CONTROL'],
    [CAP_AUDIT_WRITE, 'CAP_AUDIT_WRITE'],
  ].filter(([c]) => !hasCap(c as number, caps)).map(([, n]) => n);
  results.push(
    missing.length
      ? { check: 'privileges', status: 'fail', detail: `missing ${missing.join(', ')}`, fix: 'run contid as root on the host' }
      : { check: 'privileges', status: 'ok', detail: `uid ${process.getuid?.()} with CAP_AUDIT_CONTROL and CAP_AUDIT_WRITE` },
  );

  const status = auditStatus();
  // The kernel answers an audit status request only to CAP_AUDIT_CONTROL: without it, no answer
  // says nothing of audit or auditd, and doctor must not claim either is off.
  const mayAsk = !missing.includes('CAP_AUDIT_CONTROL');
  const cannotTell = (check: string): HealthResult => ({
    check,
    status: 'warn',
    detail: 'cannot tell: the kernel answers audit status to CAP_AUDIT_CONTROL only',
    fix: 'run contid doctor as root',
  });
  if (!status) {
    results.push(mayAsk ? { check: 'audit', status: 'fail', detail: 'auditctl -s failed', fix: 'apt-get install auditd' } : cannotTell('audit'));
  } else {
    const enabled = status.get('enabled');
    results.push(
      enabled === '1' || enabled === '2'
        ? { check: 'audit', status: 'ok', detail: `enabled ${enabled}${enabled === '2' ? ' (locked)' : ''}` }
        : { check: 'audit', status: 'fail', detail: `enabled ${enabled}`, fix: 'auditctl -e 1' },
    );
    const backlog = Number(status.get('backlog_limit') ?? 0);
    results.push(
      backlog >= MIN_BACKLOG
        ? { check: 'backlog', status: 'ok', detail: `backlog_limit ${backlog}` }
        : { check: 'backlog', status: 'warn', detail: `backlog_limit ${backlog}: bursts of container starts can lose records`, fix: `auditctl -b ${MIN_BACKLOG}` },
    );
    const immutable = status.get('loginuid_immutable') ?? '';
    results.push(
      immutable.startsWith('0')
        ? { check: 'loginuid_immutable', status: 'ok', detail: 'off: sessions can be renewed by privileged orchestrators' }
        : { check: 'loginuid_immutable', status: 'fail', detail: `${immutable || 'unknown'}: the session write path cannot work`, fix: 'remove --loginuid-immutable from audit rules and reboot' },
    );
  }
  const auditd = auditDaemonPid(status);
  results.push(
    !status && !mayAsk
      ? cannotTell('auditd')
      : auditd !== null
      ? { check: 'auditd', status: 'ok', detail: `running (pid ${auditd})` }
      : { check: 'auditd', status: 'fail', detail: 'not running: records go to the kernel log only', fix: 'start auditd (systemctl start auditd, or auditd)' },
  );
  results.push(
    ProcfsWritePath.supported(config.procRoot)
      ? { check: 'procfs contid', status: 'ok', detail: 'kernel has /proc/PID/audit_containerid: used for other processes' }
      : { check: 'procfs contid', status: 'ok', detail: 'absent (stock kernel): audit sessions carry the identity' },
  );
  results.push(...registryHealth(config.stateDir));
  return results;
}

function registryHealth(dir: string): HealthResult[] {
  let st;
  try {
    st = statSync(dir);
  } catch {
    return [{ check: 'registry', status: 'warn', detail: `${dir} does not exist yet`, fix: 'it is created on first tag' }];
  }
  const out: HealthResult[] = [];
  if ((st.mode & 0o077) !== 0 || st.uid !== 0) {
    out.push({
      check: 'registry permissions',
      status: 'fail',
      detail: `${dir} is mode ${(st.mode & 0o777).toString(8)} owner ${st.uid}: others could read or forge bindings`,
      fix: `chown root: ${dir} && chmod 700 ${dir}`,
    });
  } else out.push({ check: 'registry permissions', status: 'ok', detail: `${dir} root-only` });
  try {
    const registry = Registry.open(dir, { readonly: true });
    const problems = registry.check();
    const version = registry.schemaVersion;
    registry.close();
    out.push(
      problems.length
        ? { check: 'registry', status: 'fail', detail: problems.join('; '), fix: 'restore from backup; the audit log still holds every binding' }
        : { check: 'registry', status: 'ok', detail: `schema v${version}, integrity ok` },
    );
  } catch (e) {
    out.push({ check: 'registry', status: 'warn', detail: (e as Error).message, fix: 'it is created on first tag' });
  }
  return out;
}
