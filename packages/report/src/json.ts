import { containerJson } from '@contid/audit';
import type { GroupReport } from './summary';

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

/** The report as plain JSON-ready data: times in ISO-8601, containers as `contid search --json` shows them. */
export function reportJson(groups: GroupReport[]): unknown[] {
  const rows = <R extends { firstMs: number; lastMs: number; sample: number[] }>(list: R[]): Record<string, unknown>[] =>
    list.map(({ firstMs, lastMs, sample: _sample, ...rest }) => ({ ...rest, first: iso(firstMs), last: iso(lastMs) }));
  return groups.map((g) => ({
    by: g.identity.by,
    group: g.identity.label,
    container: containerJson(g.identity.chain[0] ?? null),
    parents: g.identity.chain.slice(1).map((c) => containerJson(c)),
    events: g.events,
    failed: g.failed,
    first: iso(g.firstMs),
    last: iso(g.lastMs),
    executables: rows(g.executables),
    files: rows(g.files),
    network: rows(g.network),
    failures: rows(g.failures),
    anomalies: rows(g.anomalies),
    entries: g.entries.map(({ timeMs, ...e }) => ({ ...e, time: iso(timeMs) })),
  }));
}
