import type { Identifier } from '@contid/oci';
import { criWrote } from './cri-origin';
import { identifyPodContainer } from './identify';
import { ociAnnotations, podIdentitiesFromOciSpec } from './pod-identity';

/**
 * Pod identity for the runtime shim's spool consumer (`SpoolConsumer` in @contid/oci):
 * containerd and CRI-O call the same contid-runc shim as Docker and Podman do, and the copied
 * config.json carries the CRI annotations. Null for containers no CRI runtime created — also
 * when their config.json carries CRI annotations someone else put there (an image run by
 * Podman, a Docker caller's `--annotation`): that engine's own identity stands.
 */
export const kubernetesIdentifier: Identifier = (oci, entry, ctx) => {
  const annotations = ociAnnotations(oci);
  const pod = podIdentitiesFromOciSpec(oci).find((p) => criWrote(p, annotations, entry));
  if (!pod) return null;
  const found = identifyPodContainer(oci, ctx.registry, { pod });
  if (!found) return null;
  const { orchestrator, name, image, labels, parent } = found;
  // A sandbox has no parent of its own: leave it to the consumer's default (the runtime's session).
  return { orchestrator, name, image, labels, ...(parent !== null ? { parent } : {}) };
};
