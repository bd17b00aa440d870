import type { Identifier } from '@contid/oci';
import { identifyPodContainer } from './identify';

/**
 * Pod identity for the runtime shim's spool consumer (`SpoolConsumer` in @contid/oci):
 * containerd and CRI-O call the same contid-runc shim as Docker does, and the copied
 * config.json carries the CRI annotations. Null for containers no CRI runtime created.
 */
export const kubernetesIdentifier: Identifier = (oci, _entry, ctx) => {
  const found = identifyPodContainer(oci, ctx.registry);
  if (!found) return null;
  const { orchestrator, name, image, labels, parent } = found;
  // A sandbox has no parent of its own: leave it to the consumer's default (the runtime's session).
  return { orchestrator, name, image, labels, ...(parent !== null ? { parent } : {}) };
};
