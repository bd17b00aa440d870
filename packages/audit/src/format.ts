import { formatContainerId } from '@contid/core';
import type { AttributedContainer } from './attributor';
import type { AuditEvent } from './reassembler';
import { AuditRecord, fieldValue } from './record';
import { eventField, eventSucceeded } from './filter';

export type SearchFormat = 'raw' | 'interpret' | 'json' | 'ecs';
export const SEARCH_FORMATS: readonly SearchFormat[] = ['raw', 'interpret', 'json', 'ecs'];

const pad = (n: number, w = 2): string => String(n).padStart(w, '0');

/** ausearch -i's local time: MM/DD/YYYY HH:MM:SS.mmm */
function localTime(ms: number): string {
  const d = new Date(ms);
  return `${pad(d.getMonth() + 1)}/${pad(d.getDate())}/${d.getFullYear()} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(ms % 1000, 3)}`;
}

/** Hex values (proctitle, argv, paths with spaces) decoded; NULs become spaces. */
function readable(raw: string, name: string, type: string): string {
  const v = fieldValue(raw, name, type) ?? raw;
  return v.replace(/\0/g, ' ');
}

function interpretRecord(rec: AuditRecord): string {
  const head = `${rec.node ? `node=${rec.node} ` : ''}type=${rec.type} msg=audit(${localTime(rec.timeMs)}:${rec.serial}) :`;
  const show = (fields: Map<string, string>): string =>
    [...fields].map(([k, v]) => `${k}=${rec.enriched?.get(k.toUpperCase())?.replace(/^"(.*)"$/, '$1') ?? readable(v, k, rec.type)}`).join(' ');
  const body = rec.body !== null ? ` msg='${show(rec.msg)}'` : '';
  return `${head} ${show(rec.fields)}${body}`;
}

export function containerJson(c: AttributedContainer | null): Record<string, string | null> | null {
  if (!c) return null;
  return {
    contid: formatContainerId(c.contid),
    name: c.name,
    orchestrator: c.orchestrator,
    runtimeId: c.runtimeId,
    parent: c.parent === null ? null : formatContainerId(c.parent),
    image: c.image,
  };
}

const decodedObject = (m: Map<string, string>, type: string): Record<string, string> =>
  Object.fromEntries([...m].map(([k, v]) => [k, fieldValue(v, k, type) ?? v]));
const num = (v: string | undefined): number | undefined => (v !== undefined && /^\d+$/.test(v) ? Number(v) : undefined);

function firstAny(event: AuditEvent, name: string): string | undefined {
  for (const r of event.records) {
    const v = r.fields.get(name) ?? r.msg.get(name);
    if (v !== undefined) return fieldValue(v, name, r.type);
  }
  return undefined;
}

/** Elastic Common Schema 8.x: what a SIEM ingests as is. */
export function ecsDocument(event: AuditEvent, chain: AttributedContainer[]): Record<string, unknown> {
  const c = chain[0] ?? null;
  const syscall = event.records.find((r) => r.type === 'SYSCALL');
  const ok = eventSucceeded(event);
  const title = firstAny(event, 'proctitle')?.replace(/\0/g, ' ');
  const key = eventField(event, 'key');
  const keyText = key === undefined || key === '(null)' ? undefined : fieldValue(key);
  const syscallName = syscall?.enriched?.get('SYSCALL') ?? syscall?.fields.get('syscall');
  const named = (field: string): string | undefined => {
    for (const r of event.records) {
      const v = r.enriched?.get(field.toUpperCase());
      if (v !== undefined) return fieldValue(v);
    }
    return undefined;
  };
  return {
    '@timestamp': new Date(event.timeMs).toISOString(),
    ecs: { version: '8.11.0' },
    event: {
      kind: 'event',
      module: 'auditd',
      dataset: 'auditd.log',
      action: syscall ? (syscallName ?? 'syscall') : event.records[0].type.toLowerCase(),
      outcome: ok === undefined ? 'unknown' : ok ? 'success' : 'failure',
      sequence: event.serial,
      category: event.records.some((r) => r.type === 'EXECVE') ? ['process'] : undefined,
      type: event.records.map((r) => r.type),
    },
    container: c ? { id: formatContainerId(c.contid), name: c.name, runtime: c.orchestrator, image: c.image ? { name: c.image } : undefined } : undefined,
    orchestrator: c ? { type: c.orchestrator, resource: c.runtimeId ? { id: c.runtimeId } : undefined } : undefined,
    process: {
      pid: num(eventField(event, 'pid')),
      parent: num(eventField(event, 'ppid')) !== undefined ? { pid: num(eventField(event, 'ppid')) } : undefined,
      executable: firstAny(event, 'exe'),
      name: firstAny(event, 'comm'),
      title,
    },
    user: {
      id: eventField(event, 'uid'),
      name: named('uid'),
      audit: { id: eventField(event, 'auid'), name: named('auid') },
    },
    host: event.node ? { name: event.node } : undefined,
    tags: keyText ? [keyText] : undefined,
    auditd: {
      sequence: event.serial,
      session: eventField(event, 'ses'),
      container_chain: chain.length > 1 ? chain.map((x) => formatContainerId(x.contid)) : undefined,
      records: event.records.map((r) => r.raw),
    },
  };
}

/** One event as output text, ending in a newline. `chain`: container then its ancestors. */
export function formatAuditEvent(format: SearchFormat, event: AuditEvent, chain: AttributedContainer[]): string {
  switch (format) {
    case 'raw':
      return event.records.map((r) => r.raw).join('\n') + '\n';
    case 'interpret': {
      const c = chain[0];
      const who = c ? ` container=${c.name} contid=${formatContainerId(c.contid)} orchestrator=${c.orchestrator}` : '';
      return `----${who}\n${event.records.map(interpretRecord).join('\n')}\n`;
    }
    case 'json':
      return (
        JSON.stringify({
          time: new Date(event.timeMs).toISOString(),
          serial: event.serial,
          node: event.node,
          container: containerJson(chain[0] ?? null),
          parents: chain.slice(1).map((p) => formatContainerId(p.contid)),
          records: event.records.map((r) => ({
            type: r.type,
            fields: decodedObject(r.fields, r.type),
            msg: r.body !== null ? decodedObject(r.msg, r.type) : undefined,
            raw: r.raw,
          })),
        }) + '\n'
      );
    case 'ecs':
      return JSON.stringify(ecsDocument(event, chain)) + '\n';
  }
}
