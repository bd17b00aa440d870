import type Dockerode from 'dockerode';
import type { Adapter } from '@contid/oci';
import { dockerClient } from './client';
import { dockerExecDescriber, dockerIdentifier } from './docker-identity';

/**
 * Docker through contid-runc: name, image and labels from the engine, and which `docker exec`
 * a setns binding is. An unreachable engine answers null at once, so the adapter is harmless
 * on hosts without Docker.
 */
export function dockerAdapter(docker: Dockerode = dockerClient()): Adapter {
  return { name: 'docker', identify: dockerIdentifier(docker), describeExec: dockerExecDescriber(docker) };
}
