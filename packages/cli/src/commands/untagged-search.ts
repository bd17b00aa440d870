import { ContidError, formatContainerId, parseContainerId } from '@contid/core';
import { Attributor, EntryWitness, EventFilter, describeUntaggedEntry, fileBases, resolveContainerFilter, selectedContainers, selectedSessions } from '@contid/audit';

/**
 * `search --container X`: every entry into X that bypassed contid (a plain lxc-attach, a plain
 * lxc-start, recorded by contid's audit rules), one line each — its commands are in someone
 * else's session, so they are not among X's events, and an answer that left them out
 * silently would read as complete.
 */
export function untaggedEntryLines(witness: EntryWitness, attributor: Attributor, filter: EventFilter, files: string[]): string[] {
  if (filter.container === undefined) return [];
  const contids = selectedContainers(attributor, resolveContainerFilter(attributor, filter));
  if (contids === null || contids.size === 0) return [];
  return witness.untagged(attributor, fileBases(files), contids, { startMs: filter.startMs, endMs: filter.endMs }).map(describeUntaggedEntry);
}

/**
 * `search --container X` where X never had an audit session of its own (recorded op=untagged:
 * started without contid): no record can be attributed to it, and an empty answer with exit 0
 * would read as "X did nothing". One line saying why, exit 1. Kernels with procfs contid
 * attribute without sessions, so there an empty session list proves nothing.
 */
export function untaggedSearchError(attributor: Attributor, filter: EventFilter, procfsContid: boolean): ContidError | null {
  if (filter.container === undefined || procfsContid) return null;
  const resolved = resolveContainerFilter(attributor, filter);
  const contids = selectedContainers(attributor, resolved);
  if (contids === null || contids.size === 0 || (selectedSessions(attributor, resolved) ?? []).length > 0) return null;
  const names = [...contids].map((id) => {
    const contid = parseContainerId(id);
    const c = attributor.container(contid);
    return `${c?.name ?? '?'} (contid ${formatContainerId(contid)})`;
  });
  return new ContidError(
    `container "${filter.container}" is untagged: ${names.join(', ')} was found running without an audit session of its own (started without contid), so no audit record can be attributed to it; restart it through contid`,
    1,
  );
}
