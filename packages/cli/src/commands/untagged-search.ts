import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ContidError } from '@contid/core/dist/errors';
import type { Registry } from '@contid/core/dist/registry';
import { configFromEnv } from '@contid/core/dist/config';
import { formatContainerId, parseContainerId } from '@contid/core/dist/container-id';
import type { Attributor } from '@contid/audit/dist/attributor';
import type { EntryWitness, RootNamer, UntaggedEntry } from '@contid/audit/dist/entries';
import type { EventFilter } from '@contid/audit/dist/filter';
import { fileBases, resolveContainerFilter, selectedContainers, selectedSessions } from '@contid/audit/dist/search';

/**
 * Entries that bypassed contid (a plain lxc-attach, a plain lxc-start, recorded by contid's
 * audit rules): with `--container X`, those into X — its commands are in someone else's
 * session, so they are not among X's events, and an answer that left them out silently would
 * read as complete; with `all` (`search --untagged`), those into every LXC container, known
 * to contid or not. A root no binding names is named from the host's LXC containers as they
 * are now (packages/lxc root-namer.ts).
 */
export function untaggedEntries(witness: EntryWitness, attributor: Attributor, filter: EventFilter, files: string[], all = false): UntaggedEntry[] {
  let selected: ReadonlySet<string> | null = null;
  if (filter.container !== undefined) {
    const contids = selectedContainers(attributor, resolveContainerFilter(attributor, filter));
    if (contids === null || contids.size === 0) return [];
    selected = contids;
  } else if (!all) return [];
  const config = configFromEnv();
  // the registry and the LXC package are opened only when a root needs a name: most searches
  // see no entry at all, and a search's start-up should not pay for them
  const opened: { registry: Registry | null; namer?: RootNamer } = { registry: null };
  const rootNamer: RootNamer = (root) => {
    if (opened.namer === undefined) {
      opened.registry = openQuietly(config.stateDir);
      opened.namer = (require('@contid/lxc') as typeof import('@contid/lxc')).lxcRootNamer(opened.registry);
    }
    return opened.namer(root);
  };
  try {
    return witness.untagged(attributor, fileBases(files), selected, { startMs: filter.startMs, endMs: filter.endMs }, { rootNamer, localNode: config.nodeName });
  } finally {
    opened.registry?.close();
  }
}

/** The registry, read-only, only to tell which named container contid knows; null when it cannot be read. */
function openQuietly(stateDir: string): Registry | null {
  if (!existsSync(join(stateDir, 'registry.db'))) return null;
  try {
    // required here: most searches have no registry, and its module brings the migrations and the allocator
    return (require('@contid/core/dist/registry') as typeof import('@contid/core/dist/registry')).Registry.open(stateDir, { readonly: true });
  } catch {
    return null;
  }
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
