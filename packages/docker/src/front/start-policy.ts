import { readFileSync } from 'node:fs';
import { SHIM_HEADER } from '../daemon-json';
import { type DockerRuntimes, capabilityRefusal, privilegedRefusal, runtimeRefusal } from './request-policy';

export type { DockerRuntimes };

/** What dockerd's inspect says of a container that decides whether its run keeps an audit identity. */
export interface StartHostConfig {
  Runtime?: string;
  Privileged?: boolean;
  CapAdd?: readonly string[] | null;
  /** `docker run --rm`: dockerd removes it when its start fails, and the client waits for that. */
  AutoRemove?: boolean;
}

/**
 * Why a container may not be started for a user other than root (null: it may):
 *  - `audit-control`: privileged, or adding CAP_AUDIT_CONTROL (`AUDIT_CONTROL`, `ALL`): root in
 *    the container may then write its own /proc/self/loginuid (loginuid_immutable is off, or
 *    contid could not renew sessions), leaving its container's session for any auid it names.
 *    CapDrop is not weighed: dropping it again after ALL is rare, and refusing is the safe side.
 *  - `runtime`: a runtime that is not contid's shim, when dockerd's default is (the admin made
 *    tagging mandatory): the container runs in dockerd's own unset session with no requester,
 *    and anyone in it may set its loginuid once to any uid. Where the default is not contid's,
 *    every plain `docker run` is untagged anyway, so refusing `--runtime runc` guards nothing
 *    (contid doctor says so).
 */
export function startRefusal(host: StartHostConfig, runtimes: DockerRuntimes): { kind: 'audit-control' | 'runtime'; why: string } | null {
  // The create-time rules of request-policy.ts, the ones that keep an identity: the same words.
  const refusal =
    privilegedRefusal(host.Privileged) ??
    (host.CapAdd ?? []).map(capabilityRefusal).find((r) => r?.allow === 'audit-control') ??
    runtimeRefusal(host.Runtime, { runtimes });
  const kind = refusal?.allow;
  return kind === 'audit-control' || kind === 'runtime' ? { kind, why: refusal!.why } : null;
}

/** Whether the program at `path` is contid's runtime shim (it says so in its first lines). */
export function isContidShim(path: string): boolean {
  try {
    return readFileSync(path, 'utf8').startsWith(SHIM_HEADER);
  } catch {
    return false;
  }
}

/** dockerd's `/info` answer (`DefaultRuntime`, `Runtimes: {name: {path}}`) as DockerRuntimes. */
export function runtimesOfInfo(info: { DefaultRuntime?: unknown; Runtimes?: unknown }, isShim: (path: string) => boolean = isContidShim): DockerRuntimes {
  const contid = new Set<string>();
  if (info.Runtimes && typeof info.Runtimes === 'object') {
    for (const [name, r] of Object.entries(info.Runtimes as Record<string, { path?: unknown }>)) {
      if (typeof r?.path === 'string' && isShim(r.path)) contid.add(name);
    }
  }
  return { defaultRuntime: typeof info.DefaultRuntime === 'string' ? info.DefaultRuntime : 'runc', contid };
}
