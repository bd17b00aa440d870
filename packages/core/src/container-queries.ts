import { AUDIT_UNSET } from './proc';
import type { ContainerRecord, Registry } from './registry';

/**
 * What an adapter may read of the registry: lookups only. Every write goes through the
 * Tagger's operations (create, setns, end, replaceStale, enrich, recordInit, recordUntagged),
 * each of which writes its signed binding record into the audit trail first. A Registry
 * opened read-only (`contid ps`, `show`, `search`) answers the same queries.
 */
export type ContainerQueries = Pick<Registry, 'get' | 'find' | 'resolve' | 'findByRuntimeId' | 'containerOfSession' | 'list' | 'children' | 'bindings' | 'folds' | 'foldedSessions'>;

/**
 * The sessions contid dedicated to a container (create and setns bindings, folded healthcheck
 * runs included). The kernel never hands a session number out twice in one boot, so a process
 * carrying one of them is that container's. An untagged row's session is someone else's (a
 * login), so it proves nothing.
 */
export function boundSessions(registry: Pick<ContainerQueries, 'bindings' | 'foldedSessions'>, c: ContainerRecord): number[] {
  const own = registry
    .bindings(c.contid)
    .filter((b) => b.op !== 'untagged' && b.session !== null && b.session !== AUDIT_UNSET)
    .map((b) => b.session!);
  return [...own, ...registry.foldedSessions(c.contid).filter((s) => s !== AUDIT_UNSET)];
}
