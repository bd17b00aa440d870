import { readFileSync } from 'node:fs';
import { SHIM_HEADER } from '../daemon-json';

/** What dockerd's inspect says of a container that decides whether its run keeps an audit identity. */
export interface StartHostConfig {
  Runtime?: string;
  Privileged?: boolean;
  CapAdd?: readonly string[] | null;
  /** `docker run --rm`: dockerd removes it when its start fails, and the client waits for that. */
  AutoRemove?: boolean;
}

/** dockerd's runtimes as its `/info` names them: the default's name and which names run contid's shim. */
export interface DockerRuntimes {
  defaultRuntime: string;
  contid: ReadonlySet<string>;
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
  if (host.Privileged) return { kind: 'audit-control', why: 'a privileged container holds CAP_AUDIT_CONTROL, so root in it can rewrite its loginuid and leave its audit session' };
  const added = (host.CapAdd ?? []).map((c) => c.toUpperCase().replace(/^CAP_/, ''));
  const cap = added.find((c) => c === 'ALL' || c === 'AUDIT_CONTROL');
  if (cap) return { kind: 'audit-control', why: `--cap-add ${cap} gives CAP_AUDIT_CONTROL, so root in the container can rewrite its loginuid and leave its audit session` };
  const runtime = host.Runtime || runtimes.defaultRuntime;
  if (runtimes.contid.has(runtime) || !runtimes.contid.has(runtimes.defaultRuntime)) return null;
  return { kind: 'runtime', why: `runtime ${JSON.stringify(runtime)} is not contid's, so the container would run with no audit session or requester of its own` };
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
