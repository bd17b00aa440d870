import { existsSync } from 'node:fs';
import {
  AUDIT_UNSET,
  ContainerRecord,
  ContidError,
  Tagger,
  formatContainerId,
  processStartTime,
  readNamespaces,
  readSessionId,
} from '@contid/core';
import { ORCHESTRATOR } from './start';
import { validateContainerName } from './lxc-tools';
import { removeInstanceRecord, writeInstanceRecord } from './instance-record';

export type HookType = 'start-host' | 'post-stop';
export const HOOK_TYPES: readonly HookType[] = ['start-host', 'post-stop'];

/** What LXC tells a hook (lxc.container.conf(5), "Container hooks"), validated. */
export interface HookContext {
  type: HookType;
  name: string;
  /** The container's init (host pid); set for start-host and later hooks. */
  pid: number | null;
  configFile: string | null;
  rootfs: string | null;
  /** 'stop' or 'reboot' in stop/post-stop hooks. */
  target: string | null;
  /**
   * The init's session and start time as contid-lxc's hook read them when LXC ran it (contid
   * serve records the entry later); unset when the hook runs here, reading /proc itself.
   */
  seen?: { initSession: number; initStart: number };
}

export type HookOutcome =
  | { action: 'bound'; container: ContainerRecord }
  | { action: 'procfs'; container: ContainerRecord }
  | { action: 'untagged'; container: ContainerRecord; warning: string }
  | { action: 'ended'; container: ContainerRecord }
  | { action: 'kept'; container: ContainerRecord };

/**
 * Reads the hook's context. LXC passes the hook type as the third argument (`NAME lxc TYPE`,
 * lxc.hook.version = 0, the default) or in LXC_HOOK_TYPE (lxc.hook.version = 1).
 * Everything is checked before any registry or audit write, so bad input leaves nothing behind.
 */
export function hookContext(env: NodeJS.ProcessEnv, args: readonly string[]): HookContext {
  const type = env.LXC_HOOK_TYPE || args[2];
  if (!type) throw new ContidError('no hook type: run "contid lxc hook" from lxc.hook.start-host or lxc.hook.post-stop', 2);
  if (!(HOOK_TYPES as readonly string[]).includes(type)) {
    throw new ContidError(`unsupported LXC hook type "${type}"; install contid as lxc.hook.start-host and lxc.hook.post-stop`, 2);
  }
  const name = env.LXC_NAME;
  if (!name) throw new ContidError('LXC_NAME is not set: "contid lxc hook" must be run by LXC', 2);
  validateContainerName(name);
  if (args[0] !== undefined && args[0] !== name) throw new ContidError(`hook arguments name "${args[0]}" but LXC_NAME is "${name}"`, 2);
  const rawPid = env.LXC_PID;
  let pid: number | null = null;
  if (rawPid !== undefined && rawPid !== '') {
    if (!/^[1-9][0-9]{0,9}$/.test(rawPid)) throw new ContidError(`LXC_PID must be a pid, got "${rawPid}"`, 2);
    pid = Number(rawPid);
  }
  if (type === 'start-host' && pid === null) throw new ContidError('LXC_PID is not set: the start-host hook needs the container init\'s pid', 2);
  return {
    type: type as HookType,
    name,
    pid,
    configFile: env.LXC_CONFIG_FILE || null,
    rootfs: env.LXC_ROOTFS_PATH || null,
    target: env.LXC_TARGET || null,
  };
}

export function runHook(tagger: Tagger, ctx: HookContext): HookOutcome {
  if (ctx.type === 'post-stop') {
    const outcome = postStop(tagger, ctx);
    if (outcome.action === 'ended') removeInstanceRecord(tagger.stateDir, ctx.name);
    return outcome;
  }
  const seen = initAsSeen(tagger.procRoot, ctx);
  const outcome = startHost(tagger, ctx, seen);
  // What contid-lxc attach checks the live init against before it skips the registry.
  if (seen.initStart !== null && !seen.exited) writeInstanceRecord(tagger.stateDir, ctx.name, { contid: outcome.container.contid, session: seen.initSession, initPid: ctx.pid!, initStart: seen.initStart });
  return outcome;
}

interface InitSeen {
  initSession: number;
  initStart: number | null;
  /** The spooled init has exited since the hook saw it (its pid is gone or names another process). */
  exited: boolean;
}

/**
 * The init's session and start time: as the spooled hook saw them, else read now. A spooled
 * init may have exited by the time contid serve binds the entry (serve was down or behind
 * while the container stopped): the caller records only what the hook saw, never reading a
 * process that reuses the pid.
 */
function initAsSeen(procRoot: string, ctx: HookContext): InitSeen {
  const pid = ctx.pid!;
  const running = existsSync(`${procRoot}/${pid}`);
  const start = running ? processStartTime(pid, procRoot) : null;
  // Gone, or a start time that is not the one seen (the pid was reused).
  if (ctx.seen) return { ...ctx.seen, exited: !running || (start !== null && start !== ctx.seen.initStart) };
  if (!running) throw new ContidError(`LXC_PID ${pid} is not a running process`);
  return { initSession: readSessionId(pid, procRoot), initStart: start, exited: false };
}

