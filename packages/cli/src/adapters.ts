import type { Adapter } from '@contid/oci';
import { dockerAdapter } from '@contid/docker';
import { kubernetesAdapter } from '@contid/kubernetes';
import { lxcAdapter } from '@contid/lxc';
import { podmanAdapter } from '@contid/podman';
import { systemdAdapter } from '@contid/systemd';

/**
 * Every orchestrator contid knows, in the order their identifiers run (later answers win).
 * `contid serve`, `contid doctor` and `contid install` loop over this list; each package exports
 * one complete Adapter (identity, hooks, health, installer), so a new adapter is one package
 * and one line here (README, "Adding an orchestrator").
 */
export function adapters(): Adapter[] {
  return [dockerAdapter(), podmanAdapter, kubernetesAdapter, lxcAdapter(), systemdAdapter];
}
