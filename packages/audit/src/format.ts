import { ContidError } from '@contid/core/dist/errors';
import { formatContainerId } from '@contid/core/dist/container-id';
import { SPACE_LIKE_CLASS } from '@contid/core/dist/space-like';
import type { AttributedContainer } from './attributor';
import type { AuditEvent } from './reassembler';
import { AuditRecord, fieldValue } from './record';
import { eventField, eventSucceeded } from './filter';
import { AusearchInterpreter } from './interpret';
import { syscallName } from './libaudit';
import { bytesToText, escapeControls } from './safe-text';
import { NormalizedReport, csvHeader, type CsvExtras } from './normalized-report';
import { csvCell } from './csv-cell';
import { DOCUMENT_VERSION, jsonEventText, serialJson } from './json-event';

export { DOCUMENT_VERSION, containerJson } from './json-event';

import type { SearchFormat } from './search-formats';

export { SEARCH_FORMATS, type SearchFormat } from './search-formats';

/** What only some formats read. */
export interface FormatOptions {
  /** csv: ausearch's --extra-* columns, and contid's CONTAINER,CONTID,ORCHESTRATOR (`container`). */
  csv?: CsvExtras & { container?: boolean };
  /** csv: ausearch's stderr lines ("error normalizing TYPE", no newline), printed where ausearch prints them. */
  onNormalizeError?: (line: string) => void;
}

const pad = (n: number, w = 2): string => String(n).padStart(w, '0');

/** ausearch -i's local time when libauparse is missing: MM/DD/YYYY HH:MM:SS.mmm */
function localTime(ms: number): string {
  const d = new Date(ms);
  return `${pad(d.getMonth() + 1)}/${pad(d.getDate())}/${d.getFullYear()} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(ms % 1000, 3)}`;
}

/** Without libauparse: the enriched names, else the decoded values. */
function interpretRecordWithoutLibrary(rec: AuditRecord): string {
  const head = `${rec.node ? `node=${rec.node} ` : ''}type=${rec.type} msg=audit(${localTime(rec.timeMs)}:${rec.serialText}) :`;
  const show = (fields: Map<string, string>): string =>
    [...fields].map(([k, v]) => `${k}=${fieldValue(rec.enriched?.get(k.toUpperCase()), k) ?? fieldValue(v, k, rec.type)}`).join(' ');
  const body = rec.body !== null ? ` msg='${show(rec.msg)}'` : '';
  return escapeControls(`${head} ${show(rec.fields)}${body}`.replace(/\0/g, ' '));
}

/** Latin1 output lines as text: valid UTF-8, control characters escaped (the newlines kept). */
const lineTexts = (latin1: string): string => latin1.split('\n').map((line) => bytesToText(line, TEXT)).join('\n');

let interpreter: AusearchInterpreter | null | undefined;

/** interpretSeparator's line of each container object, with the values it was made from. */
const separators = new WeakMap<AttributedContainer, { name: string; contid: AttributedContainer['contid']; orchestrator: string; line: string }>();

/**
 * The `----` line before an event in --format interpret, with the container it was attributed
 * to. Made once per container (every event of it prints the same line, and the one string lets
 * the interpreting thread's batch find it by a hash already computed); made again if a value changed.
 */
export function interpretSeparator(chain: AttributedContainer[]): string {
  const c = chain[0];
  if (!c) return '----\n';
  const seen = separators.get(c);
  if (seen !== undefined && seen.name === c.name && seen.contid === c.contid && seen.orchestrator === c.orchestrator) return seen.line;
  const line = `---- container=${word(c.name)} contid=${formatContainerId(c.contid)} orchestrator=${word(c.orchestrator)}\n`;
  separators.set(c, { name: c.name, contid: c.contid, orchestrator: c.orchestrator, line });
  return line;
}

/** The records as `ausearch -i` prints them (libauparse), newline-terminated. */
export function interpretedRecords(event: AuditEvent): string {
  if (interpreter === undefined) interpreter = AusearchInterpreter.open();
  if (interpreter) return interpreter.event(event);
  return event.records.map(interpretRecordWithoutLibrary).join('\n') + '\n';
}

const reports = new Map<string, NormalizedReport>();

/** ausearch --format text|csv (libauparse's normalizer), newline-terminated; one feed state per format and options, as ausearch keeps one. */
function normalizedLines(format: 'text' | 'csv', event: AuditEvent, extras: CsvExtras, onError?: (line: string) => void): string {
  const key = `${format}:${extras.keys}:${extras.labels}:${extras.obj2}:${extras.time}`;
  let report = reports.get(key);
  if (!report) {
    const opened = NormalizedReport.open(format, extras);
    if (!opened) throw new ContidError(`--format ${format} needs libauparse (Debian package libauparse0)`, 1);
    reports.set(key, (report = opened));
  }
  const lines = report.event(event);
  for (const error of report.takeErrors()) onError?.(error);
  return lines;
}

