import type { ContidConfig, HealthResult, Tagger } from '@contid/core';
import type { ExecDescriber, Identifier, InitRecorder, SpawnBinder } from './consumer';
import type { Spool } from './spool';

/**
 * What only the running contid knows and an adapter's installer writes into hooks, units and
 * runtime entries: how to call this contid back, which registry it uses, where its sh tagging
 * steps live. The CLI builds it once; adapters never guess their way back to the CLI's files.
 */
export interface InstallContext {
  /** The Node command line of this contid, absolute: [node, …/cli/dist/main.js]. */
  readonly cli: readonly [node: string, main: string];
  /** The registry directory `contid install` ran with (absolute), when not the default: hooks and units must share it. */
  readonly stateDir?: string;
  /** This contid's integrations directory (absolute): bin/contid-lxc, bin/contid-systemd, docker/contid-runc. */
  readonly integrations: string;
  /** Tell the operator something that does not stop the install (stderr, one line). */
  warn(line: string): void;
}

/** Something `contid install X` puts on the host and `contid uninstall X` takes away. */
export interface Installer {
  describe: string;
  install(args: string[], context: InstallContext): string | Promise<string>;
  uninstall(args: string[], context: InstallContext): string | Promise<string>;
}

/**
 * What an orchestrator's package gives contid, as containerd NRI's stub discovers a plugin's
 * handlers: each member is optional, and the CLI and `contid serve` loop over one list of
 * adapters instead of registering anything by hand or at import time.
 */
export interface Adapter {
  /** The orchestrator it speaks for: docker, podman, kubernetes, lxc … */
  readonly name: string;
  /** Who a spool entry's container is (null: not this orchestrator's). Run in list order, later answers win. */
  readonly identify?: Identifier;
  /** Facts about a process entering a container (docker exec id …). The first adapter that has one describes. */
  readonly describeExec?: ExecDescriber;
  /** Its hook's init entries (LXC's start-host): the container's init, or an untagged container. */
  readonly recordInit?: InitRecorder;
  /** Its tagging step's create entries, bound its own way (systemd: create-or-join by invocation). */
  readonly bindSpawned?: SpawnBinder;
  /**
   * What it keeps doing inside `contid serve`, started once the entries that waited are bound
   * (LXC: following its containers' monitors to record their ends); stopped when serve stops.
   */
  serve?(context: { tagger: Tagger; spool: Spool; log(line: string): void }): { stop(): void };
  /** `contid doctor`: this orchestrator's checks. */
  health?(config: ContidConfig): HealthResult[];
  /** `contid install NAME` / `uninstall NAME`: hooks, units, runtime entries this orchestrator needs. */
  readonly installer?: Installer;
}

/** The spool consumer's view of a list of adapters. */
export function consumerHooks(adapters: readonly Adapter[]): {
  identifiers: Identifier[];
  describeExec?: ExecDescriber;
  initRecorders: Record<string, InitRecorder>;
  spawnBinders: Record<string, SpawnBinder>;
} {
  const identifiers = adapters.flatMap((a) => (a.identify ? [a.identify] : []));
  const describeExec = adapters.find((a) => a.describeExec)?.describeExec;
  const initRecorders = Object.fromEntries(adapters.flatMap((a) => (a.recordInit ? [[a.name, a.recordInit] as const] : [])));
  const spawnBinders = Object.fromEntries(adapters.flatMap((a) => (a.bindSpawned ? [[a.name, a.bindSpawned] as const] : [])));
  return describeExec ? { identifiers, describeExec, initRecorders, spawnBinders } : { identifiers, initRecorders, spawnBinders };
}

/** Every adapter's health checks, in list order. */
export function adapterHealth(adapters: readonly Adapter[], config: ContidConfig): HealthResult[] {
  return adapters.flatMap((a) => a.health?.(config) ?? []);
}

/** `contid install`'s targets the adapters bring, by adapter name; two adapters may not claim one name. */
export function adapterInstallers(adapters: readonly Adapter[]): Map<string, Installer> {
  const out = new Map<string, Installer>();
  for (const a of adapters) {
    if (!a.installer) continue;
    if (out.has(a.name)) throw new Error(`two adapters named "${a.name}" bring an installer`);
    out.set(a.name, a.installer);
  }
  return out;
}
