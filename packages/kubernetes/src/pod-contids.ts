import { ContainerRecord, formatContainerId } from '@contid/core';
import type * as ClientNodeModule from '@kubernetes/client-node';

type V1Pod = ClientNodeModule.V1Pod;

/** The pod annotation: {"<container name>":"<contid>"}; the sandbox appears as "POD". */
export const CONTAINERS_ANNOTATION = 'contid.io/containers';
/** Container names are DNS-1123 labels (lower case), so the kubelet's old sandbox name cannot clash. */
export const SANDBOX_KEY = 'POD';

/** Registry access the agent needs; a Registry satisfies it. */
export interface PodRegistryView {
  findByRuntimeId(runtimeId: string): ContainerRecord | undefined;
  get(contid: ContainerRecord['contid']): ContainerRecord | undefined;
}

/** `containerd://abc…`, `cri-o://abc…`, `docker://abc…` → `abc…`. */
export function runtimeIdOf(containerID: string | undefined): string | null {
  if (!containerID) return null;
  const m = /^[a-z0-9.-]+:\/\/(.+)$/.exec(containerID);
  return m ? m[1] : null;
}

export interface PodContainers {
  /** Container name → its registry row (only containers the registry knows). */
  containers: Map<string, ContainerRecord>;
  sandbox: ContainerRecord | null;
}

/** Maps the pod's reported container IDs to registry rows; the sandbox is their common parent. */
export function podContainers(pod: V1Pod, registry: PodRegistryView): PodContainers {
  const statuses = [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? []), ...(pod.status?.ephemeralContainerStatuses ?? [])];
  const containers = new Map<string, ContainerRecord>();
  let sandbox: ContainerRecord | null = null;
  for (const s of statuses) {
    const runtimeId = runtimeIdOf(s.containerID);
    const record = runtimeId ? registry.findByRuntimeId(runtimeId) : undefined;
    if (!record) continue;
    containers.set(s.name, record);
    if (!sandbox && record.parent !== null) {
      const parent = registry.get(record.parent);
      if (parent?.labels['contid.io/container-type'] === 'sandbox') sandbox = parent;
    }
  }
  return { containers, sandbox };
}

/** The annotation value, with sorted keys so an unchanged pod never causes a patch. */
export function containersAnnotation(found: PodContainers): string | null {
  const entries: [string, string][] = [...found.containers].map(([name, r]) => [name, formatContainerId(r.contid)]);
  if (found.sandbox) entries.push([SANDBOX_KEY, formatContainerId(found.sandbox.contid)]);
  if (!entries.length) return null;
  entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return JSON.stringify(Object.fromEntries(entries));
}

/**
 * The workload behind a pod: its controller owner, and for a ReplicaSet made by a
 * Deployment the Deployment (its name is the ReplicaSet's minus `-<pod-template-hash>`),
 * learned without reading ReplicaSets (no extra RBAC).
 */
function workloadOf(pod: V1Pod): { owner: string | null; workload: string | null } {
  const ref = pod.metadata?.ownerReferences?.find((o) => o.controller) ?? pod.metadata?.ownerReferences?.[0];
  if (!ref) return { owner: null, workload: null };
  const owner = `${ref.kind}/${ref.name}`;
  const hash = pod.metadata?.labels?.['pod-template-hash'];
  if (ref.kind === 'ReplicaSet' && hash && ref.name.endsWith(`-${hash}`)) {
    return { owner, workload: `Deployment/${ref.name.slice(0, -hash.length - 1)}` };
  }
  return { owner, workload: owner };
}

/** Registry labels the API knows and the OCI annotations do not: pod labels, owner, service account. */
export function podLabels(pod: V1Pod, containerName: string | null): Record<string, string> {
  const { owner, workload } = workloadOf(pod);
  const meta = pod.metadata ?? {};
  const add = (k: string, v: string | null | undefined): Record<string, string> => (v ? { [k]: v } : {});
  return {
    ...(meta.labels ?? {}),
    ...add('io.kubernetes.pod.name', meta.name),
    ...add('io.kubernetes.pod.namespace', meta.namespace),
    ...add('io.kubernetes.pod.uid', meta.uid),
    ...add('io.kubernetes.container.name', containerName),
    ...add('contid.io/owner', owner),
    ...add('contid.io/workload', workload),
    ...add('contid.io/service-account', pod.spec?.serviceAccountName),
    ...add('contid.io/node', pod.spec?.nodeName),
  };
}

/** The labels a row should have after enrichment, or null when it already has them. */
export function enrichedLabels(record: ContainerRecord, wanted: Record<string, string>): Record<string, string> | null {
  const merged = { ...record.labels, ...wanted };
  const changed = Object.entries(wanted).some(([k, v]) => record.labels[k] !== v);
  return changed ? merged : null;
}
