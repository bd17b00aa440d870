import { escapeText, formatContainerId } from '@contid/core';
import type { GroupReport, Row } from './summary';
import { userName } from './interpret-minimal';

export interface TextOptions {
  /** aureport -i: user ids as names. */
  interpret?: boolean;
  /** aureport --summary: only the totals of each group. */
  summaryOnly?: boolean;
}

const pad = (n: number, w = 2): string => String(n).padStart(w, '0');

/** aureport's local time: MM/DD/YYYY HH:MM:SS. */
export function reportTime(ms: number | null): string {
  if (ms === null) return '-';
  const d = new Date(ms);
  return `${pad(d.getMonth() + 1)}/${pad(d.getDate())}/${d.getFullYear()} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** One aureport-style table: title, ruler, header, ruler, rows (the last column unpadded). */
function table(title: string, headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]))).join('  ');
  const ruler = '='.repeat(Math.max(33, line(headers).length));
  return [title, ruler, line(headers), ruler, ...(rows.length > 0 ? rows.map(line) : ['<no events of interest were found>']), ''].join('\n');
}

/** A row's count, first and last time as table cells. */
export const when = (r: Row): string[] => [String(r.count), reportTime(r.firstMs), reportTime(r.lastMs)];

/** The report as text, one section per group; every string from the log is escaped. */
export function reportText(groups: GroupReport[], options: TextOptions = {}): string {
  const who = (ids: string[]): string => escapeText(ids.map((u) => (options.interpret ? userName(u) : u)).join(',') || '-');
  const out: string[] = [];
  for (const g of groups) {
    const id = g.identity;
    const title = `${id.by[0].toUpperCase()}${id.by.slice(1)} Report: ${escapeText(id.label)}`;
    out.push(title, '='.repeat(title.length));
    const c = id.chain[0];
    if (c) {
      out.push(`contid:         ${formatContainerId(c.contid)}`, `orchestrator:   ${escapeText(c.orchestrator)}`);
      if (c.runtimeId) out.push(`runtime id:     ${escapeText(c.runtimeId)}`);
      if (c.image) out.push(`image:          ${escapeText(c.image)}`);
      if (id.chain.length > 1) out.push(`parents:        ${id.chain.slice(1).map((p) => `${escapeText(p.name)} (${formatContainerId(p.contid)})`).join(' < ')}`);
    }
    out.push(
      `Range of time:  ${reportTime(g.firstMs)} - ${reportTime(g.lastMs)}`,
      `Number of events: ${g.events}`,
      `Number of failed events: ${g.failed}`,
      `Number of executables: ${g.executables.length}`,
      `Number of files written or changed: ${g.files.length}`,
      `Number of network calls: ${g.network.reduce((n, r) => n + r.count, 0)}`,
      `Number of failed syscalls: ${g.failures.reduce((n, r) => n + r.count, 0)}`,
      `Number of anomaly events: ${g.anomalies.reduce((n, r) => n + r.count, 0)}`,
      `Number of entries: ${g.entries.length}`,
      '',
    );
    if (options.summaryOnly) continue;
    out.push(
      table('Executable Summary Report', ['total', 'first', 'last', 'execs', 'auid', 'uid', 'file'], g.executables.map((r) => [...when(r), String(r.execs), who(r.auids), who(r.uids), escapeText(r.exe)])),
      table('File Written or Changed Summary Report', ['total', 'failed', 'first', 'last', 'syscalls', 'file'], g.files.map((r) => [String(r.count), String(r.failed), reportTime(r.firstMs), reportTime(r.lastMs), escapeText(r.syscalls.join(',')), escapeText(r.path)])),
      table('Network Summary Report', ['total', 'failed', 'first', 'last', 'syscall', 'address'], g.network.map((r) => [String(r.count), String(r.failed), reportTime(r.firstMs), reportTime(r.lastMs), escapeText(r.call), escapeText(r.address)])),
      table('Failed Syscall Summary Report', ['total', 'first', 'last', 'syscalls', 'errno'], g.failures.map((r) => [...when(r), escapeText(r.syscalls.join(',')), escapeText(r.errno)])),
      table('Anomaly Summary Report', ['total', 'first', 'last', 'type'], g.anomalies.map((r) => [...when(r), escapeText(r.type)])),
      table('Entry Report', ['time', 'op', 'auid', 'pid', 'session', 'container'], g.entries.map((e) => [reportTime(e.timeMs), escapeText(e.op), who(e.auid === null ? [] : [e.auid]), String(e.pid ?? '-'), String(e.session ?? '-'), `${escapeText(e.name)} (${e.contid})`])),
    );
  }
  return out.join('\n');
}
