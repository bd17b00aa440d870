import type { Adapter } from '@contid/oci';
import { dockerAdapter } from '@contid/docker';
import { kubernetesAdapter } from '@contid/kubernetes';
import { lxcHealth, recordSpooledInit } from '@contid/lxc';
import { podmanAdapter } from '@contid/podman';
import { bindSpooledLine, recordSpooledMainPid } from '@contid/systemd';
import { dockerInstaller } from './commands/docker';
import { lxcInstaller } from './commands/lxc-installer';
import { systemdInstaller } from './commands/systemd';

/**
 * Every orchestrator contid knows, in the order their identifiers run (later answers win).
 * `contid serve`, `contid doctor` and `contid install` loop over this list; a new adapter is
 * one package and one line here. The installers of Docker, LXC and systemd still live beside
 * their commands (they need the CLI's own paths), so their lines join them here.
 */
export function adapters(): Adapter[] {
  return [
    { ...dockerAdapter(), installer: dockerInstaller },
    podmanAdapter,
    kubernetesAdapter,
    { name: 'lxc', health: lxcHealth, recordInit: recordSpooledInit, installer: lxcInstaller },
    { name: 'systemd', bindSpawned: bindSpooledLine, recordInit: recordSpooledMainPid, installer: systemdInstaller },
  ];
}
