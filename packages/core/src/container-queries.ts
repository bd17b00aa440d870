import type { Registry } from './registry';

/**
 * What an adapter may read of the registry: lookups only. Every write goes through the
 * Tagger's operations (create, setns, end, replaceStale, enrich, recordInit, recordUntagged),
 * each of which writes its signed binding record into the audit trail first. A Registry
 * opened read-only (`contid ps`, `show`, `search`) answers the same queries.
 */
export type ContainerQueries = Pick<Registry, 'get' | 'find' | 'resolve' | 'findByRuntimeId' | 'containerOfSession' | 'list' | 'children' | 'bindings'>;
