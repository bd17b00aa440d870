import { formatContainerId } from '@contid/core/dist/container-id';
import type { AttributedContainer } from './attributor';
import type { AuditEvent } from './reassembler';
import { bodyFieldsTexts, fieldValue, isEncodedField, nextField, plainFieldsText, type AuditRecord } from './record';
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

/** One record's document through `parts` (the general path: records with a msg='…' body, or odd names). */
function recordText(r: AuditRecord): string {
  parts.length = 0;
  pushRecord(r);
  const text = parts.join('');
  parts.length = 0;
  return text;
}

/**
 * The document is written into one reusable buffer, and a kernel record's fields go into it
 * straight from the line's text: no field map, no string per name or value, no pieces to
 * join (they and their garbage were most of a live tail's CPU, docs/tail.md). Anything the
 * direct path does not copy byte for byte — a value that is not printable ASCII once decoded,
 * a record with a msg='…' body, a name an object orders first — is written from the general
 * path's text, so the document is the same either way (json-format.test.ts).
 */
let out: Buffer = Buffer.allocUnsafe(1 << 16);
let pos = 0;
/** Nothing but ASCII written since the document began (then latin1 reads it back at once). */
let ascii = true;

/**
 * A few bytes (a name's `"name":`, a piece of the document's frame) copied into `out` at
 * `pos`, which has room for them, by a loop: Buffer#copy goes through TypedArray#set, whose
 * call costs more than bytes this short (the writer made one per field). Longer ones by copy.
 */
function copyShort(b: Buffer): void {
  const n = b.length;
  if (n > 64) {
    pos += b.copy(out, pos);
    return;
  }
  for (let i = 0; i < n; i++) out[pos + i] = b[i];
  pos += n;
}

function room(n: number): void {
  if (pos + n <= out.length) return;
  const bigger = Buffer.allocUnsafe(Math.max(out.length * 2, pos + n));
  out.copy(bigger, 0, 0, pos);
  out = bigger;
}

function writeText(s: string): void {
  room(s.length * 3);
  const n = out.write(s, pos, 'utf8');
  if (n !== s.length) ascii = false;
  pos += n;
}

/** A printable ASCII character (what bytesToText returns as it is, and JSON copies but for `"` and `\`). */
const isPrintable = (c: number): boolean => c >= 0x20 && c <= 0x7e;

/**
 * `text[from, to)` as a JSON string, when all of it is printable ASCII (JSON.stringify of it
 * escapes `"` and `\` only); false, and nothing written, otherwise.
 */
function writePlainString(text: string, from: number, to: number): boolean {
  // one pass: written as it is checked, taken back at the first character that is not plain
  room(2 * (to - from) + 2);
  const start = pos;
  out[pos++] = 34;
  for (let i = from; i < to; i++) {
    const c = text.charCodeAt(i);
    if (!isPrintable(c)) {
      pos = start;
      return false;
    }
    if (c === 34 || c === 92) out[pos++] = 92;
    out[pos++] = c;
  }
  out[pos++] = 34;
  return true;
}

const hexDigit = (c: number): number => (c >= 48 && c <= 57 ? c - 48 : c >= 65 && c <= 70 ? c - 55 : -1);

/** JSON.stringify's escape of each C0 control (\\n, \\u0000 …), as bytes. */
const CONTROL_ESCAPES: Buffer[] = Array.from({ length: 0x20 }, (_, c) => Buffer.from(JSON.stringify(String.fromCharCode(c)).slice(1, -1), 'latin1'));

/**
 * fieldValue's hex decoding of `text[from, to)` (upper-case hex of even length) as a JSON
 * string, when every decoded byte is ASCII (then bytesToText keeps them as they are, and
 * JSON.stringify escapes the quote, the backslash and the C0 controls: a proctitle's NULs
 * between its arguments); false, and nothing written, otherwise.
 */
