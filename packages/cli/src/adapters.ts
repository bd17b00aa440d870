import type { Adapter } from '@contid/oci';
import { dockerAdapter } from '@contid/docker';
import { kubernetesAdapter } from '@contid/kubernetes';
import { lxcHealth, recordSpooledInit } from '@contid/lxc';
import { podmanAdapter } from '@contid/podman';

/**
 * Every orchestrator contid knows, in the order their identifiers run (later answers win).
 * `contid serve` and `contid doctor` loop over this list; a new adapter is one package and one
 * line here.
 */
export function adapters(): Adapter[] {
  return [dockerAdapter(), podmanAdapter, kubernetesAdapter, { name: 'lxc', health: lxcHealth, recordInit: recordSpooledInit }];
}
