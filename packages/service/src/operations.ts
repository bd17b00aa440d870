import {
  AUDIT_UNSET,
  BindTarget,
  ContainerId,
  ContainerRecord,
  ContidError,
  ParentSpec,
  Tagger,
  TagResult,
  formatContainerId,
  parseContainerId,
  readNamespaces,
  readSessionId,
} from '@contid/core';
import { Caller, describeCaller, isHostOrchestrator } from './caller';
import { CreateRequest, EndRequest, Request, SetnsRequest, ShowRequest, WireParent, WireTarget } from './protocol';

/**
 * Where a request came in. The host channel serves host orchestrators; a nested channel is
 * bind-mounted into one container, so whatever arrives on it speaks for that container only.
 */
export type Channel = { kind: 'host' } | { kind: 'nested'; owner: ContainerId };

/** The caller may not do this: the reply says so and nothing changes. */
export class DeniedError extends ContidError {
  override name = 'DeniedError';
}

const MAX_NESTING = 64;

/** True when `id` is `ancestor` itself (orSelf) or lies below it in the parent chain. */
export function isWithin(tagger: Tagger, id: ContainerId, ancestor: ContainerId, orSelf: boolean): boolean {
  let current = orSelf ? id : tagger.containers.get(id)?.parent ?? null;
  for (let depth = 0; current !== null && depth < MAX_NESTING; depth++) {
    if (current === ancestor) return true;
    current = tagger.containers.get(current)?.parent ?? null;
  }
  return false;
}

/** A nested channel's caller must really be inside its container: by pid namespace or by session. */
function checkInsideOwner(tagger: Tagger, owner: ContainerId, caller: Caller): void {
  const bound = tagger.containers.containerOfSession(caller.session);
  if (bound && isWithin(tagger, bound.contid, owner, true)) return;
  // A pid namespace identifies a container only when it is not the host's (contid exec and
  // --pid=host containers share it with every host process).
  const hostPidNs = readNamespaces('self', tagger.procRoot).pid;
  const subtree = [tagger.containers.get(owner), ...descendants(tagger, owner)].filter((c): c is ContainerRecord => c !== undefined);
  if (caller.pidNamespace !== null && caller.pidNamespace !== hostPidNs && subtree.some((c) => c.namespaces.pid === caller.pidNamespace)) return;
  throw new DeniedError(`${describeCaller(caller)} is not inside container ${formatContainerId(owner)}, which owns this channel`);
}

function descendants(tagger: Tagger, id: ContainerId): ContainerRecord[] {
  const out: ContainerRecord[] = [];
  const queue = [id];
  while (queue.length && out.length < 10_000) {
    for (const child of tagger.containers.children(queue.shift()!)) {
      out.push(child);
      queue.push(child.contid);
    }
  }
  return out;
}

/** Refuses the request unless this caller on this channel may make it. */
export function authorize(tagger: Tagger, channel: Channel, caller: Caller, request: Request): void {
  if (channel.kind === 'host') {
    if (!isHostOrchestrator(caller)) {
      throw new DeniedError(`the host channel needs uid 0 with CAP_AUDIT_CONTROL and CAP_AUDIT_WRITE; ${describeCaller(caller)} lacks them`);
    }
    return;
  }
  checkInsideOwner(tagger, channel.owner, caller);
  const owner = formatContainerId(channel.owner);
  switch (request.op) {
    case 'channel':
      throw new DeniedError('a nested channel cannot open channels');
    case 'create':
      if (request.target !== 'peer') throw new DeniedError('on a nested channel only the caller itself can be tagged (target "peer")');
      if (typeof request.parent === 'string' && !isWithin(tagger, parseContainerId(request.parent), channel.owner, true)) {
        throw new DeniedError(`parent ${request.parent} is outside container ${owner}, which owns this channel`);
      }
      return;
    case 'setns':
    case 'end':
      if (request.op === 'setns' && request.target !== 'peer') {
        throw new DeniedError('on a nested channel only the caller itself can enter a container (target "peer")');
      }
      if (!isWithin(tagger, parseContainerId(request.contid), channel.owner, false)) {
        throw new DeniedError(`container ${request.contid} is not a descendant of container ${owner}, which owns this channel`);
      }
      return;
    case 'show':
      // Resolved within the channel's subtree (see show()): nothing to refuse up front.
      return;
  }
}

/**
 * The bind target. 'peer' is the caller itself, which must have renewed its own session
 * (only a process can): a session the registry already binds, the unset one, or the
 * service's own would tag someone else too.
 */
