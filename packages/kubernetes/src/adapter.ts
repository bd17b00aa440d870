import type { Adapter } from '@contid/oci';
import { kubernetesIdentifier } from './spool-identifier';

/** Kubernetes pods on containerd or CRI-O nodes: pod identity from the CRI annotations. */
export const kubernetesAdapter: Adapter = { name: 'kubernetes', identify: kubernetesIdentifier };
