import { formatContainerId } from '@contid/core';
import type { AttributedContainer } from './attributor';
import type { AuditEvent } from './reassembler';
import { fieldValue, type AuditRecord } from './record';
import { bytesToText } from './safe-text';

/** Layout version of contid's JSON and ECS documents: bumped when a field changes meaning. */
export const DOCUMENT_VERSION = 2;

const PLAIN = { escapeControls: false };

/** What JSON.stringify escapes in a string: the quote, the backslash, C0 controls, lone surrogates. */
const NEEDS_ESCAPE = /["\\\x00-\x1f\ud800-\udfff]/;

/** JSON.stringify(s), without the call when nothing in `s` needs escaping (nearly every field). */
export function jsonString(s: string): string {
  return NEEDS_ESCAPE.test(s) ? JSON.stringify(s) : `"${s}"`;
}

/** A serial as JSON: a number while exact, else its digits as a string (never rounded). */
export function serialJson(event: AuditEvent): number | string {
  const text = event.serialText ?? String(event.serial);
  return Number.isSafeInteger(Number(text)) ? Number(text) : text;
}

export function containerJson(c: AttributedContainer | null): Record<string, string | null | Record<string, string>> | null {
  if (!c) return null;
  return {
    contid: formatContainerId(c.contid),
    name: c.name,
    orchestrator: c.orchestrator,
    runtimeId: c.runtimeId,
    parent: c.parent === null ? null : formatContainerId(c.parent),
    image: c.image,
    labels: c.labels ?? {},
  };
}

/** A record's fields, decoded, as an object (the generic path: see fieldsText). */
function decodedObject(m: Map<string, string>, type: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of m) {
    const key = bytesToText(k, PLAIN);
    const value = fieldValue(v, k, type) ?? v;
    // an own property named __proto__, as Object.fromEntries would make (assigning would set the prototype)
    if (key === '__proto__') Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
    else out[key] = value;
  }
  return out;
}

/** The parser's field names (FIELD in record.ts): ASCII that needs no escaping. */
const PLAIN_NAME = /^[A-Za-z0-9_-]+$/;
/** An array index: an object lists such names first, in numeric order, whatever order they were set in. */
const isArrayIndex = (k: string): boolean => /^(?:0|[1-9]\d*)$/.test(k) && Number(k) < 4294967295;
/** `"name":` per field name seen (a few hundred in any log; bounded all the same). */
const nameTexts = new Map<string, string>();
const MAX_NAMES = 4096;

function nameText(k: string): string | null {
  const known = nameTexts.get(k);
  if (known !== undefined) return known;
  if (!PLAIN_NAME.test(k) || isArrayIndex(k)) return null;
  const text = `"${k}":`;
  if (nameTexts.size < MAX_NAMES) nameTexts.set(k, text);
  return text;
}

/**
 * The pieces of one document, joined once: one flat string per event. Appending with `+=`
 * made a rope of a hundred nodes per event that lived until the batch was written, and the
 * young generation's collector copied them (measured: GC rose from 30 to 43 % of the CPU).
 */
const parts: string[] = [];

/** jsonString(s) into `parts`: the quotes pushed beside `s`, not a quoted copy of it. */
function pushString(s: string): void {
  if (NEEDS_ESCAPE.test(s)) parts.push(JSON.stringify(s));
  else parts.push('"', s, '"');
}

/**
 * `JSON.stringify(decodedObject(m, type))` written directly into `parts`: no object per
 * record, no generic serializer. A name an object would not keep in insertion order (an
 * array index such as `0=`) or one that is not the parser's plain ASCII takes the generic path.
 */
function pushFields(m: Map<string, string>, type: string): void {
  const start = parts.length;
  let sep = '{';
  for (const [k, v] of m) {
    const name = nameText(k);
    if (name === null) {
      parts.length = start;
      parts.push(JSON.stringify(decodedObject(m, type)));
      return;
    }
    parts.push(sep, name);
    pushString(fieldValue(v, k, type) ?? v);
    sep = ',';
  }
  parts.push(sep === '{' ? '{}' : '}');
}

function pushRecord(r: AuditRecord): void {
  parts.push('{"type":');
  pushString(r.type);
  parts.push(',"fields":');
  pushFields(r.fields, r.type);
  if (r.body !== null) {
    parts.push(',"msg":');
    pushFields(r.msg, r.type);
  }
  parts.push(',"raw":');
  pushString(bytesToText(r.raw, PLAIN));
  parts.push('}');
}

/**
 * The `--format json` document of one event, newline-terminated:
 * `JSON.stringify({ version, time, serial, node, container, parents, records })` byte for
 * byte (json-format.test.ts holds it to that over every fixture and random names and
 * values), written as text — the generic serializer and the objects it reads were half of a
 * live tail's CPU.
 */
export function jsonEventText(event: AuditEvent, chain: AttributedContainer[]): string {
  const serial = serialJson(event);
  parts.length = 0;
  parts.push(
    `{"version":${DOCUMENT_VERSION},"time":"${new Date(event.timeMs).toISOString()}","serial":${typeof serial === 'number' ? String(serial) : jsonString(serial)},`,
    `"node":${event.node === null ? 'null' : jsonString(event.node)},"container":${JSON.stringify(containerJson(chain[0] ?? null))},"parents":[`,
  );
  for (let i = 1; i < chain.length; i++) parts.push(i > 1 ? ',"' : '"', formatContainerId(chain[i].contid), '"');
  parts.push('],"records":[');
  event.records.forEach((r, i) => {
    if (i > 0) parts.push(',');
    pushRecord(r);
  });
  parts.push(']}\n');
  const text = parts.join('');
  parts.length = 0;
  return text;
}
