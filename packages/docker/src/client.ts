import type Dockerode from 'dockerode';
import { ContidError } from '@contid/core';

export type { default as Dockerode } from 'dockerode';

/**
 * A Docker API client on a unix socket (default: DOCKER_HOST's, else /var/run/docker.sock).
 * dockerode (with ssh2 and grpc) costs ≈ 90 ms to load, so it is required only when a client
 * is made: every `contid` command, hooks included, would pay it otherwise.
 */
export function dockerClient(socketPath?: string): Dockerode {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const Docker = require('dockerode') as typeof Dockerode;
  const fromEnv = process.env.DOCKER_HOST?.startsWith('unix://') ? process.env.DOCKER_HOST.slice('unix://'.length) : undefined;
  return new Docker({ socketPath: socketPath ?? fromEnv ?? '/var/run/docker.sock' });
}

/** A --host option's socket: only unix://PATH is a Docker endpoint contid talks to (undefined: the default). */
export function socketOfHost(host: string | undefined): string | undefined {
  if (host === undefined) return undefined;
  if (!host.startsWith('unix://')) throw new ContidError(`--host must be unix:///path/to/docker.sock, got "${host}"`);
  return host.slice('unix://'.length);
}
