import { escapeText, formatContainerId } from '@contid/core';
import type { GroupReport, Row } from './summary';
import { KINDS, timelineData } from './timeline-data';
import { pageScript } from './page-script';
import { reportTime, when } from './text';
import { userName } from './interpret-minimal';

const COLORS: Readonly<Record<(typeof KINDS)[number], string>> = {
  exec: '#1f77b4',
  file: '#2ca02c',
  network: '#9467bd',
  failed: '#d62728',
  anomaly: '#ff7f0e',
  other: '#7f7f7f',
};

/** Text for HTML element content and attribute values: every caller-controlled string goes through it. */
export function escapeHtml(s: string): string {
  // control bytes escaped as in the text report first: the page may be read with cat too
  return escapeText(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** JSON inside <script type="application/json">: no `</script>` or `<!--` can end it early. */
function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

const CSS = `
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}
h1{font-size:1.4em;margin:0 0 .3em} h2{font-size:1.1em;margin:1.4em 0 .4em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;font-size:13px} td,th{padding:2px 8px;text-align:left;border-bottom:1px solid #eee}
th{background:#f4f4f4} td.n{text-align:right} .id td:first-child{color:#666;padding-right:1.5em}
#timeline-wrap{overflow:auto;max-height:560px;border:1px solid #ccc} canvas{display:block;cursor:crosshair}
.legend span{display:inline-block;margin-right:1em} .legend i{display:inline-block;width:10px;height:10px;margin-right:4px}
pre{background:#f8f8f8;padding:6px;margin:2px 0;white-space:pre-wrap;word-break:break-all;font-size:12px}
#details{max-height:420px;overflow:auto;border:1px solid #ddd;padding:4px}
table{max-width:100%}
.fail{color:#d62728} button{margin-right:4px}
`;

function rowsTable(title: string, headers: string[], rows: { cells: string[]; row: Row }[], tableId: string): string {
  const head = `<tr>${headers.map((h) => `<th>${escapeHtml(h)}</th>`).join('')}<th>records</th></tr>`;
  const body = rows
    .map(({ cells, row }, i) => {
      const link = `<a class="records" href="#details" id="${tableId}-${i}" data-title="${escapeHtml(`${title}: ${cells[cells.length - 1]}`)}" data-events="${row.sample.join(',')}">${row.sample.length < row.count ? `first ${row.sample.length}` : 'all'}</a>`;
      return `<tr>${cells.map((c, k) => `<td${k === 0 ? ' class="n"' : ''}>${escapeHtml(c)}</td>`).join('')}<td>${link}</td></tr>`;
    })
    .join('');
  return `<h2>${escapeHtml(title)} (${rows.length})</h2><table id="${tableId}">${head}${body || `<tr><td colspan="${headers.length + 1}">none</td></tr>`}</table>`;
}

/** One self-contained page for one group (a container): no network, no external script or font. */
export function reportHtml(g: GroupReport, options: { interpret?: boolean } = {}): string {
  const who = (ids: string[]): string => ids.map((u) => (options.interpret ? userName(u) : u)).join(',') || '-';
  const id = g.identity;
  const c = id.chain[0];
  const identity: [string, string][] = [[id.by, id.label]];
  if (c) {
    identity.push(['contid', formatContainerId(c.contid)], ['orchestrator', c.orchestrator]);
    if (c.runtimeId) identity.push(['runtime id', c.runtimeId]);
    if (c.image) identity.push(['image', c.image]);
    identity.push(['parent chain', id.chain.length > 1 ? id.chain.slice(1).map((p) => `${p.name} (${formatContainerId(p.contid)})`).join(' < ') : '(none: a top-level container)']);
  }
  identity.push(
    ['time range', `${reportTime(g.firstMs)} - ${reportTime(g.lastMs)}`],
    ['events', String(g.events)],
    ['failed events', String(g.failed)],
    ['entries', String(g.entries.length)],
  );
  const data = {
    timeline: timelineData(g.timeline),
    raw: g.timeline.map((e) => e.raw),
    kinds: KINDS,
    colors: KINDS.map((k) => COLORS[k]),
    omittedHint: `raw records not embedded (the page keeps the first ${g.timeline.length - g.rawOmitted}); contid search --container ${c ? formatContainerId(c.contid) : id.label} prints them`,
  };
  const legend = KINDS.map((k) => `<span><i style="background:${COLORS[k]}"></i>${k}</span>`).join('');
  const entryRows = g.entries
    .map((e) => `<tr><td>${escapeHtml(reportTime(e.timeMs))}</td><td>${escapeHtml(e.op)}</td><td>${escapeHtml(who(e.auid === null ? [] : [e.auid]))}</td><td>${e.pid ?? '-'}</td><td>${e.session ?? '-'}</td><td><pre>${escapeHtml(e.raw)}</pre></td></tr>`)
    .join('');
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:">
<title>contid report: ${escapeHtml(id.label)}</title><style>${CSS}</style></head>
<body>
<h1>contid report: ${escapeHtml(id.label)}</h1>
<table class="id">${identity.map(([k, v]) => `<tr><td>${escapeHtml(k)}</td><td>${escapeHtml(v)}</td></tr>`).join('')}</table>
<h2>Timeline <span id="timeline-count"></span></h2>
<div><button id="zoom-in" type="button">zoom in</button><button id="zoom-out" type="button">zoom out</button><button id="zoom-reset" type="button">whole range</button>
<span class="legend">${legend}</span> (wheel zooms, drag pans, click an event for its records; lanes are processes in process-tree order)</div>
<div id="timeline-wrap"><canvas id="timeline"></canvas></div>
<h2>Records</h2><div id="details" data-shown="0">Click an event on the timeline or a row's link.</div>
${rowsTable('Executables', ['total', 'first', 'last', 'execs', 'auid', 'uid', 'file'], g.executables.map((r) => ({ cells: [...when(r), String(r.execs), who(r.auids), who(r.uids), r.exe], row: r })), 'executables')}
${rowsTable('Files written or changed', ['total', 'failed', 'first', 'last', 'syscalls', 'file'], g.files.map((r) => ({ cells: [String(r.count), String(r.failed), reportTime(r.firstMs), reportTime(r.lastMs), r.syscalls.join(','), r.path], row: r })), 'files')}
${rowsTable('Network', ['total', 'failed', 'first', 'last', 'syscall', 'address'], g.network.map((r) => ({ cells: [String(r.count), String(r.failed), reportTime(r.firstMs), reportTime(r.lastMs), r.call, r.address], row: r })), 'network')}
${rowsTable('Failed syscalls', ['total', 'first', 'last', 'syscalls', 'errno'], g.failures.map((r) => ({ cells: [...when(r), r.syscalls.join(','), r.errno], row: r })), 'failures')}
${rowsTable('Anomalies', ['total', 'first', 'last', 'type'], g.anomalies.map((r) => ({ cells: [...when(r), r.type], row: r })), 'anomalies')}
<h2>Entries (${g.entries.length})</h2><table id="entries"><tr><th>time</th><th>op</th><th>auid</th><th>pid</th><th>session</th><th>record</th></tr>${entryRows || '<tr><td colspan="6">none</td></tr>'}</table>
<script type="application/json" id="report-data">${scriptJson(data)}</script>
<script>(${pageScript.toString()})();</script>
</body></html>
`;
}
