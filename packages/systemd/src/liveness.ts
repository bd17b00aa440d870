import { spawnSync } from 'node:child_process';
import { ContainerRecord, Liveness } from '@contid/core';

/**
 * A unit's container lives as long as its invocation: between ExecStartPre= and ExecStart=,
 * or while a RemainAfterExit= oneshot is active, no process may carry its session, yet the
 * next Exec line joins it. systemd says which invocation is current; undefined when systemd
 * cannot be asked (not the init system here), so the generic /proc answer stands.
 */
export function systemdLiveness(c: ContainerRecord): Liveness | undefined {
  if (!c.runtimeId) return undefined;
  const r = spawnSync('systemctl', ['show', '-p', 'InvocationID', '-p', 'ActiveState', '--', c.name], { encoding: 'utf8', timeout: 10_000 });
  if (r.error || r.status !== 0) return undefined;
  const props = new Map(r.stdout.split('\n').filter((l) => l.includes('=')).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
  const invocation = props.get('InvocationID')?.replace(/-/g, '');
  const active = props.get('ActiveState');
  if (invocation === undefined || active === undefined) return undefined;
  if (invocation !== c.runtimeId) return 'gone';
  return active === 'inactive' || active === 'failed' ? 'gone' : 'alive';
}
