import type { SearchStats } from '@contid/audit/dist/search';
import { SCAN_MAX_OPEN } from '@contid/audit/dist/session-scan';

/**
 * What a bounded window of the search could not read, as stderr lines (none when nothing):
 * audit records are never dropped silently (see docs/search.md, test/search/windows.test.ts).
 */
export function windowLossLines(stats: Pick<SearchStats, 'eventsCut' | 'recordsAfterCut'>): string[] {
  const out: string[] = [];
  if (stats.eventsCut > 0) out.push(`${stats.eventsCut} record(s) not read with their event by the session scan: more than ${SCAN_MAX_OPEN.toLocaleString('en-US')} events were open at once, so their event was completed before them and they were read as events of their own (a filter may not match them)`);
  if (stats.recordsAfterCut > 0) out.push(`${stats.recordsAfterCut} record(s) not read with their event: more than 10,000 events were open at once, so their event was completed before them and they were read as events of their own (a filter may not match them)`);
  return out;
}
