/** @contid/podman: contid adapter for Podman (identity of containers started through contid-runc). */
export { conmonArgs, conmonName, conmonOfPodman, isPodmanSpec, podmanIdentifier, podmanRoots, runPodman } from './podman-identity';
export type { PodmanInspect, PodmanRunner } from './podman-identity';
export { podmanAdapter } from './adapter';
