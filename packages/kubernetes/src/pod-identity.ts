/**
 * Pod identity from the annotations a CRI runtime writes into the OCI `config.json`, so the
 * hot path (the runtime shim's consumer) needs no API call to know which pod a container is.
 */

/** What containerd's CRI plugin and CRI-O tell the runtime about a pod's container. */
export interface PodIdentity {
  runtime: 'containerd' | 'cri-o';
  /** The sandbox ("pause") container holds the pod's namespaces; app containers join them. */
  kind: 'sandbox' | 'container';
  sandboxId: string;
  podName: string;
  podNamespace: string;
  podUid: string | null;
  /** Null for the sandbox. */
  containerName: string | null;
  image: string | null;
}

/** The part of an OCI runtime spec this module reads. */
export interface OciSpecAnnotations {
  annotations?: Record<string, string>;
}

// containerd: pkg/cri/annotations (io.kubernetes.cri.*).
const CRI = 'io.kubernetes.cri.';
// CRI-O: pkg/annotations (io.kubernetes.cri-o.*), plus the kubelet labels it copies.
const CRIO = 'io.kubernetes.cri-o.';
const KUBELET_POD_NAME = 'io.kubernetes.pod.name';
const KUBELET_POD_NAMESPACE = 'io.kubernetes.pod.namespace';
const KUBELET_POD_UID = 'io.kubernetes.pod.uid';
const KUBELET_CONTAINER_NAME = 'io.kubernetes.container.name';

function annotationsOf(spec: unknown): Record<string, string> {
  if (typeof spec !== 'object' || spec === null) return {};
  const a = (spec as OciSpecAnnotations).annotations;
  if (typeof a !== 'object' || a === null) return {};
  return Object.fromEntries(Object.entries(a).filter(([, v]) => typeof v === 'string'));
}

const nonEmpty = (v: string | undefined): string | null => (v === undefined || v === '' ? null : v);

function fromContainerd(a: Record<string, string>): PodIdentity | null {
  const type = a[`${CRI}container-type`];
  if (type !== 'sandbox' && type !== 'container') return null;
  const sandboxId = nonEmpty(a[`${CRI}sandbox-id`]);
  const podName = nonEmpty(a[`${CRI}sandbox-name`]);
  const podNamespace = nonEmpty(a[`${CRI}sandbox-namespace`]);
  if (!sandboxId || !podName || !podNamespace) return null;
  return {
    runtime: 'containerd',
    kind: type,
    sandboxId,
    podName,
    podNamespace,
    podUid: nonEmpty(a[`${CRI}sandbox-uid`]),
    containerName: type === 'container' ? nonEmpty(a[`${CRI}container-name`]) : null,
    image: type === 'container' ? nonEmpty(a[`${CRI}image-name`]) : null,
  };
}

/** CRI-O keeps the CRI labels as one JSON annotation too; older releases copy fewer keys out. */
function crioLabels(a: Record<string, string>): Record<string, string> {
  try {
    const parsed: unknown = JSON.parse(a[`${CRIO}Labels`] ?? '{}');
    if (typeof parsed !== 'object' || parsed === null) return {};
    return Object.fromEntries(Object.entries(parsed).filter(([, v]) => typeof v === 'string')) as Record<string, string>;
  } catch {
    return {};
  }
}

function fromCrio(a: Record<string, string>): PodIdentity | null {
  const type = a[`${CRIO}ContainerType`];
  if (type !== 'sandbox' && type !== 'container') return null;
  const labels = crioLabels(a);
  const kubelet = (key: string): string | null => nonEmpty(a[key]) ?? nonEmpty(labels[key]);
  const sandboxId = nonEmpty(a[`${CRIO}SandboxID`]);
  // CRI-O's SandboxName/Name are k8s_… runtime names; the kubelet labels carry the pod's own.
  const podName = kubelet(KUBELET_POD_NAME) ?? nonEmpty(a[`${CRIO}KubeName`]);
  const podNamespace = kubelet(KUBELET_POD_NAMESPACE) ?? nonEmpty(a[`${CRIO}Namespace`]);
  if (!sandboxId || !podName || !podNamespace) return null;
  return {
    runtime: 'cri-o',
    kind: type,
    sandboxId,
    podName,
    podNamespace,
    podUid: kubelet(KUBELET_POD_UID),
    containerName: type === 'container' ? kubelet(KUBELET_CONTAINER_NAME) : null,
    image: type === 'container' ? (nonEmpty(a[`${CRIO}ImageName`]) ?? nonEmpty(a[`${CRIO}Image`])) : null,
  };
}

/**
 * What the annotations of an OCI spec claim, or null when they name no pod (docker run, podman …).
 * A claim only: anyone whose annotations reach config.json can make one (an image run by
 * Podman, a Docker ≥ 24 caller); `criWrote` says whether a CRI runtime did.
 */
export function podIdentityFromOciSpec(spec: unknown): PodIdentity | null {
  return podIdentitiesFromOciSpec(spec)[0] ?? null;
}

/** Both runtimes' readings of one spec (an engine may carry the other's annotations too), containerd's first. */
export function podIdentitiesFromOciSpec(spec: unknown): PodIdentity[] {
  const a = annotationsOf(spec);
  return [fromContainerd(a), fromCrio(a)].filter((p): p is PodIdentity => p !== null);
}

/** The string annotations of an OCI spec (none when it has none, or is not an object). */
export function ociAnnotations(spec: unknown): Record<string, string> {
  return annotationsOf(spec);
}

/** Registry labels for a pod's container: the kubelet's own keys, so both runtimes look alike. */
export function podIdentityLabels(id: PodIdentity): Record<string, string> {
  return {
    [KUBELET_POD_NAME]: id.podName,
    [KUBELET_POD_NAMESPACE]: id.podNamespace,
    ...(id.podUid ? { [KUBELET_POD_UID]: id.podUid } : {}),
    ...(id.containerName ? { [KUBELET_CONTAINER_NAME]: id.containerName } : {}),
    'io.kubernetes.sandbox.id': id.sandboxId,
    'contid.io/container-type': id.kind,
    'contid.io/cri-runtime': id.runtime,
  };
}

/** The name the registry shows: namespace/pod for the sandbox, namespace/pod/container otherwise. */
export function podContainerName(id: PodIdentity): string {
  const pod = `${id.podNamespace}/${id.podName}`;
  return id.kind === 'sandbox' || !id.containerName ? pod : `${pod}/${id.containerName}`;
}
