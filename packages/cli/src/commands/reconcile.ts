import { ContainerRecord, LivenessProbe, Tagger, reconcileLiveness } from '@contid/core';
import { systemdLiveness } from '@contid/systemd';

/** Orchestrators that know better than /proc whether a container still lives. */
const PROBES: Record<string, LivenessProbe> = { systemd: (c) => systemdLiveness(c) };

/** Ends (op=end reason="found gone") every open container whose processes are all gone. */
export function reconcile(tagger: Tagger): ContainerRecord[] {
  return reconcileLiveness(tagger, PROBES);
}
