import { ContidError } from '@contid/core';
import { lowerCpuPriority } from '@contid/oci';

/** `--nice N` of the long-running spool consumers (docker agent, agent kubernetes). */
export const niceOption = {
  type: 'number',
  default: 0,
  describe: 'CPU niceness (1–19) to run at, so binding yields the CPU to containers starting (docs: measured both ways); 0 keeps the caller’s',
} as const;

/** Applies `--nice` to this process before it starts draining. */
export function applyDrainNice(niceness: number): void {
  if (!Number.isInteger(niceness) || niceness < 0 || niceness > 19) throw new ContidError(`--nice must be an integer from 0 to 19, got ${niceness}`);
  if (niceness > 0) lowerCpuPriority(niceness);
}