/** The header row of --format csv with these options (ausearch prints it before the first event). */
export function csvHeaderRow(options: FormatOptions = {}): string {
  const header = csvHeader(options.csv);
  return options.csv?.container ? `${header.slice(0, -1)},CONTAINER,CONTID,ORCHESTRATOR\n` : header;
}

/**
 * The ASCII space and every character that prints as a space or as nothing (core's one list,
 * which escapeText escapes too): in a name they would print as a word break, or as nothing, so
 * a name could carry a second `contid=` that reads as contid's own (outside attack 10, F1/F2).
 * ASCII controls are escaped before (escapeControls).
 */
const SPACE_LIKE = new RegExp(`[ ${SPACE_LIKE_CLASS}]`, 'gu');
const octalBytes = (ch: string): string => [...Buffer.from(ch, 'utf8')].map((b) => `\\${b.toString(8).padStart(3, '0')}`).join('');

/**
 * A container's name or orchestrator as one word of contid's own line: controls, every
 * space-like character and '=' as \ooo, so the line holds one `contid=` whatever the name.
 */
const word = (s: string): string => escapeControls(s).replace(SPACE_LIKE, octalBytes).replace(/=/g, '\\075');

/** A container's words for a text line: as `word`, commas too. */
const textWord = (s: string): string => word(s).replace(/,/g, '\\054');

/**
 * contid's own words (`container=`, `contid=`, `orchestrator=`) inside ausearch's sentence,
 * which the log's text writes (a file name, an exe, a user name), get their '=' escaped
 * (\075) whatever comes before them: an exe named `/x container=db-prod contid=…` must not
 * make an unattributed line read as attributed, nor add a second attribution — also not with a
 * no-break space before the word, which prints as a space and which `grep contid=N` matches
 * all the same (outside attack 10, F1).
 */
const FORGED_ATTRIBUTION = /(container|contid|orchestrator)=/g;
const unforgeable = (line: string): string => line.replace(FORGED_ATTRIBUTION, '$1\\075');

const num = (v: string | undefined): number | undefined => (v !== undefined && /^\d+$/.test(v) ? Number(v) : undefined);

function firstAny(event: AuditEvent, name: string): string | undefined {
  for (const r of event.records) {
    const v = r.fields.get(name) ?? r.msg.get(name);
    if (v !== undefined) return fieldValue(v, name, r.type);
  }
  return undefined;
}

/** The syscall's name: the enriched SYSCALL= when the log has it, else libaudit's table for arch=. */
function syscallOf(rec: AuditRecord): string | undefined {
  const enriched = rec.enriched?.get('SYSCALL');
  if (enriched !== undefined) return fieldValue(enriched);
  const n = rec.fields.get('syscall');
  if (n === undefined) return undefined;
  return syscallName(`${rec.fields.get('arch') ?? ''}:${n}`) ?? n;
}

/**
 * Elastic Common Schema 8.x with the field names of Elastic's auditd module / Auditbeat
 * (auditd.message_type, auditd.sequence, auditd.result, auditd.session, auditd.data.*,
 * user.audit.*, user.effective.*, process.*, file.*, tags = rule keys): what a SIEM ingests as is.
 */
