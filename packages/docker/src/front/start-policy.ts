import { readFileSync } from 'node:fs';
import { isShimBytes } from '../daemon-json';
import { type DockerRuntimes, type PolicyContext, type Refusal, hostConfigRefusal, isObject } from './request-policy';

export type { DockerRuntimes };

/** What judging a stored container needs of dockerd's `/info`: its runtimes, and the cgroup namespace it gives a container that asked for none. */
export interface DockerDaemon {
  runtimes: DockerRuntimes;
  /**
   * `host` on cgroup v1, `private` on v2: dockerd's own defaults. An admin's
   * `default-cgroupns-mode` is not in `/info`, so a daemon.json that sets another is not seen.
   */
  cgroupnsDefault: string;
  /** `/info`'s LoggingDriver: the log driver dockerd gives a container that named none. */
  loggingDriver?: string;
}

/**
 * dockerd 20.10's MaskedPaths and ReadonlyPaths (moby's oci/defaults.go), which it writes into
 * every container that is not privileged and asked for none (`systempaths=unconfined` asks for
 * empty lists).
 */
const DOCKER_MASKED_PATHS = ['/proc/asound', '/proc/acpi', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list', '/proc/timer_stats', '/proc/sched_debug', '/proc/scsi', '/sys/firmware'];
const DOCKER_READONLY_PATHS = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

const holdsAll = (v: unknown, paths: readonly string[]): boolean => Array.isArray(v) && paths.every((p) => v.includes(p));

/**
 * A stored container's HostConfig as dockerd's inspect gives it (`GET /containers/{id}/json`),
 * put back in the shape of the create body that made it, so that request-policy's create rules
 * judge it — one table for both. Only what dockerd fills in at create that those rules would
 * refuse as a client's own words is undone here:
 *  - MaskedPaths, ReadonlyPaths: dockerd's own lists, where the create rule allows only none (an
 *    empty list is systempaths=unconfined). A list holding every one of dockerd's paths masks at
 *    least as much (a newer dockerd's longer list too), so it counts as none.
 *  - CgroupnsMode: dockerd's default mode (`host` on cgroup v1), which a create that named none
 *    gets: as none.
 *  - SecurityOpt: dockerd appends `label=disable` to a privileged container's or one sharing the
 *    host's pid or ipc namespace (moby's generateSecurityOpt): those fields are judged
 *    themselves, and a privileged container root allowed (`--allow-unattributed audit-control`)
 *    must not be refused for dockerd's own addition.
 *  - LogConfig: dockerd writes its default driver (and the admin's log-opts for it) into a
 *    container that named none; a stored LogConfig of the daemon's default driver counts as
 *    none, or on a daemon whose default is syslog every start by a user would be refused. Her
 *    own containers' log options were judged at their create (only options that name no address
 *    for the default driver); a root-made one's are root's, and its output is root's command's.
 * Everything else dockerd fills in (NetworkMode `default`, IpcMode `private`, the runtime, Go's
 * empty lists, maps and strings) the create rules take as a client could send it.
 */
export function asCreated(host: unknown, cgroupnsDefault: string, loggingDriver?: string): unknown {
  if (!isObject(host)) return host;
  const created: Record<string, unknown> = { ...host };
  if (holdsAll(host.MaskedPaths, DOCKER_MASKED_PATHS)) created.MaskedPaths = null;
  if (holdsAll(host.ReadonlyPaths, DOCKER_READONLY_PATHS)) created.ReadonlyPaths = null;
  if (host.CgroupnsMode === cgroupnsDefault) created.CgroupnsMode = '';
  if (loggingDriver && isObject(host.LogConfig) && host.LogConfig.Type === loggingDriver) created.LogConfig = null;
  const labelDisabled = host.Privileged === true || host.PidMode === 'host' || host.IpcMode === 'host';
  if (labelDisabled && Array.isArray(host.SecurityOpt) && host.SecurityOpt.at(-1) === 'label=disable') created.SecurityOpt = host.SecurityOpt.slice(0, -1);
  return created;
}

/**
 * Why a stored container may not be started, restarted or exec'd into for a caller other than
 * host root (null: it may): what her own create of it would have been refused for, judged by
 * request-policy's rules with her uid (a bind mount must be of her files) on what dockerd says
 * the container is now. Root made it with whatever it liked (`-v /:/host`, `--pid host`: a
 * monitoring agent's usual flags); her start or exec would run her commands in it. Kinds root
 * allowed (`--allow-unattributed`) are passed over, as at create.
 */
export function storedContainerRefusal(host: unknown, daemon: DockerDaemon, caller: Omit<PolicyContext, 'runtimes'>): Refusal | null {
  return hostConfigRefusal(asCreated(host, daemon.cgroupnsDefault, daemon.loggingDriver), { ...caller, runtimes: daemon.runtimes });
}

/** Whether the program at `path` is contid's runtime shim, the sh or the compiled one (each says so). */
export function isContidShim(path: string): boolean {
  try {
    return isShimBytes(readFileSync(path));
  } catch {
    return false;
  }
}

/** dockerd's `/info` answer (`DefaultRuntime`, `Runtimes`, `CgroupVersion`) as DockerDaemon. */
export function daemonOfInfo(info: { DefaultRuntime?: unknown; Runtimes?: unknown; CgroupVersion?: unknown; LoggingDriver?: unknown }, isShim: (path: string) => boolean = isContidShim): DockerDaemon {
  const daemon: DockerDaemon = { runtimes: runtimesOfInfo(info, isShim), cgroupnsDefault: info.CgroupVersion === '2' ? 'private' : 'host' };
  if (typeof info.LoggingDriver === 'string' && info.LoggingDriver !== '') daemon.loggingDriver = info.LoggingDriver;
  return daemon;
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