function writeHexString(text: string, from: number, to: number): boolean {
  if (to === from || (to - from) % 2 !== 0) return false;
  // at most 6 bytes (\u0000) per decoded byte; one pass, taken back at the first digit that is not
  room(3 * (to - from) + 2);
  const start = pos;
  out[pos++] = 34;
  for (let i = from; i < to; i += 2) {
    const hi = hexDigit(text.charCodeAt(i));
    const lo = hexDigit(text.charCodeAt(i + 1));
    if (hi < 0 || lo < 0 || hi >= 8) {
      pos = start;
      return false;
    }
    const c = hi * 16 + lo;
    if (c < 0x20) {
      copyShort(CONTROL_ESCAPES[c]);
      continue;
    }
    if (c === 34 || c === 92) out[pos++] = 92;
    out[pos++] = c;
  }
  out[pos++] = 34;
  return true;
}

/** A field name as the direct path writes it: `"name":` and how its values decode. */
interface FieldName {
  name: string;
  text: Buffer;
  /** isEncodedField(name, type) for EXECVE records and for every other type. */
  encodedInExecve: boolean;
  encoded: boolean;
  /** The writeFieldsFrom call that last wrote it (the first of a name wins, as in the field map). */
  writtenIn: number;
}
/** Field names seen, by a hash of their characters (a few hundred in any log; bounded all the same). */
const fieldNames = new Map<number, FieldName[]>();
let fieldNameCount = 0;

/** The name `text[from, to)` (the parser's [A-Za-z0-9_-]+), or null when it is not kept or an object would order it first (an array index). */
function fieldNameAt(text: string, from: number, to: number): FieldName | null {
  let h = to - from;
  for (let i = from; i < to; i++) h = (Math.imul(h, 31) + text.charCodeAt(i)) | 0;
  const seen = fieldNames.get(h);
  if (seen !== undefined) {
    for (const f of seen) {
      if (f.name.length !== to - from) continue;
      let i = 0;
      while (i < to - from && f.name.charCodeAt(i) === text.charCodeAt(from + i)) i++;
      if (i === to - from) return f;
    }
  }
  if (fieldNameCount >= MAX_NAMES) return null;
  const name = text.slice(from, to);
  const quoted = nameText(name);
  if (quoted === null) return null;
  const f: FieldName = { name, text: Buffer.from(quoted, 'latin1'), encodedInExecve: isEncodedField(name, 'EXECVE'), encoded: isEncodedField(name, 'SYSCALL'), writtenIn: 0 };
  if (seen !== undefined) seen.push(f);
  else fieldNames.set(h, [f]);
  fieldNameCount++;
  return f;
}

/**
 * The names met at each position of the last record of each type: records of one type list
 * their fields in one order (a SYSCALL's arch=, syscall=, …), so a name is mostly found by
 * comparing its characters with the one there last time, without hashing it and asking the
 * table (fieldNameAt was the JSON writer's largest part, docs/tail.md). Bounded: a type's
 * positions up to MAX_POSITIONS, types up to MAX_TYPES.
 */
const namesByType = new Map<string, (FieldName | null)[]>();
/** The same for the names of `msg='…'` bodies (a binding's virt=, op=, …): their own positions, not the kernel part's. */
const bodyNamesByType = new Map<string, (FieldName | null)[]>();
const MAX_TYPES = 1024;
const MAX_POSITIONS = 256;

function sameName(f: FieldName, text: string, from: number, to: number): boolean {
  const name = f.name;
  if (name.length !== to - from) return false;
  for (let i = 0; i < name.length; i++) if (name.charCodeAt(i) !== text.charCodeAt(from + i)) return false;
  return true;
}

const fieldAt = new Int32Array(3);
/**
 * Numbers the calls of writeFieldsFrom: a name already written in this call carries its number.
 * A search of the names written so far was quadratic in a record's fields: one EXECVE of
 * 10,000 arguments cost the tail ≈ 90 ms, so a container exec'ing such argvs in a loop
 * outran it (outside attack 17, I1; docs/tail.md).
 */
let writeCall = 0;

/**
 * A kernel record's `"fields":{…}` written from `text` (plainFieldsText): the document
 * pushFields writes from the split map. False when a name needs the general path (nothing
 * kept then: the caller rewinds).
 */
