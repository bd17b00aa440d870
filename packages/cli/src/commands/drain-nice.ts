import { ContidError } from '@contid/core';
import { DRAIN_NICENESS, lowerCpuPriority } from '@contid/oci';

/** `--nice N` of the long-running spool consumers (docker agent, agent kubernetes). */
export const niceOption = {
  type: 'number',
  default: DRAIN_NICENESS,
  describe: 'CPU niceness (0–19) to drain at, so binding yields the CPU to containers starting; 0 keeps the caller’s',
} as const;

/** Applies `--nice` to this process before it starts draining. */
export function applyDrainNice(niceness: number): void {
  if (!Number.isInteger(niceness) || niceness < 0 || niceness > 19) throw new ContidError(`--nice must be an integer from 0 to 19, got ${niceness}`);
  if (niceness > 0) lowerCpuPriority(niceness);
}
