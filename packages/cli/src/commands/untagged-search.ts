import { ContidError, formatContainerId, parseContainerId } from '@contid/core';
import { Attributor, EventFilter, resolveContainerFilter, selectedContainers, selectedSessions } from '@contid/audit';

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
