/**
 * @contid/report: aureport's summaries per container (or pod, orchestrator, node) over the
 * events `contid search` attributes — executables, files written, network calls, failed
 * syscalls by errno, anomalies, entries — as text, JSON or one self-contained HTML page.
 */
export { runReport, type ReportRunOptions } from './run';
export { ReportBuilder, GROUP_BYS, type GroupBy, type GroupReport, type ReportOptions, type ReportAttribution, type Row, type ExeRow, type FileRow, type NetworkRow, type ErrnoRow, type AnomalyRow, type Entry, type EventItem } from './summary';
export { eventFacts, type EventFacts } from './facts';
export { reportText, reportTime, type TextOptions } from './text';
export { reportJson } from './json';
export { reportHtml, escapeHtml } from './html';
export { timelineData, type TimelineData } from './timeline-data';
export { sockaddrText, errnoName } from './interpret-minimal';