function resolveTarget(tagger: Tagger, caller: Caller, target: WireTarget): BindTarget {
  const procRoot = tagger.procRoot;
  if (target === 'peer') {
    const session = caller.session;
    if (session === AUDIT_UNSET) throw new DeniedError('the caller has the unset audit session: renew it first (write /proc/self/loginuid)');
    if (session === readSessionId('self', procRoot)) throw new DeniedError(`the caller shares the service's audit session ${session}: renew it first`);
    const bound = tagger.containers.containerOfSession(session);
    if (bound) {
      throw new DeniedError(
        `the caller's audit session ${session} is already bound to container ${formatContainerId(bound.contid)} (${bound.name}): renew it first (write /proc/self/loginuid; needs CAP_AUDIT_CONTROL)`,
      );
    }
    return { pid: caller.pid, session };
  }
  if (target.session !== undefined) {
    if (target.session === AUDIT_UNSET || target.session === readSessionId('self', procRoot)) {
      throw new DeniedError(`session ${target.session} is the unset one or the service's own: binding it would tag the host`);
    }
    // A hand-off may outlive the process; while it lives, its session must be the one claimed.
    let live: number | undefined;
    try {
      live = readSessionId(target.pid, procRoot);
    } catch {
      live = undefined;
    }
    if (live !== undefined && live !== target.session) {
      throw new DeniedError(`pid ${target.pid} has audit session ${live}, not the claimed ${target.session}`);
    }
  }
  return target;
}

function resolveParent(tagger: Tagger, channel: Channel, caller: Caller, parent: WireParent | undefined, target: BindTarget): ParentSpec {
  if (channel.kind === 'nested') return typeof parent === 'string' ? parseContainerId(parent) : channel.owner;
  if (parent === undefined || parent === 'auto') {
    // 'auto' must mean the target's container, never the service's own session (the core's default).
    const pid = target.pid === 'self' ? caller.pid : target.pid;
    try {
      return { session: readSessionId(pid, tagger.procRoot) };
    } catch {
      return null;
    }
  }
  if (parent === null) return null;
  if (typeof parent === 'string') return parseContainerId(parent);
  return parent;
}

function tagged(r: TagResult): Record<string, unknown> {
  return {
    contid: formatContainerId(r.container.contid),
    name: r.container.name,
    parent: r.container.parent === null ? null : formatContainerId(r.container.parent),
    pid: r.binding.pid,
    session: r.binding.session,
    auditError: r.auditError,
  };
}

export function containerJson(c: ContainerRecord): Record<string, unknown> {
  return JSON.parse(JSON.stringify(c, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))) as Record<string, unknown>;
}

function create(tagger: Tagger, channel: Channel, caller: Caller, r: CreateRequest): Record<string, unknown> {
  const target = resolveTarget(tagger, caller, r.target);
  return tagged(
    tagger.create({
      orchestrator: r.orchestrator,
      name: r.name,
      runtimeId: r.runtimeId ?? null,
      image: r.image ?? null,
      labels: r.labels,
      parent: resolveParent(tagger, channel, caller, r.parent, target),
      target,
      detail: { ...(r.detail ?? {}), via: { channel: channel.kind, pid: caller.pid, uid: caller.uid } },
    }),
  );
}

function setns(tagger: Tagger, channel: Channel, caller: Caller, r: SetnsRequest): Record<string, unknown> {
  const target = resolveTarget(tagger, caller, r.target);
  return tagged(
    tagger.setns({
      contid: parseContainerId(r.contid),
      target,
      detail: { ...(r.detail ?? {}), via: { channel: channel.kind, pid: caller.pid, uid: caller.uid } },
    }),
  );
}

function end(tagger: Tagger, r: EndRequest): Record<string, unknown> {
  return containerJson(tagger.end(parseContainerId(r.contid), r.reason));
}

/**
 * A nested caller resolves names among its own subtree only: whatever lies outside reads as
 * "unknown container", exactly like a container that never existed (no existence oracle), and
 * the host's names are not its to see.
 */
function show(tagger: Tagger, channel: Channel, r: ShowRequest): Record<string, unknown> {
  return containerJson(tagger.containers.resolve(r.ref, channel.kind === 'nested' ? channel.owner : undefined));
}

/** Carries out an authorized request (all but 'channel', which the service itself handles). */
export function perform(tagger: Tagger, channel: Channel, caller: Caller, request: Exclude<Request, { op: 'channel' }>): Record<string, unknown> {
  const result = ((): Record<string, unknown> => {
    switch (request.op) {
      case 'create':
        return create(tagger, channel, caller, request);
      case 'setns':
        return setns(tagger, channel, caller, request);
      case 'end':
        return end(tagger, request);
      case 'show':
        return show(tagger, channel, request);
    }
  })();
  return channel.kind === 'nested' ? withoutHostPids(result) : result;
}

/** Host pids mean nothing inside a container's pid namespace and only tell it about the host. */
function withoutHostPids(result: Record<string, unknown>): Record<string, unknown> {
  const { pid: _pid, initPid: _initPid, ...rest } = result;
  return rest;
}
