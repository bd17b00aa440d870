import type Dockerode from 'dockerode';
import type { Adapter } from '@contid/oci';
import { dockerClient } from './client';
import { dockerExecDescriber, dockerIdentifier } from './docker-identity';
import { frontUpstreamHealth } from './front/upstream-health';
import { dockerInstaller } from './installer';

/**
 * Docker through contid-runc: name, image and labels from the engine, and which `docker exec`
 * a setns binding is. An unreachable engine answers null at once, so the adapter is harmless
 * on hosts without Docker. `contid install docker` puts the shim and its daemon.json entry in place.
 * `contid doctor` checks that dockerd's socket behind the API front is root-only.
 */
export function dockerAdapter(docker: Dockerode = dockerClient()): Adapter {
  return { name: 'docker', identify: dockerIdentifier(docker), describeExec: dockerExecDescriber(docker), installer: dockerInstaller, health: () => frontUpstreamHealth() };
}
