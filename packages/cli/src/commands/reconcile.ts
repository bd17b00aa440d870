import { ContainerRecord, LivenessProbe, Tagger, reconcileLiveness } from '@contid/core';
import { Spool, spoolDirFromEnv } from '@contid/oci';
import { systemdLiveness } from '@contid/systemd';

/**
 * Orchestrators that know better than /proc whether a container still lives. A unit whose
 * invocation still has entries in the spool is contid serve's to bind or end (its end carries
 * systemd's reason): a oneshot that just finished is not "found gone" before serve caught up.
 */
function probes(waiting: ReadonlySet<string>): Record<string, LivenessProbe> {
  return { systemd: (c) => (c.runtimeId !== null && waiting.has(c.runtimeId) ? 'alive' : systemdLiveness(c)) };
}

/** Ends (op=end reason="found gone") every open container whose processes are all gone. */
export function reconcile(tagger: Tagger): ContainerRecord[] {
  return reconcileLiveness(tagger, probes(new Spool(spoolDirFromEnv()).waitingIds()));
}
