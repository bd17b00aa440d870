import { formatContainerId } from '@contid/core';
import type { LogEvent } from './event-assembler';
import type { LiveContainer } from './live-attributor';

export type LiveFormat = 'raw' | 'text' | 'json' | 'ecs';
export const LIVE_FORMATS: readonly LiveFormat[] = ['text', 'raw', 'json', 'ecs'];

const unquote = (v: string): string => (v.length >= 2 && v.startsWith('"') && v.endsWith('"') ? v.slice(1, -1) : v);
const toObject = (m: Map<string, string>): Record<string, string> => Object.fromEntries([...m].map(([k, v]) => [k, unquote(v)]));

function isoTime(time: string): string {
  const [sec, ms] = time.split('.');
  return new Date(Number(sec) * 1000 + Number(ms)).toISOString();
}

function containerJson(c: LiveContainer | null): Record<string, string | null> | null {
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

function first(event: LogEvent, name: string): string | undefined {
  for (const r of event.records) {
    const v = r.fields.get(name) ?? r.msg.get(name);
    if (v !== undefined) return unquote(v);
  }
  return undefined;
}

const num = (v: string | undefined): number | undefined => (v !== undefined && /^\d+$/.test(v) ? Number(v) : undefined);

/** Elastic Common Schema: what a SIEM ingests as is. */
function ecs(event: LogEvent, c: LiveContainer | null): Record<string, unknown> {
  const syscall = event.records.find((r) => r.type === 'SYSCALL');
  const success = first(event, 'success') ?? first(event, 'res');
  const outcome = success === undefined ? 'unknown' : success === 'yes' || success === 'success' || success === '1' ? 'success' : 'failure';
  const proctitle = first(event, 'proctitle');
  const title = proctitle && /^[0-9A-F]+$/.test(proctitle) ? Buffer.from(proctitle, 'hex').toString('utf8').replace(/\0/g, ' ') : proctitle;
  const key = first(event, 'key');
  return {
    '@timestamp': isoTime(event.time),
    ecs: { version: '8.11.0' },
    event: {
      kind: 'event',
      module: 'auditd',
      action: syscall ? `syscall-${first(event, 'syscall') ?? '?'}` : event.records[0].type.toLowerCase(),
      outcome,
      sequence: event.serial,
      category: event.records.some((r) => r.type === 'EXECVE') ? ['process'] : undefined,
    },
    container: c ? { id: formatContainerId(c.contid), name: c.name, runtime: c.orchestrator, image: c.image ? { name: c.image } : undefined } : undefined,
    orchestrator: c ? { type: c.orchestrator, resource: c.runtimeId ? { id: c.runtimeId } : undefined } : undefined,
    process: {
      pid: num(first(event, 'pid')),
      parent: num(first(event, 'ppid')) !== undefined ? { pid: num(first(event, 'ppid')) } : undefined,
      executable: first(event, 'exe'),
      name: first(event, 'comm'),
      title,
    },
    user: { id: first(event, 'uid'), audit: { id: first(event, 'auid') } },
    host: event.node ? { name: event.node } : undefined,
    tags: key && key !== '(null)' ? [key] : undefined,
    auditd: { sequence: event.serial, session: first(event, 'ses'), records: event.records.map((r) => r.raw) },
  };
}

/** One event as output text, ending in a newline. */
export function formatEvent(format: LiveFormat, event: LogEvent, c: LiveContainer | null): string {
  switch (format) {
    case 'raw':
      return event.records.map((r) => r.raw).join('\n') + '\n';
    case 'text': {
      const who = c ? `container=${c.name} contid=${formatContainerId(c.contid)} orchestrator=${c.orchestrator}` : 'container=-';
      return `---- ${isoTime(event.time)} serial=${event.serial} ${who}\n${event.records.map((r) => r.raw).join('\n')}\n`;
    }
    case 'json':
      return (
        JSON.stringify({
          time: isoTime(event.time),
          serial: event.serial,
          node: event.node,
          container: containerJson(c),
          records: event.records.map((r) => ({ type: r.type, fields: toObject(r.fields), msg: r.msg.size ? toObject(r.msg) : undefined })),
        }) + '\n'
      );
    case 'ecs':
      return JSON.stringify(ecs(event, c)) + '\n';
  }
}