function writeFieldsFrom(text: string, type: string, positions: Map<string, (FieldName | null)[]> = namesByType): boolean {
  const execve = type === 'EXECVE';
  const call = ++writeCall;
  room(1);
  out[pos++] = 123; // {
  const at = fieldAt;
  let names = positions.get(type);
  if (names === undefined && positions.size < MAX_TYPES) positions.set(type, (names = []));
  let k = 0;
  let wrote = false;
  for (let i = 0; nextField(text, i, at); i = at[2], k++) {
    const last = names !== undefined && k < names.length ? names[k] : null;
    const f = last !== null && sameName(last, text, at[0], at[1]) ? last : fieldNameAt(text, at[0], at[1]);
    if (f === null) return false;
    if (f !== last && names !== undefined && k <= names.length && k < MAX_POSITIONS) names[k] = f;
    if (f.writtenIn === call) continue;
    if (wrote) {
      room(1);
      out[pos++] = 44; // ,
    }
    f.writtenIn = call;
    wrote = true;
    room(f.text.length);
    copyShort(f.text);
    // fieldValue: quotes stripped; hex decoded for encoded names; else the value as it is
    const v = at[1] + 1;
    const end = at[2];
    const quoted = end - v >= 2 && text.charCodeAt(v) === 34 && text.charCodeAt(end - 1) === 34;
    const done = quoted
      ? writePlainString(text, v + 1, end - 1)
      : (execve ? f.encodedInExecve : f.encoded)
        ? writeHexString(text, v, end) || (!isHexText(text, v, end) && writePlainString(text, v, end))
        : writePlainString(text, v, end);
    if (!done) writeText(jsonString(fieldValue(text.slice(v, end), f.name, type)!));
  }
  room(1);
  out[pos++] = 125; // }
  return true;
}

/** fieldValue's test for hex it decodes: even length, upper-case hex digits only. */
function isHexText(text: string, from: number, to: number): boolean {
  if (to === from || (to - from) % 2 !== 0) return false;
  for (let i = from; i < to; i++) if (hexDigit(text.charCodeAt(i)) < 0) return false;
  return true;
}

const TYPE_OPEN = Buffer.from('{"type":', 'latin1');
const FIELDS_OPEN = Buffer.from(',"fields":', 'latin1');
const RAW_OPEN = Buffer.from(',"raw":', 'latin1');
const MSG_OPEN = Buffer.from(',"msg":', 'latin1');

function writeBytes(b: Buffer): void {
  room(b.length);
  copyShort(b);
}

/** `"fields":{…}`'s object then `,"msg":{…}` from a body record's two texts (see writeRecord). */
function writeFieldsAndBody(texts: { fields: string; body: string }, type: string): boolean {
  if (!writeFieldsFrom(texts.fields, type)) return false;
  writeBytes(MSG_OPEN);
  return writeFieldsFrom(texts.body, type, bodyNamesByType);
}

/**
 * One record's document (pushRecord's text), directly when its fields can be written from its
 * text: a kernel record, or a record with a `msg='…'` body (its kernel part and its body each
 * split as parts() splits them). A binding went through the general path's pieces, an object
 * of strings per field, joined: several kilobytes of garbage per binding.
 */
function writeRecord(r: AuditRecord): void {
  const text = plainFieldsText(r);
  const texts = text === null ? bodyFieldsTexts(r) : null;
  const start = pos;
  const wasAscii = ascii;
  if (text !== null || texts !== null) {
    writeBytes(TYPE_OPEN);
    if (!writePlainString(r.type, 0, r.type.length)) writeText(jsonString(r.type));
    writeBytes(FIELDS_OPEN);
    if (text !== null ? writeFieldsFrom(text, r.type) : writeFieldsAndBody(texts!, r.type)) {
      writeBytes(RAW_OPEN);
      const raw = r.raw;
      if (!writePlainString(raw, 0, raw.length)) writeText(jsonString(bytesToText(raw, PLAIN)));
      room(1);
      out[pos++] = 125; // }
      return;
    }
    pos = start;
    ascii = wasAscii;
  }
  writeText(recordText(r));
}

/**
 * The `--format json` document of one event, newline-terminated:
 * `JSON.stringify({ version, time, serial, node, container, parents, records })` byte for
 * byte (json-format.test.ts holds it to that over every fixture and random names and
 * values), written as text — the generic serializer and the objects it reads were half of a
 * live tail's CPU.
 */
