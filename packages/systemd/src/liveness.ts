import { spawnSync } from 'node:child_process';
import { ContainerRecord, Liveness } from '@contid/core';

/**
 * A unit's container lives as long as its invocation: between ExecStartPre= and ExecStart=,
 * or while a RemainAfterExit= oneshot is active, no process may carry its session, yet the
 * next Exec line joins it. systemd says which invocation is current; undefined when systemd
 * cannot be asked (not the init system here) or runs another invocation of the unit, so the
 * generic /proc answer stands.
 */
export function systemdLiveness(c: ContainerRecord): Liveness | undefined {
  if (!c.runtimeId) return undefined;
  const r = spawnSync('systemctl', ['show', '-p', 'InvocationID', '-p', 'ActiveState', '--', c.name], { encoding: 'utf8', timeout: 10_000 });
  if (r.error || r.status !== 0) return undefined;
  const props = new Map(r.stdout.split('\n').filter((l) => l.includes('=')).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
  const invocation = props.get('InvocationID')?.replace(/-/g, '');
  const active = props.get('ActiveState');
  if (invocation === undefined || active === undefined) return undefined;
  const stopped = active === 'inactive' || active === 'failed';
  // Another invocation active: a restart (the old one's processes are gone) or a line whose
  // $INVOCATION_ID came from the unit's environment (outside attack 17, F4: its process still
  // runs). What runs in the container's sessions tells which.
  if (invocation !== c.runtimeId) return stopped ? 'gone' : undefined;
  return stopped ? 'gone' : 'alive';
}
