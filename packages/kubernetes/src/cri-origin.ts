import type { PodIdentity } from './pod-identity';

/**
 * Whether a spool entry's container really came from a CRI runtime (containerd's CRI plugin,
 * CRI-O), from facts the container's image cannot choose. The CRI annotations alone prove
 * nothing: Podman copies every annotation of an image's manifest into config.json, over its own
 * (even `io.container.manager`), and Docker ≥ 24 takes any `--annotation` from its caller
 * (outside attack 14, F1 and N3).
 */
export interface CriEntryFacts {
  /** The runtime's container id (runc's operand). */
  id: string;
  /** The bundle directory the engine gave the runtime (`--bundle`). */
  bundle: string;
}

const literal = (s: string): string => s.replace(/[.+]/g, '\\$&'); // runc's id alphabet: only . and + are special

/**
 * containerd names a task's bundle `<state>/io.containerd.runtime.v2.task/<namespace>/<id>`,
 * and its CRI plugin always uses the namespace `k8s.io` (Docker's tasks are in `moby`, ctr's in
 * `default`): only a client of containerd's own socket (root) can put a task there. Podman's
 * bundles are `<root>/<driver>-containers/<id>/userdata`, never this.
 */
function containerdBundle(entry: CriEntryFacts): boolean {
  return new RegExp(`^/.+/io\\.containerd\\.runtime\\.v2\\.task/k8s\\.io/${literal(entry.id)}/?$`).test(entry.bundle);
}

/** CRI-O keeps containers in containers/storage, as Podman does: `<root>/<driver>-containers/<id>/userdata`. */
function storageBundle(entry: CriEntryFacts): boolean {
  return new RegExp(`^/.+/[a-z0-9]+-containers/${literal(entry.id)}/userdata/?$`).test(entry.bundle);
}

/**
 * True when the entry's CRI annotations are the CRI runtime's own:
 * - containerd: the bundle is a task of containerd's `k8s.io` namespace; a sandbox's
 *   `sandbox-id` is its own id, an app container's is another's.
 * - CRI-O: the bundle shares Podman's layout, so the layout proves nothing alone; CRI-O writes
 *   the container's own id (`io.kubernetes.cri-o.ContainerID`), which Podman never writes and
 *   an image cannot know (Podman draws the id when root runs the image). Podman does write
 *   `ContainerType` and `SandboxID` (its pod's id) itself: never enough.
 */
export function criWrote(pod: PodIdentity, annotations: Readonly<Record<string, string>>, entry: CriEntryFacts): boolean {
  if (!entry.id) return false;
  const ownSandbox = pod.sandboxId === entry.id;
  if (ownSandbox !== (pod.kind === 'sandbox')) return false;
  if (pod.runtime === 'containerd') return containerdBundle(entry);
  return storageBundle(entry) && annotations['io.kubernetes.cri-o.ContainerID'] === entry.id;
}
