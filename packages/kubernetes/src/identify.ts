import type { ContainerId, ContainerRecord } from '@contid/core';
import { PodIdentity, podContainerName, podIdentityFromOciSpec, podIdentityLabels } from './pod-identity';

/** What a runtime shim's consumer needs to create a pod container's identity. */
export interface PodContainerIdentity {
  orchestrator: 'kubernetes';
  name: string;
  image: string | null;
  labels: Record<string, string>;
  /** The pod's sandbox: app containers share its namespaces, so it is their parent. */
  parent: ContainerId | null;
  pod: PodIdentity;
}

/** The one registry look-up identification needs (a Registry satisfies it). */
export interface RuntimeIdLookup {
  findByRuntimeId(runtimeId: string): ContainerRecord | undefined;
}

/**
 * Identifies a container created by containerd's CRI plugin or CRI-O from its OCI spec
 * (`<bundle>/config.json`): no API call, so it is safe on the runtime's hot path. Null when
 * the spec carries no pod annotations (not a Kubernetes container).
 */
export function identifyPodContainer(spec: unknown, registry: RuntimeIdLookup): PodContainerIdentity | null {
  const pod = podIdentityFromOciSpec(spec);
  if (!pod) return null;
  const sandbox = pod.kind === 'container' ? registry.findByRuntimeId(pod.sandboxId) : undefined;
  return {
    orchestrator: 'kubernetes',
    name: podContainerName(pod),
    image: pod.image,
    labels: podIdentityLabels(pod),
    parent: sandbox?.contid ?? null,
    pod,
  };
}
