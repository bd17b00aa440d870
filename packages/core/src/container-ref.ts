import { ContainerId, formatContainerId, parseContainerId } from './container-id';
import { ContidError } from './errors';

/**
 * One resolver for what a user types to name a container (`show`, `end`, `exec --setns`,
 * `search --container`, and the service's `show`), over whichever directory of containers the
 * caller has: the registry, or the containers a log's bindings describe.
 *
 * Names live in namespaces: a container's namespace is its parent (the host's is "no parent").
 * A container created through a nested channel is its parent's child, so a nested orchestrator
 * can only add names below itself and never shadow the host's: the shallowest namespace that
 * holds the name wins, and two namespaces at that depth are an error that lists both.
 * A ref of digits is a contid, never a runtime-id prefix — a child's runtime id
 * `<victim contid>0` must not answer for the victim — and never silently a name: when no
 * container has that contid but one is named so, that is an error naming it with its contid. A name that is also another container's
 * runtime-id prefix is ambiguous.
 */

export interface NamedContainer {
  contid: ContainerId;
  name: string;
  runtimeId: string | null;
  parent: ContainerId | null;
}

export interface ContainerDirectory<T extends NamedContainer> {
  byContid(contid: ContainerId): T | undefined;
  byName(name: string): T[];
  /** Containers whose runtime id starts with `prefix` (at least MIN_RUNTIME_PREFIX characters). */
  byRuntimePrefix(prefix: string): T[];
  /** What this directory is, for messages ("the registry", "the logs read"). */
  kind?: string;
}

export const MIN_RUNTIME_PREFIX = 4;
const MAX_DEPTH = 64;
const DIGITS = /^[0-9]{1,20}$/;
const HEX = /^[0-9a-f]+$/;

/** Nothing by that ref — or nothing the caller may see, which reads the same (no existence oracle). */
export class UnknownContainerError extends ContidError {
  override name = 'UnknownContainerError';
  constructor(ref: string) {
    super(`unknown container "${ref}"`);
  }
}

/** What matched: one container for a contid; for a name or runtime-id prefix, every match in the winning namespace. */
export interface Resolved<T> {
  by: 'contid' | 'name' | 'runtime-id';
  containers: T[];
}

function contidOf(ref: string): ContainerId | null {
  if (!DIGITS.test(ref)) return null;
  try {
    return parseContainerId(ref);
  } catch {
    return null;
  }
}

/** `c`'s ancestors, nearest first (bounded: a corrupt loop never hangs a lookup). */
function ancestors<T extends NamedContainer>(dir: ContainerDirectory<T>, c: T): ContainerId[] {
  const out: ContainerId[] = [];
  for (let p = c.parent; p !== null && out.length < MAX_DEPTH; p = dir.byContid(p)?.parent ?? null) out.push(p);
  return out;
}

/** "123 (web, in 456/789)": a candidate and the chain of parents it lives under. */
export function describeWithParents<T extends NamedContainer>(dir: ContainerDirectory<T>, c: T): string {
  const chain = ancestors(dir, c).map((p) => {
    const parent = dir.byContid(p);
    return parent ? `${parent.name}[${formatContainerId(p)}]` : formatContainerId(p);
  });
  return `${formatContainerId(c.contid)} (${c.name}, ${chain.length ? `in ${chain.join(' < ')}` : 'on the host'})`;
}

/** The candidates of the shallowest namespace; an error when two namespaces tie at that depth. */
function oneNamespace<T extends NamedContainer>(dir: ContainerDirectory<T>, ref: string, found: T[]): T[] {
  const depth = new Map(found.map((c) => [c, ancestors(dir, c).length]));
  const least = Math.min(...depth.values());
  const shallow = found.filter((c) => depth.get(c) === least);
  const parents = new Set(shallow.map((c) => c.parent));
  if (parents.size > 1) {
    throw new ContidError(`"${ref}" is ambiguous: ${shallow.map((c) => describeWithParents(dir, c)).join('; ')} — name one by its contid`);
  }
  return shallow;
}

/**
 * Resolves `ref` in `dir`, seeing only containers for which `visible` holds (a nested
 * caller's subtree). Throws a ContidError "unknown container" or "ambiguous".
 */
export function resolveContainerRef<T extends NamedContainer>(dir: ContainerDirectory<T>, ref: string, visible: (c: T) => boolean = () => true): Resolved<T> {
  const id = contidOf(ref);
  if (id !== null) {
    const c = dir.byContid(id);
    if (c && visible(c)) return { by: 'contid', containers: [c] };
  }
  const named = dir.byName(ref).filter(visible);
  if (id !== null && named.length) {
    // Digits are a contid first. With no container of that contid here (its binding rotated out
    // of the logs read, or a collector's window), a container NAMED with those digits — anyone
    // in group docker may name hers so — must not answer for it unasked (outside attack 10, N1).
    throw new ContidError(
      `no container with contid ${ref} in ${dir.kind ?? 'what was read'}; "${ref}" is also the name of ${named.map((c) => describeWithParents(dir, c)).join('; ')} — name that one by its contid`,
    );
  }
  const prefixed = (): T[] => (!DIGITS.test(ref) && ref.length >= MIN_RUNTIME_PREFIX ? dir.byRuntimePrefix(ref).filter(visible) : []);
  if (named.length) {
    // Anyone who may name a container (group docker) can name it after another's id prefix:
    // the same text then means two containers, and taking the name's would hand them over.
    // Only engine-made (hex) ids count: LXC's and systemd's runtime id is the name itself, so
    // "web2" is not a second meaning of "web".
    const others = HEX.test(ref) ? prefixed().filter((c) => !named.includes(c) && c.runtimeId !== c.name) : [];
    if (others.length) {
      const list = [...named.map((c) => `${describeWithParents(dir, c)} by name`), ...others.map((c) => `${describeWithParents(dir, c)} by runtime id`)];
      throw new ContidError(`"${ref}" is ambiguous: ${list.join('; ')} — name one by its contid`);
    }
    return { by: 'name', containers: oneNamespace(dir, ref, named) };
  }
  const byPrefix = prefixed();
  if (byPrefix.length) return { by: 'runtime-id', containers: oneNamespace(dir, ref, byPrefix) };
  throw new UnknownContainerError(ref);
}

/** True when `id` is `ancestor` or lies below it. */
export function isInSubtree<T extends NamedContainer>(dir: ContainerDirectory<T>, id: ContainerId, ancestor: ContainerId): boolean {
  if (id === ancestor) return true;
  const c = dir.byContid(id);
  return c !== undefined && ancestors(dir, c).includes(ancestor);
}
