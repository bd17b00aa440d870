import Dockerode from 'dockerode';

export type { default as Dockerode } from 'dockerode';

/** A Docker API client on a unix socket (default: DOCKER_HOST's, else /var/run/docker.sock). */
export function dockerClient(socketPath?: string): Dockerode {
  const fromEnv = process.env.DOCKER_HOST?.startsWith('unix://') ? process.env.DOCKER_HOST.slice('unix://'.length) : undefined;
  return new Dockerode({ socketPath: socketPath ?? fromEnv ?? '/var/run/docker.sock' });
}
