import type Dockerode from 'dockerode';
import { ContainerQueries, ContainerRecord, Tagger } from '@contid/core';
import { withTimeout } from './docker-identity';
import type { RequesterStore } from './front/requesters';

/** Where the front's notes are read: a container's `c-` note names who asked for it. */
export type RequesterNotes = Pick<RequesterStore, 'read'>;

export interface BackfillResult {
  /** Running containers contid already tags. */
  known: string[];
  /** Running containers recorded as untagged now (no dedicated session). */
  untagged: string[];
  /** Registry rows of Docker containers that no longer run, now ended. */
  ended: string[];
}

function runningRow(registry: ContainerQueries, runtimeId: string): ContainerRecord | undefined {
  const c = registry.findByRuntimeId(runtimeId);
  return c && c.state !== 'ended' ? c : undefined;
}

/**
 * Reconciles the registry with Docker: running containers without a binding are recorded as
 * untagged with their pid (never silently missing); rows whose container stopped are ended.
 * Run it after draining the spool, or a container still in the spool looks untagged.
 */
export async function backfillDocker(docker: Dockerode, tagger: Tagger, timeoutMs = 10_000, requesters?: RequesterNotes): Promise<BackfillResult> {
  const out: BackfillResult = { known: [], untagged: [], ended: [] };
  const running = await withTimeout(docker.listContainers(), timeoutMs);
  if (!running) throw new Error('docker did not list its containers');
  const ids = new Set(running.map((c) => c.Id));
  for (const summary of running) {
    const found = await recordIfUntagged(docker, tagger, summary.Id, 'backfill', timeoutMs, requesters);
    if (found === 'known') out.known.push(summary.Id);
    if (found === 'untagged') out.untagged.push(summary.Id);
  }
  for (const c of tagger.containers.list({ orchestrator: 'docker' })) {
    if (c.state === 'ended' || !c.runtimeId || ids.has(c.runtimeId)) continue;
    tagger.end(c.contid, 'not running in docker');
    out.ended.push(c.runtimeId);
  }
  return out;
}

/**
 * One container Docker runs: if contid has no row for it (started with another runtime, or the
 * shim could not hand it over), record it untagged with its init pid — and with who asked for
 * it when `contid docker front` noted that (`requester`: a user other than root only gets here
 * through the front's --allow-unattributed runtime; the run itself carries no identity).
 */
export async function recordIfUntagged(
  docker: Dockerode,
  tagger: Tagger,
  id: string,
  found: string,
  timeoutMs = 10_000,
  requesters?: RequesterNotes,
): Promise<'known' | 'untagged' | 'gone'> {
  if (runningRow(tagger.containers, id)) return 'known';
  const info = await withTimeout(docker.getContainer(id).inspect(), timeoutMs);
  if (!info || !info.State.Running || !info.State.Pid) return 'gone';
  const requester = requesters?.read('c', info.Id) ?? null;
  tagger.recordUntagged({
    orchestrator: 'docker',
    name: info.Name.replace(/^\//, ''),
    runtimeId: info.Id,
    image: info.Config.Image || null,
    labels: info.Config.Labels ?? {},
    pid: info.State.Pid,
    detail: { found, runtime: info.HostConfig.Runtime ?? null, ...(requester ? { requester } : {}) },
  });
  return 'untagged';
}
