import { searchLogs, selectedContainers, type AttributorOptions, type EventFilter, type SearchIndex, type SearchStats } from '@contid/audit';
import { ReportBuilder, type GroupReport, type ReportOptions } from './summary';

export interface ReportRunOptions extends ReportOptions {
  /** Log files in time order. */
  files: string[];
  filter: EventFilter;
  attribution?: AttributorOptions;
  timeoutMs?: number;
  fullScan?: boolean;
  index?: SearchIndex | null;
  onProgress?: (done: number, total: number) => void;
  onMatched?: () => void;
}

/**
 * A report over audit logs: `contid search`'s pipeline (bindings learned first, the index
 * or the session scan where a container filter allows, the same filters) feeding a
 * ReportBuilder, so a report counts exactly the events a search returns.
 */
export function runReport(options: ReportRunOptions): { groups: GroupReport[]; stats: SearchStats } {
  const builder = new ReportBuilder(options);
  const result = searchLogs({
    files: options.files,
    filter: options.filter,
    timeoutMs: options.timeoutMs,
    fullScan: options.fullScan,
    index: options.index,
    attribution: {
      ...options.attribution,
      // an entry outside the time window is not part of the report, like an event
      onTrustedBinding: (record, life) => {
        const { startMs, endMs } = options.filter;
        if ((startMs === undefined || record.timeMs >= startMs) && (endMs === undefined || record.timeMs < endMs)) builder.addBinding(record, life);
      },
    },
    onProgress: options.onProgress,
    onEvent: (event, chain) => {
      options.onMatched?.();
      builder.addEvent(event, chain);
    },
  });
  const { attributor, ...stats } = result;
  const contids = selectedContainers(attributor, options.filter);
  const selected = contids === null ? null : attributor.knownContainers().filter((c) => contids.has(String(c.contid)));
  const groups = builder.finish({ selected, chainOf: (c) => attributor.chain(c), containerOf: (id) => attributor.container(id) });
  return { groups, stats };
}
