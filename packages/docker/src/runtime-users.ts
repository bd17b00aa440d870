import type Dockerode from 'dockerode';
import { RUNTIME_NAME } from './daemon-json';
import { withTimeout } from './docker-identity';

export interface RuntimeUser {
  id: string;
  name: string;
  running: boolean;
}

/**
 * Containers Docker keeps with the contid runtime (running or stopped: a stopped one cannot be
 * started again once the runtime is gone, and a running one needs the shim for exec, stop and
 * delete). Docker's list does not say the runtime, so each container is inspected.
 */
export async function containersUsingRuntime(docker: Dockerode, runtime = RUNTIME_NAME, timeoutMs = 10_000): Promise<RuntimeUser[]> {
  // Unlike withTimeout, the error itself (no socket, permission) reaches the operator.
  let timer: NodeJS.Timeout | undefined;
  const all = await Promise.race([
    docker.listContainers({ all: true }),
    new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs))),
  ]).finally(() => clearTimeout(timer));
  const infos = await Promise.all(all.map((c) => withTimeout(docker.getContainer(c.Id).inspect(), timeoutMs).catch(() => null)));
  return infos
    .filter((i): i is NonNullable<typeof i> => Boolean(i) && i!.HostConfig.Runtime === runtime)
    .map((i) => ({ id: i.Id, name: i.Name.replace(/^\//, ''), running: i.State.Running }));
}
