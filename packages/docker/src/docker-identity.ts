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

/** `docker exec`s seen in Docker's event stream: Docker forgets an exec soon after it ends. */
export class RecentExecs {
  private readonly byContainer = new Map<string, { execId: string; command: string; at: number }[]>();

  /** From an `exec_create: CMD ARGS…` event. */
  add(containerId: string, execId: string, command: string, at = Date.now()): void {
    const list = (this.byContainer.get(containerId) ?? []).filter((e) => at - e.at < 600_000);
    list.push({ execId, command, at });
    this.byContainer.set(containerId, list);
  }

  /** The oldest exec of that command not yet claimed by a binding. */
  claim(containerId: string, args: string[], used: Set<unknown>): string | null {
    const command = args.join(' ');
    return this.byContainer.get(containerId)?.find((e) => e.command === command && !used.has(e.execId))?.execId ?? null;
  }
}

/**
 * Which `docker exec` a setns binding is: Docker records the exec's host pid once runc has
 * started it; an exec that already ended is matched by its command in the event stream.
 */
export function dockerExecDescriber(docker: Dockerode, recent?: RecentExecs, timeoutMs = 1500): ExecDescriber {
  return async (entry, container, pid, proc, ctx) => {
    const used = new Set(ctx.registry.bindings(container.contid).map((b) => b.detail.execId));
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const info = await withTimeout(docker.getContainer(entry.id).inspect(), timeoutMs);
      for (const execId of info?.ExecIDs ?? []) {
        const exec = await withTimeout(docker.getExec(execId).inspect(), timeoutMs);
        if (exec && exec.Pid === pid) {
          const pc = exec.ProcessConfig as { entrypoint?: string; arguments?: string[]; user?: string };
          return { execId, dockerCommand: [pc.entrypoint ?? '', ...(pc.arguments ?? [])], dockerUser: pc.user || 'default' };
        }
      }
      const seen = proc?.args && recent?.claim(entry.id, proc.args, used);
      if (seen) return { execId: seen };
      if (Date.now() > deadline) return {};
      await new Promise((r) => setTimeout(r, 100));
    }
  };
}
