import type Dockerode from 'dockerode';
import type { ContainerIdentity, ExecDescriber, Identifier } from '@contid/oci';

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

/** The annotation with which an engine other than Docker marks the config.json it writes. */
const OTHER_MANAGER = 'io.container.manager';

/** Attributes Docker adds to a container event beside the container's labels. */
const EVENT_ATTRIBUTES = new Set(['name', 'image', 'exitCode', 'execID', 'signal', 'execDuration']);

/** One Docker event, as the events endpoint streams it (one JSON object per line). */
interface ContainerEvent {
  Action?: string;
  Actor?: { ID?: string; Attributes?: Record<string, string> };
}

/** The events Docker still holds for one container since `since` (s), up to now; null when Docker does not answer. */
async function eventsOf(docker: Dockerode, id: string, since: number, timeoutMs: number): Promise<ContainerEvent[] | null> {
  const until = Math.ceil(Date.now() / 1000);
  const stream = (await withTimeout(docker.getEvents({ since, until, filters: { type: ['container'], container: [id] } }), timeoutMs)) as NodeJS.ReadableStream | null;
  if (!stream) return null;
  const text = await withTimeout(
    new Promise<string>((resolve, reject) => {
      let all = '';
      stream.on('data', (d: Buffer) => (all += d.toString('utf8')));
      stream.on('end', () => resolve(all));
      stream.on('error', reject);
    }),
    timeoutMs,
  );
  (stream as NodeJS.ReadableStream & { destroy?: () => void }).destroy?.();
  if (text === null) return null;
  const out: ContainerEvent[] = [];
  for (const line of text.split('\n')) {
    try {
      if (line.trim()) out.push(JSON.parse(line) as ContainerEvent);
    } catch {
      // a line cut short: the others still name the container
    }
  }
  return out;
}

/**
 * Name, image and labels of a container Docker has already removed (`docker run --rm` ended
 * before the spool entry was read), from Docker's event log: its start (or any later) event
 * carries them as attributes. Docker keeps only its last 256 events.
 */
async function identityFromEvents(docker: Dockerode, id: string, sinceMs: number, timeoutMs: number): Promise<Partial<ContainerIdentity> | null> {
  const events = await eventsOf(docker, id, Math.floor(sinceMs / 1000) - 5, timeoutMs);
  const rank = (e: ContainerEvent) => ['start', 'create', 'destroy', 'die'].indexOf(e.Action ?? '') >>> 0;
  const best = (events ?? []).filter((e) => e.Actor?.ID === id && e.Actor.Attributes?.name).sort((a, b) => rank(a) - rank(b))[0];
  const attributes = best?.Actor?.Attributes;
  if (!attributes) return null;
  return {
    orchestrator: 'docker',
    name: attributes.name,
    image: attributes.image || null,
    labels: Object.fromEntries(Object.entries(attributes).filter(([k]) => !EVENT_ATTRIBUTES.has(k))),
  };
}

/**
 * Name, image and labels from Docker (inspect, else its event log for a container already
 * removed); null for containers Docker does not know (containerd, CRI-O …).
 */
export function dockerIdentifier(docker: Dockerode, timeoutMs = 3000): Identifier {
  return async (oci, entry) => {
    // A config another manager marked as its own (Podman: io.container.manager=libpod) is not
    // Docker's: asking dockerd (inspect, then its event log) cost contid serve CPU on every
    // `podman run`, and dockerd work on hosts that run both.
    if (oci.annotations?.[OTHER_MANAGER]) return null;
    const info = await withTimeout(docker.getContainer(entry.id).inspect(), timeoutMs);
    if (!info) return entry.id ? identityFromEvents(docker, entry.id, entry.time, timeoutMs) : null;
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

/** Containers whose healthcheck command an exec describer remembers (least recently added dropped first). */
const MAX_REMEMBERED_CHECKS = 4096;

/**
 * Which `docker exec` a setns binding is. The exec id comes from runc's pid file name (no
 * waiting, no guessing); its command and user from Docker while it still knows the exec, else
 * from the event stream. An exec whose command is the container's healthcheck is marked
 * `healthcheck` (Docker runs its probes as execs; the registry folds them). A container's
 * healthcheck is fixed when it is created, so it is asked once per container (and an exec
 * some client asked for through contid docker front is never a probe): a run bound
 * after `docker rm` (Docker no longer answers) is still marked. Only engines that name pid
 * files otherwise fall back to matching the pid or the command, once.
 */
export function dockerExecDescriber(docker: Dockerode, recent?: RecentExecs, timeoutMs = 1500): ExecDescriber {
  const checks = new Map<string, string[] | null>();
  const inspect = (id: string) => withTimeout(docker.getContainer(id).inspect(), timeoutMs);
  return async (entry, container, pid, proc, ctx) => {
    let info: Dockerode.ContainerInspectInfo | null | undefined;
    let probe = checks.get(entry.id);
    if (probe === undefined) {
      info = await inspect(entry.id);
      probe = info ? healthcheckCommand(info.Config.Healthcheck?.Test) : null;
      if (info) {
        if (checks.size >= MAX_REMEMBERED_CHECKS) checks.delete(checks.keys().next().value!);
        checks.set(entry.id, probe);
      }
    }
    const args = proc?.args ?? null;
    // An exec a client asked for (its own note, not the container's taken for dockerd) is that
    // client's, whatever its command: only dockerd's own runs are probes.
    const asked = entry.requester !== null && !entry.requester.byDockerd;
    const healthcheck = !asked && probe !== null && args !== null && probe.join('\0') === args.join('\0') ? { healthcheck: true } : {};
    const named = execIdOfPidFile(entry.pidFile);
    // The binding already carries runc's process.json (command, user, cwd): asking dockerd for
    // the exec's own record would only repeat it, at one more API call per exec.
    if (named && args !== null) return { execId: named, ...healthcheck };
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
    if (info === undefined) info = await inspect(entry.id);
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