export function jsonEventText(event: AuditEvent, chain: AttributedContainer[]): string {
  const doc = jsonEventBytes(event, chain);
  return doc.toString(ascii ? 'latin1' : 'utf8');
}

/**
 * jsonEventText's document as its UTF-8 bytes: a view of the writer's own buffer, valid until
 * the next document is written (copy it first). A live tail copies it into its output as it
 * is, so no string is made per event only to be encoded again for the write.
 */
export function jsonEventBytes(event: AuditEvent, chain: AttributedContainer[]): Buffer {
  // a document of megabytes (a long argv) does not keep its buffer for the rest of the run
  if (out.length > 1 << 20) out = Buffer.allocUnsafe(1 << 16);
  pos = 0;
  writeDocument(event, chain);
  return out.subarray(0, pos);
}

let intoEnd = 0;

/**
 * The document written at `at` into `target` itself (a live tail's output buffer): no copy
 * of it and no view per event. Returns the buffer it is in — `target`, or a larger copy when
 * it did not fit — and (jsonIntoEnd) where it ends there.
 */
export function writeJsonEventInto(target: Buffer, at: number, event: AuditEvent, chain: AttributedContainer[]): Buffer {
  const own = out;
  out = target;
  pos = at;
  try {
    writeDocument(event, chain);
    intoEnd = pos;
    return out;
  } finally {
    out = own;
  }
}

/** Where the last writeJsonEventInto document ends. */
export const jsonIntoEnd = (): number => intoEnd;

/** The document at `pos` of `out`. */
function writeDocument(event: AuditEvent, chain: AttributedContainer[]): void {
  const serial = serialJson(event);
  ascii = true;
  // The head is ASCII but for the node and the container: written byte by byte, no string
  // made of it per event (a live tail writes tens of thousands a second).
  writeBytes(HEAD_OPEN);
  writeAscii(isoTime(event.timeMs));
  writeBytes(SERIAL_OPEN);
  if (typeof serial === 'number') writeAscii(String(serial));
  else writeText(jsonString(serial));
  writeBytes(NODE_OPEN);
  if (event.node === null) writeBytes(NULL);
  else writeText(jsonString(event.node));
  writeBytes(CONTAINER_OPEN);
  if (chain.length === 0) writeBytes(NULL);
  else writeText(JSON.stringify(containerJson(chain[0])));
  writeBytes(PARENTS_OPEN);
  for (let i = 1; i < chain.length; i++) writeAscii(`${i > 1 ? ',"' : '"'}${formatContainerId(chain[i].contid)}"`);
  writeBytes(RECORDS_OPEN);
  const records = event.records;
  for (let i = 0; i < records.length; i++) {
    if (i > 0) {
      room(1);
      out[pos++] = 44; // ,
    }
    writeRecord(records[i]);
  }
  writeBytes(DOCUMENT_CLOSE);
}

const HEAD_OPEN = Buffer.from(`{"version":${DOCUMENT_VERSION},"time":"`, 'latin1');
const SERIAL_OPEN = Buffer.from('","serial":', 'latin1');
const NODE_OPEN = Buffer.from(',"node":', 'latin1');
const NULL = Buffer.from('null', 'latin1');
const CONTAINER_OPEN = Buffer.from(',"container":', 'latin1');
const PARENTS_OPEN = Buffer.from(',"parents":[', 'latin1');
const RECORDS_OPEN = Buffer.from('],"records":[', 'latin1');
const DOCUMENT_CLOSE = Buffer.from(']}\n', 'latin1');

/** An ASCII string (a time, digits, a container id) copied in character by character. */
function writeAscii(s: string): void {
  room(s.length);
  for (let i = 0; i < s.length; i++) out[pos++] = s.charCodeAt(i);
}

/** The last stamp's ISO time: the events of one millisecond (a burst has dozens) share it. */
let isoMs = NaN;
let isoText = '';
function isoTime(ms: number): string {
  if (ms !== isoMs) {
    isoText = new Date(ms).toISOString();
    isoMs = ms;
  }
  return isoText;
}