/** The container `contid lxc start` bound to this hook's session, if the session is its. */
function wrapperContainer(tagger: Tagger, name: string, session: number): ContainerRecord | undefined {
  if (session === AUDIT_UNSET) return undefined;
  const c = tagger.containers.containerOfSession(session);
  return c && c.orchestrator === ORCHESTRATOR && c.runtimeId === name ? c : undefined;
}

function labelsOf(ctx: HookContext): Record<string, string> {
  const labels: Record<string, string> = {};
  if (ctx.configFile) labels['lxc.config'] = ctx.configFile;
  if (ctx.rootfs) labels['lxc.rootfs'] = ctx.rootfs;
  return labels;
}

/**
 * start-host runs in the host's namespaces once the init exists, before it runs. The hook is
 * the monitor's child, so it shares the init's session: if `contid lxc start` bound that
 * session to this container, record the real init; on kernels with procfs contid, write the ID
 * to the init directly; otherwise the container was started without the wrapper and is
 * recorded as untagged, never silently attributed to whoever ran lxc-start.
 */
function startHost(tagger: Tagger, ctx: HookContext, seen: InitSeen): HookOutcome {
  const pid = ctx.pid!;
  const { procRoot } = tagger;
  const { initSession } = seen;
  const mine = wrapperContainer(tagger, ctx.name, initSession);
  if (seen.exited) {
    // The start contid lxc start bound, whose init ran in its session and has exited since: its
    // init as the hook saw it (op=update, namespaces unknown); its end follows in the spool.
    if (mine && mine.state === 'running' && seen.initStart !== null) {
      return { action: 'bound', container: tagger.recordInit(mine.contid, pid, labelsOf(ctx), seen.initStart) };
    }
    throw new ContidError(`LXC container "${ctx.name}"'s init (pid ${pid}) is gone: it exited before contid serve could record it`);
  }
  const enrichment = { initPid: pid, initStart: processStartTime(pid, procRoot), namespaces: readNamespaces(pid, procRoot), labels: labelsOf(ctx) };

  if (tagger.writePathFor(pid) === 'procfs') {
    // The kernel carries the ID itself; a wrapper's session is kept as a second binding.
    const tag = mine
      ? tagger.setns({ contid: mine.contid, target: { pid }, detail: { role: 'init' } })
      : tagger.create({ orchestrator: ORCHESTRATOR, name: ctx.name, runtimeId: ctx.name, target: { pid }, parent: 'auto', detail: { role: 'init' } });
    return { action: 'procfs', container: tagger.enrich(tag.container.contid, mine ? enrichment : { labels: enrichment.labels }) };
  }

  if (mine && mine.state === 'running') {
    // The create record named the wrapper (host namespaces); op=update names the real init.
    return { action: 'bound', container: tagger.recordInit(mine.contid, pid, enrichment.labels) };
  }

  const other = initSession === AUDIT_UNSET ? undefined : tagger.containers.containerOfSession(initSession);
  const why =
    initSession === AUDIT_UNSET
      ? 'its init has no audit session'
      : other
        ? `its init shares session ${initSession} of container ${formatContainerId(other.contid)} (${other.name}, ${other.state})`
        : `its init shares session ${initSession} with whoever ran lxc-start`;
  const { container } = tagger.recordUntagged({
    orchestrator: ORCHESTRATOR,
    name: ctx.name,
    runtimeId: ctx.name,
    labels: enrichment.labels,
    pid,
    detail: { reason: why },
  });
  const warning = `LXC container "${ctx.name}" was started without contid (${why}); recorded as untagged ${formatContainerId(container.contid)}. Start it with "contid lxc start ${ctx.name}"`;
  return { action: 'untagged', container, warning };
}

/**
 * post-stop: the container found by the hook's session (wrapper) or, for an untagged one, by
 * its name and init pid. A reboot (LXC_TARGET=reboot) keeps the monitor and its session, so
 * the same ID continues and the next start-host records the new init.
 */
function postStop(tagger: Tagger, ctx: HookContext): HookOutcome {
  const session = readSessionId('self', tagger.procRoot);
  let container = wrapperContainer(tagger, ctx.name, session);
  if (!container) {
    if (ctx.pid === null) throw new ContidError(`LXC_PID is not set and this hook's session ${session} is not bound to LXC container "${ctx.name}"`, 2);
    container = tagger.containers
      .list({ orchestrator: ORCHESTRATOR })
      .reverse()
      .find((c) => c.runtimeId === ctx.name && c.initPid === ctx.pid && c.state !== 'ended');
  }
  if (!container) throw new ContidError(`no running LXC container "${ctx.name}" with init pid ${ctx.pid} in the registry ${tagger.stateDir}`);
  if (ctx.target === 'reboot') return { action: 'kept', container };
  return { action: 'ended', container: tagger.end(container.contid, 'stopped') };
}
