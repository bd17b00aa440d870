import { formatContainerId } from '@contid/core/dist/container-id';
import type { AttributedContainer } from './attributor';
import type { AuditEvent } from './reassembler';
import { fieldValue, type AuditRecord } from './record';

/** A container as output: what the log said, filled from the registry (image, labels). */
export type OutputContainer = AttributedContainer & { labels?: Record<string, string> };

export interface CompactOptions {
  /** Add the records as auditd wrote them (`"raw": [...]`). */
  raw?: boolean;
}

/** Types that may repeat within an event: always an array, so their shape never changes. */
const LISTS = new Set(['PATH']);
/** A decimal a reader can take as a number: no sign games, no leading zeros (modes are octal). */
const DECIMAL = /^-?(?:0|[1-9]\d{0,14})$/;
const ARG = /^a(\d+)(?:\[(\d+)\])?$/;

/** A raw field as a typed JSON value: numbers as numbers, `(null)` as null, text decoded. */
function typed(name: string, raw: string, type: string): string | number | null {
  if (raw === '(null)') return null;
  if (DECIMAL.test(raw)) return Number(raw);
  return fieldValue(raw, name, type) ?? raw;
}

/** SYSCALL's a0..a3 are registers in hex without 0x: "15" is 21, so they stay text. */
const REGISTER = /^a[0-3]$/;

function fieldsObject(fields: Map<string, string>, type: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of fields) out[k] = type === 'SYSCALL' && REGISTER.test(k) ? v : typed(k, v, type);
  return out;
}

/** EXECVE's a0, a1 … (and a long argument's a1[0], a1[1] … pieces) as one argv array. */
function execveObject(fields: Map<string, string>): Record<string, unknown> {
  const argv: string[] = [];
  const out: Record<string, unknown> = {};
  for (const [k, v] of fields) {
    const m = ARG.exec(k);
    if (m) {
      const i = Number(m[1]);
      argv[i] = (m[2] !== undefined ? (argv[i] ?? '') : '') + (fieldValue(v, 'a0', 'EXECVE') ?? v);
    } else if (!/^a\d+_len$/.test(k)) out[k] = typed(k, v, 'EXECVE');
  }
  out.argv = Array.from(argv, (a) => a ?? '');
  return out;
}

function recordObject(rec: AuditRecord): Record<string, unknown> {
  if (rec.type === 'EXECVE') return execveObject(rec.fields);
  if (rec.type === 'PROCTITLE') {
    const title = fieldValue(rec.fields.get('proctitle'), 'proctitle', 'PROCTITLE') ?? '';
    return { argv: title.split('\0') };
  }
  const out = fieldsObject(rec.fields, rec.type);
  if (rec.body !== null) out.msg = fieldsObject(rec.msg, rec.type);
  return out;
}

function containerObject(c: OutputContainer): Record<string, unknown> {
  return {
    contid: formatContainerId(c.contid),
    name: c.name,
    orchestrator: c.orchestrator,
    runtimeId: c.runtimeId,
    image: c.image,
    labels: c.labels && Object.keys(c.labels).length > 0 ? c.labels : undefined,
  };
}

/**
 * `--format compact`: one JSON object per event, its records keyed by type (PATH always a
 * list), values typed (numbers as numbers, hex-encoded text decoded, EXECVE and PROCTITLE as
 * argv arrays), the container with its image and labels, and the raw records only on request.
 * About half the bytes of `json`, which repeats every record raw and as strings.
 */
export function compactEvent(event: AuditEvent, chain: OutputContainer[], options: CompactOptions = {}): string {
  const out: Record<string, unknown> = {
    time: new Date(event.timeMs).toISOString(),
    serial: event.serial,
  };
  if (event.node !== null) out.node = event.node;
  const c = chain[0];
  out.container = c ? containerObject(c) : null;
  if (chain.length > 1) out.parents = chain.slice(1).map((p) => formatContainerId(p.contid));
  for (const rec of event.records) {
    const obj = recordObject(rec);
    const prev = out[rec.type];
    if (LISTS.has(rec.type)) (prev as unknown[] | undefined)?.push(obj) ?? (out[rec.type] = [obj]);
    else if (prev === undefined) out[rec.type] = obj;
    else out[rec.type] = Array.isArray(prev) ? [...prev, obj] : [prev, obj];
  }
  if (options.raw) out.raw = event.records.map((r) => r.raw);
  return JSON.stringify(out) + '\n';
}
