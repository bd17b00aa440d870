import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { ContainerId, ContainerQueries } from '@contid/core';
import type { ContainerIdentity, Identifier, OciSpec, SpoolEntry } from '@contid/oci';

/** Podman marks every config.json it writes (libpod's annotations.ContainerManager). */
const MANAGER = 'io.container.manager';
const LIBPOD = 'libpod';

export function isPodmanSpec(spec: OciSpec): boolean {
  return spec.annotations?.[MANAGER] === LIBPOD;
}

/**
 * Podman's storage root and run root, from where the bundle and the pid file of a container
 * live: `<root>/<driver>-containers/<id>/userdata` and `<runroot>/<driver>-containers/<id>/userdata/pidfile`.
 * A podman started with its own --root/--runroot is asked with the same ones.
 */
export function podmanRoots(entry: Pick<SpoolEntry, 'bundle' | 'pidFile' | 'id'>): { root: string; runroot: string | null } | null {
  const id = entry.id.replace(/[.+]/g, '\\$&'); // runc's id alphabet: only . and + are special in a pattern
  const at = (path: string) => {
    const m = new RegExp(`^(/.+)/[a-z0-9]+-containers/${id}/userdata(/|$)`).exec(path);
    return m ? m[1] : null;
  };
  const root = at(entry.bundle);
  if (!root) return null;
  return { root, runroot: entry.pidFile ? at(entry.pidFile) : null };
}

/** What `podman container inspect` says, the parts contid keeps. */
export interface PodmanInspect {
  Name?: string;
  ImageName?: string;
  Pod?: string;
  IsInfra?: boolean;
  Config?: { Labels?: Record<string, string> | null };
}

export type PodmanRunner = (args: string[], timeoutMs: number) => Promise<string | null>;

/** Runs the podman CLI (off the hot path: in the daemon draining the spool). */
export const runPodman: PodmanRunner = (args, timeoutMs) =>
  new Promise((resolve) => {
    execFile('podman', args, { timeout: timeoutMs, maxBuffer: 8 << 20 }, (err, stdout) => resolve(err ? null : stdout));
  });

async function inspect(run: PodmanRunner, global: string[], kind: 'container' | 'pod', id: string, timeoutMs: number): Promise<Record<string, unknown> | null> {
  const out = await run([...global, kind, 'inspect', '--format', 'json', id], timeoutMs);
  if (out === null) return null;
  try {
    const v: unknown = JSON.parse(out);
    const first = Array.isArray(v) ? v[0] : v;
    return typeof first === 'object' && first !== null ? (first as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/**
 * The command line of conmon, the parent of the container's init (read from /proc, so it needs
 * no Podman lock); null when the parent is not conmon or is gone.
 */
export function conmonArgs(pidFile: string | null, procRoot = '/proc'): string[] | null {
  try {
    const init = readFileSync(pidFile ?? '', 'utf8').trim();
    const ppid = /^PPid:\s+(\d+)$/m.exec(readFileSync(`${procRoot}/${init}/status`, 'utf8'))?.[1];
    const argv = readFileSync(`${procRoot}/${ppid}/cmdline`, 'utf8').split('\0');
    return isConmon(argv) ? argv : null;
  } catch {
    return null;
  }
}

const isConmon = (argv: readonly string[] | null): argv is string[] => argv !== null && /(^|\/)conmon$/.test(argv[0] ?? '');

/** The container's name as Podman handed it to conmon (`-n NAME`), from conmon's command line. */
export function nameFromConmon(argv: readonly string[] | null): string | null {
  const i = argv ? argv.indexOf('-n') : -1;
  return argv && i > 0 && argv[i + 1] ? argv[i + 1] : null;
}

/** The container's name as Podman handed it to conmon (`-n NAME`). */
export function conmonName(pidFile: string | null, procRoot = '/proc'): string | null {
  return nameFromConmon(conmonArgs(pidFile, procRoot));
}

/**
 * Podman starts conmon with `--exit-command <podman>` (its `container cleanup`); CRI-O, the other
 * engine with conmon and the same bundle layout, never does. What conmon was started with is
 * Podman's doing, never an image's.
 */
export function conmonOfPodman(argv: readonly string[] | null): boolean {
  const i = argv ? argv.indexOf('--exit-command') : -1;
  return argv !== null && i > 0 && /(^|\/)podman$/.test(argv[i + 1] ?? '');
}

/** The parent of a pod member: its pod's infra container, when contid tagged it. */
function podParent(registry: ContainerQueries, infraId: unknown): ContainerId | null {
  return typeof infraId === 'string' && infraId ? registry.findByRuntimeId(infraId)?.contid ?? null : null;
}

/**
 * Podman identity for spool entries from contid-runc: orchestrator `podman` from the
 * annotation Podman writes into every config.json, then name, image, labels and pod from
 * `podman inspect` (the container exists while runc creates it). A container already removed
 * keeps Podman's short id as its name. Null for containers Podman did not create.
 */
export function podmanIdentifier(run: PodmanRunner = runPodman, timeoutMs = 5000, procRoot = '/proc'): Identifier {
  return async (spec, entry, ctx) => {
    // The annotation alone is not enough, nor is its absence: Podman lets an image's annotations
    // overwrite its own (`io.container.manager=cri-o` from an image hid a Podman container from
    // this identifier: outside attack 14, F1). Podman's bundle layout with its annotation, or a
    // conmon Podman started, says Podman.
    // conmon's command line as the shim read it at create (conmon ran the runtime): an init that
    // exited at once (`run --rm IMAGE true`) and its conmon can be gone by now. Else, or when the
    // record was cut before Podman's --exit-command (long storage paths), the live conmon
    // through the init's parent, while it runs.
    const recorded = isConmon(entry.callerArgv) ? entry.callerArgv : null;
    const conmon = recorded && conmonOfPodman(recorded) ? recorded : (conmonArgs(entry.pidFile, procRoot) ?? recorded);
    const roots = podmanRoots(entry);
    if (!((isPodmanSpec(spec) && roots !== null) || conmonOfPodman(conmon))) return null;
    const found: Partial<ContainerIdentity> = { orchestrator: 'podman' };
    const name = nameFromConmon(conmon);
    if (name) found.name = name;
    // `podman run --rm` holds the container's lock until it is removed: inspect would only wait.
    if (spec.annotations?.['io.podman.annotations.autoremove'] === 'TRUE') return found;
    const global = roots ? ['--root', roots.root, ...(roots.runroot ? ['--runroot', roots.runroot] : [])] : [];
    const c = (await inspect(run, global, 'container', entry.id, timeoutMs)) as PodmanInspect | null;
    if (!c) return found;
    const labels: Record<string, string> = { ...(c.Config?.Labels ?? {}) };
    if (c.Name) found.name = c.Name;
    if (c.ImageName) found.image = c.ImageName;
    if (c.Pod) {
      const pod = await inspect(run, global, 'pod', c.Pod, timeoutMs);
      labels['io.podman.pod.id'] = c.Pod;
      if (typeof pod?.Name === 'string') labels['io.podman.pod.name'] = pod.Name;
      if (!c.IsInfra) {
        const parent = podParent(ctx.registry, pod?.InfraContainerID);
        if (parent !== null) found.parent = parent;
      }
    }
    found.labels = labels;
    return found;
  };
}