export function ecsDocument(event: AuditEvent, chain: AttributedContainer[]): Record<string, unknown> {
  const c = chain[0] ?? null;
  const syscall = event.records.find((r) => r.type === 'SYSCALL');
  const ok = eventSucceeded(event);
  const value = (name: string): string | undefined => firstAny(event, name);
  const named = (field: string): string | undefined => {
    for (const r of event.records) {
      // A second 0x1D means the sender's own text holds one: what follows it, and even
      // auditd's enriched part (it was misled too, measured), may be the sender's names.
      if (r.enrichedText?.includes('\x1d')) continue;
      const v = r.enriched?.get(field.toUpperCase());
      if (v !== undefined) return fieldValue(v);
    }
    return undefined;
  };
  const keys = event.records.flatMap((r) => {
    const k = r.fields.get('key');
    return k === undefined || k === '(null)' ? [] : (fieldValue(k, 'key') ?? '').split('\x01');
  });
  const execve = event.records.find((r) => r.type === 'EXECVE');
  const args = execve ? [...execve.fields].filter(([k]) => /^a\d+$/.test(k)).map(([k, v]) => fieldValue(v, k, 'EXECVE') ?? v) : undefined;
  const path = event.records.filter((r) => r.type === 'PATH').find((r) => r.fields.get('nametype') !== '"PARENT"' && r.fields.get('nametype') !== 'PARENT');
  const action = syscall ? syscallOf(syscall) ?? 'syscall' : event.records[0].type.toLowerCase();
  const idAndName = (field: string): { id: string; name?: string } | undefined => {
    const id = eventField(event, field);
    return id === undefined ? undefined : { id, name: named(field) };
  };
  return {
    '@timestamp': new Date(event.timeMs).toISOString(),
    ecs: { version: '8.11.0' },
    agent: { type: 'contid', version: String(DOCUMENT_VERSION) },
    event: {
      kind: 'event',
      module: 'auditd',
      dataset: 'auditd.log',
      action,
      outcome: ok === undefined ? 'unknown' : ok ? 'success' : 'failure',
      sequence: serialJson(event),
      category: execve ? ['process'] : undefined,
      type: execve ? ['start'] : ['info'],
    },
    container: c
      ? { id: formatContainerId(c.contid), name: c.name, runtime: c.orchestrator, image: c.image ? { name: c.image } : undefined, labels: c.labels && Object.keys(c.labels).length ? c.labels : undefined }
      : undefined,
    orchestrator: c ? { type: c.orchestrator, resource: c.runtimeId ? { id: c.runtimeId } : undefined } : undefined,
    process: {
      pid: num(eventField(event, 'pid')),
      parent: num(eventField(event, 'ppid')) !== undefined ? { pid: num(eventField(event, 'ppid')) } : undefined,
      executable: value('exe'),
      name: value('comm'),
      title: value('proctitle')?.replace(/\0/g, ' '),
      args,
      working_directory: value('cwd'),
    },
    user: {
      ...idAndName('uid'),
      audit: idAndName('auid'),
      effective: idAndName('euid'),
      saved: idAndName('suid'),
      filesystem: idAndName('fsuid'),
    },
    group: idAndName('gid'),
    file: path ? { path: fieldValue(path.fields.get('name'), 'name'), inode: path.fields.get('inode'), device: path.fields.get('dev'), mode: path.fields.get('mode') } : undefined,
    host: event.node ? { name: event.node } : undefined,
    tags: keys.length > 0 ? keys : undefined,
    auditd: {
      message_type: event.records[0].type.toLowerCase(),
      sequence: serialJson(event),
      result: ok === undefined ? undefined : ok ? 'success' : 'fail',
      session: eventField(event, 'ses'),
      data: syscall ? { syscall: action, arch: named('arch') ?? syscall.fields.get('arch'), exit: syscall.fields.get('exit'), tty: syscall.fields.get('tty') } : undefined,
      container_chain: chain.length > 1 ? chain.map((x) => formatContainerId(x.contid)) : undefined,
      records: event.records.map((r) => bytesToText(r.raw, PLAIN)),
    },
  };
}

const PLAIN = { escapeControls: false };
const TEXT = { escapeControls: true };

/**
 * One event as output text (valid UTF-8 once encoded), ending in a newline. JSON is
 * JSON.stringify's text (json-event.ts writes --format json's directly); text formats
 * escape control characters as ausearch does.
 * `chain`: container then its ancestors.
 */
export function formatAuditEvent(format: SearchFormat, event: AuditEvent, chain: AttributedContainer[], options: FormatOptions = {}): string {
  switch (format) {
    case 'raw':
      return event.records.map((r) => bytesToText(r.raw, TEXT)).join('\n') + '\n';
    case 'interpret':
      return `${interpretSeparator(chain)}${interpretedRecords(event)}`;
    case 'text': {
      // contid's addition to ausearch's sentence: the container it was attributed to
      const c = chain[0];
      const lines = unforgeable(lineTexts(normalizedLines('text', event, {})));
      return c ? lines.replace(/\n/g, ` container=${textWord(c.name)} contid=${formatContainerId(c.contid)} orchestrator=${textWord(c.orchestrator)}\n`) : lines;
    }
    case 'csv': {
      const c = chain[0];
      const rows = lineTexts(normalizedLines('csv', event, options.csv ?? {}, options.onNormalizeError));
      if (!options.csv?.container) return rows;
      return rows.replace(/\n/g, c ? `,${csvCell(escapeControls(c.name))},${formatContainerId(c.contid)},${csvCell(escapeControls(c.orchestrator))}\n` : ',,,\n');
    }
    case 'json':
      return jsonEventText(event, chain);
    case 'ecs':
      return JSON.stringify(ecsDocument(event, chain)) + '\n';
  }
}
