import type Dockerode from 'dockerode';
import type { ExecDescriber, Identifier } from '@contid/oci';

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

  /** From an `exec_create: CMD ARGS…` event (the command as Docker printed it, trimmed). */
  add(containerId: string, execId: string, command: string, at = Date.now()): void {
    const list = (this.byContainer.get(containerId) ?? []).filter((e) => at - e.at < 600_000);
    list.push({ execId, command: command.trim(), at });
    this.byContainer.set(containerId, list);
  }

  /** The oldest exec of that command not yet claimed by a binding. */
  claim(containerId: string, args: string[], used: Set<unknown>): string | null {
    const command = args.join(' ').trim();
    return this.byContainer.get(containerId)?.find((e) => e.command === command && !used.has(e.execId))?.execId ?? null;
  }

  commandOf(containerId: string, execId: string): string | null {
    return this.byContainer.get(containerId)?.find((e) => e.execId === execId)?.command ?? null;
  }
}

/** containerd names runc exec's pid file after the exec id Docker gave it (`…/<exec id>.pid`). */
export function execIdOfPidFile(pidFile: string | null): string | null {
  const m = /\/([0-9a-f]{64})\.pid$/.exec(pidFile ?? '');
  return m ? m[1]! : null;
}

/** The command Docker runs for a container's healthcheck (`CMD-SHELL x` runs `/bin/sh -c x`). */
export function healthcheckCommand(test: string[] | undefined): string[] | null {
  if (!test || test.length < 2) return null;
  if (test[0] === 'CMD') return test.slice(1);
  if (test[0] === 'CMD-SHELL') return ['/bin/sh', '-c', test.slice(1).join(' ')];
  return null;
}

/**
 * Which `docker exec` a setns binding is. The exec id comes from runc's pid file name (no
 * waiting, no guessing); its command and user from Docker while it still knows the exec, else
 * from the event stream. An exec whose command is the container's healthcheck is marked
 * `healthcheck` (Docker runs its probes as execs). Only engines that name pid files otherwise
 * fall back to matching the pid or the command, once.
 */
export function dockerExecDescriber(docker: Dockerode, recent?: RecentExecs, timeoutMs = 1500): ExecDescriber {
  return async (entry, container, pid, proc, ctx) => {
    const info = await withTimeout(docker.getContainer(entry.id).inspect(), timeoutMs);
    const probe = healthcheckCommand(info?.Config.Healthcheck?.Test);
    const args = proc?.args ?? null;
    const healthcheck = probe !== null && args !== null && probe.join('\0') === args.join('\0') ? { healthcheck: true } : {};
    const named = execIdOfPidFile(entry.pidFile);
    if (named) {
      const exec = await withTimeout(docker.getExec(named).inspect(), timeoutMs);
      const pc = exec?.ProcessConfig as { entrypoint?: string; arguments?: string[]; user?: string } | undefined;
      const command = pc ? [pc.entrypoint ?? '', ...(pc.arguments ?? [])] : null;
      const seen = recent?.commandOf(entry.id, named);
      return {
        execId: named,
        ...(command ? { dockerCommand: command, dockerUser: pc?.user || 'default' } : seen ? { dockerCommand: seen.split(' ') } : {}),
        ...healthcheck,
      };
    }
    const used = new Set(ctx.registry.bindings(container.contid).map((b) => b.detail.execId));
    for (const execId of info?.ExecIDs ?? []) {
      const exec = await withTimeout(docker.getExec(execId).inspect(), timeoutMs);
      if (exec && exec.Pid === pid) {
        const pc = exec.ProcessConfig as { entrypoint?: string; arguments?: string[]; user?: string };
        return { execId, dockerCommand: [pc.entrypoint ?? '', ...(pc.arguments ?? [])], dockerUser: pc.user || 'default', ...healthcheck };
      }
    }
    const seen = args && recent?.claim(entry.id, args, used);
    return { ...(seen ? { execId: seen } : {}), ...healthcheck };
  };
}
