import type Dockerode from 'dockerode';
import type { ExecDescriber, Identifier } from './consumer';

/** Docker's compose labels, surfaced by `contid show` like any other label. */
export const COMPOSE_PROJECT = 'com.docker.compose.project';
export const COMPOSE_SERVICE = 'com.docker.compose.service';

/** Bounds a Docker API call so a hung daemon cannot stall the spool. */
export async function withTimeout<T>(p: Promise<T>, ms: number): Promise<T | null> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<null>((r) => (timer = setTimeout(() => r(null), ms)))]);
  } catch {
    return null;
  } finally {
    clearTimeout(timer);
  }
}

/** Name, image and labels from Docker; null for containers Docker does not know (containerd, CRI-O …). */
export function dockerIdentifier(docker: Dockerode, timeoutMs = 3000): Identifier {
  return async (_oci, entry) => {
    const info = await withTimeout(docker.getContainer(entry.id).inspect(), timeoutMs);
    if (!info) return null;
    return {
      orchestrator: 'docker',
      name: info.Name.replace(/^\//, ''),
      image: info.Config.Image || null,
      labels: info.Config.Labels ?? {},
    };
  };
}

/**
 * Which `docker exec` a setns binding is: Docker records the exec's host pid once runc has
 * started it, so poll the container's execs briefly for that pid.
 */
export function dockerExecDescriber(docker: Dockerode, timeoutMs = 3000): ExecDescriber {
  return async (entry, _container, pid) => {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const info = await withTimeout(docker.getContainer(entry.id).inspect(), timeoutMs);
      for (const execId of info?.ExecIDs ?? []) {
        const exec = await withTimeout(docker.getExec(execId).inspect(), timeoutMs);
        if (exec && exec.Pid === pid) {
          const pc = exec.ProcessConfig as { entrypoint?: string; arguments?: string[]; user?: string };
          return { execId, dockerCommand: [pc.entrypoint ?? '', ...(pc.arguments ?? [])], dockerUser: pc.user || 'default' };
        }
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    return {};
  };
}
