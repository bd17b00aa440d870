import { ContainerId, formatContainerId, parseContainerId } from '@contid/core/dist/container-id';
import type { CheckedBinding } from './binding';

/** What a search selects containers by: the bindings that can matter follow from it. */
export interface BindingQuery {
  /** What `--container` names: a contid, a name or a runtime-id prefix. */
  ref?: string;
  /** Contids (formatContainerId) selected directly. */
  contids?: ReadonlySet<string>;
  orchestrator?: string;
  /** Descendants of the selected containers count too. */
  includeNested?: boolean;
  /** Sessions whose binding the answer reads besides the selected containers' (entries into them). */
  sessions?: ReadonlyArray<{ node: string | null; session: number }>;
  /** Lifecycle ops whose every binding is read (op=untagged and op=update name a container's init). */
  ops?: ReadonlySet<string>;
}

/** A binding as it claims to be, before its signature is verified. */
export interface ClaimedBinding {
  node: string | null;
  binding: CheckedBinding;
}

/**
 * The bindings (indexes into `claims`) that can change the answer to `query`, found from what
 * each binding claims, unverified, and never fewer than that: a binding is taken when it
 * claims a selected container (its contid, name, runtime id or orchestrator) and, from there,
 * every binding that claims one of the contids, parents or (node, session) pairs taken so far
 * (sender sessions too: the nesting check looks them up) and, on a node whose bindings claim
 * more than one boot, all of that node's (boot boundaries are learned from verified bindings
 * in order). A binding left out can neither name a selected container, nor bind its
 * sessions, nor decide a check of one that is taken. (A replayed binding needs no rule of its
 * own: a signature that verifies is over the same payload, so the same contid, so taken.)
 */
export function relevantBindings(claims: ClaimedBinding[], query: BindingQuery): Set<number> {
  const byContid = new Map<string, number[]>();
  const byParent = new Map<string, number[]>();
  const bySession = new Map<string, number[]>();
  const boots = new Map<string, Set<string>>();
  const add = (m: Map<string, number[]>, k: string, i: number): void => {
    const list = m.get(k);
    if (list) list.push(i);
    else m.set(k, [i]);
  };
  const sessionKey = (node: string | null, session: number): string => `${node ?? ''} ${session}`;
  claims.forEach(({ node, binding: { life, provenance } }, i) => {
    if (life.contid !== null) add(byContid, formatContainerId(life.contid), i);
    if (life.parent !== null) add(byParent, formatContainerId(life.parent), i);
    if (life.session !== null) add(bySession, sessionKey(node, life.session), i);
    const b = boots.get(node ?? '') ?? new Set<string>();
    b.add(provenance?.boot ?? '');
    boots.set(node ?? '', b);
  });

  const taken = new Set<number>();
  const work: number[] = [];
  const take = (i: number): void => {
    if (!taken.has(i)) {
      taken.add(i);
      work.push(i);
    }
  };
  const seen = new Set<string>();
  const follow = (m: Map<string, number[]>, k: string): void => {
    const tag = `${m === byContid ? 'c' : m === byParent ? 'p' : 's'}:${k}`;
    if (seen.has(tag)) return;
    seen.add(tag);
    for (const i of m.get(k) ?? []) take(i);
  };

  const refId = contidOfRef(query.ref);
  claims.forEach(({ node, binding: { life } }, i) => {
    if ((boots.get(node ?? '')?.size ?? 0) > 1 || claimsSelected(life, query, refId) || query.ops?.has(life.op)) take(i);
  });
  for (const s of query.sessions ?? []) follow(bySession, sessionKey(s.node, s.session));
  for (let i = work.pop(); i !== undefined; i = work.pop()) {
    const { node, binding } = claims[i];
    const { life } = binding;
    if (life.contid !== null) {
      follow(byContid, formatContainerId(life.contid));
      if (query.includeNested) follow(byParent, formatContainerId(life.contid));
    }
    if (life.parent !== null) follow(byContid, formatContainerId(life.parent));
    if (life.session !== null) follow(bySession, sessionKey(node, life.session));
    // the nesting check looks up the sender's session
    if (binding.senderSession !== null) follow(bySession, sessionKey(node, binding.senderSession));
  }
  return taken;
}

function claimsSelected(life: CheckedBinding['life'], q: BindingQuery, refId: ContainerId | null): boolean {
  if (life.contid !== null && q.contids?.has(formatContainerId(life.contid))) return true;
  if (q.orchestrator !== undefined && life.orchestrator === q.orchestrator) return true;
  const ref = q.ref;
  if (ref === undefined) return false;
  return life.name === ref || (refId !== null && life.contid === refId) || (life.runtimeId?.startsWith(ref) ?? false);
}

/** A ref of digits read as a contid (the resolver's reading), else null. */
function contidOfRef(ref: string | undefined): ContainerId | null {
  if (ref === undefined || !/^[0-9]{1,20}$/.test(ref)) return null;
  try {
    return parseContainerId(ref);
  } catch {
    return null;
  }
}
