import { statSync } from 'node:fs';
import type { ContainerId, ContainerRecord, NamespaceKind } from '@contid/core';
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

export interface IdentifyPodOptions {
  /** The pod identity already read (and judged) from the spec; read from its annotations otherwise. */
  pod?: PodIdentity;
  /** The namespace inode a spec's `namespaces[].path` names (null: unreadable). */
  namespaceOf?: (path: string) => number | null;
}

/** `/proc/PID/ns/net`, a bind-mounted `/run/netns/…`: stat follows either to the namespace's nsfs inode. */
export function namespaceInode(path: string): number | null {
  try {
    return statSync(path).ino;
  } catch {
    return null;
  }
}

// The namespaces a pod's containers join (the kubelet's pid sharing is optional: not required).
const POD_SHARED: ReadonlyArray<readonly [specType: string, kind: NamespaceKind]> = [
  ['network', 'net'],
  ['ipc', 'ipc'],
  ['uts', 'uts'],
];

function specNamespaces(spec: unknown): { type: string; path: string | null }[] | null {
  const linux = typeof spec === 'object' && spec !== null ? (spec as { linux?: unknown }).linux : undefined;
  const list = typeof linux === 'object' && linux !== null ? (linux as { namespaces?: unknown }).namespaces : undefined;
  if (!Array.isArray(list)) return null;
  return list.flatMap((n: unknown) => {
    if (typeof n !== 'object' || n === null) return [];
    const { type, path } = n as { type?: unknown; path?: unknown };
    return typeof type === 'string' ? [{ type, path: typeof path === 'string' && path !== '' ? path : null }] : [];
  });
}

/**
 * Whether the spec joins the sandbox's namespaces, as a pod member does: each of net, ipc, uts
 * it lists is joined by path and is the namespace recorded for the sandbox's init. One it makes
 * of its own (no path) is not the pod's. A kind it does not list is the host's (hostNetwork …),
 * and so is the sandbox's; a spec listing none carries nothing to compare.
 */
function sharesNamespaces(spec: unknown, sandbox: ContainerRecord, namespaceOf: (path: string) => number | null): boolean {
  const listed = specNamespaces(spec);
  if (listed === null) return true;
  for (const [type, kind] of POD_SHARED) {
    const ns = listed.find((n) => n.type === type);
    if (!ns) continue;
    const recorded = sandbox.namespaces[kind];
    if (ns.path === null || recorded === undefined || namespaceOf(ns.path) !== recorded) return false;
  }
  return true;
}

/**
 * The pod's sandbox row, when the one the annotations name really is it: a Kubernetes sandbox
 * of the same runtime and pod (an image run by another engine could name any container's
 * runtime id: a Docker or Podman id, an LXC name), whose namespaces this container shares.
 */
function podSandbox(pod: PodIdentity, spec: unknown, registry: RuntimeIdLookup, namespaceOf: (path: string) => number | null): ContainerRecord | null {
  const row = registry.findByRuntimeId(pod.sandboxId);
  if (!row || row.orchestrator !== 'kubernetes') return null;
  const l = row.labels;
  const same =
    l['contid.io/container-type'] === 'sandbox' &&
    l['contid.io/cri-runtime'] === pod.runtime &&
    l['io.kubernetes.sandbox.id'] === pod.sandboxId &&
    l['io.kubernetes.pod.namespace'] === pod.podNamespace &&
    l['io.kubernetes.pod.name'] === pod.podName;
  return same && sharesNamespaces(spec, row, namespaceOf) ? row : null;
}

/**
 * Identifies a container created by containerd's CRI plugin or CRI-O from its OCI spec
 * (`<bundle>/config.json`): no API call, so it is safe on the runtime's hot path. Null when
 * the spec carries no pod annotations (not a Kubernetes container). The annotations are a
 * claim: the caller judges first whether a CRI runtime wrote them (`criWrote`).
 */
export function identifyPodContainer(spec: unknown, registry: RuntimeIdLookup, options: IdentifyPodOptions = {}): PodContainerIdentity | null {
  const pod = options.pod ?? podIdentityFromOciSpec(spec);
  if (!pod) return null;
  const sandbox = pod.kind === 'container' ? podSandbox(pod, spec, registry, options.namespaceOf ?? namespaceInode) : null;
  return {
    orchestrator: 'kubernetes',
    name: podContainerName(pod),
    image: pod.image,
    labels: podIdentityLabels(pod),
    parent: sandbox?.contid ?? null,
    pod,
  };
}
