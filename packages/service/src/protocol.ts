/**
 * The service's wire protocol: one JSON object per line each way. Requests are validated
 * field by field before anything touches the registry; unknown fields are refused so a typo
 * never silently changes what gets tagged.
 */

export const PROTOCOL_VERSION = 1;
/** A request line longer than this is refused and the connection closed (no unbounded buffering). */
export const MAX_REQUEST_BYTES = 64 * 1024;

/** Whose process receives the container's token. */
export type WireTarget =
  /** The connected client itself: it renewed its own session before asking (the only choice on a nested channel). */
  | 'peer'
  /** Another process that a contid wrapper already gave a session of its own (host channel only). */
  | { pid: number; session?: number };

export interface CreateRequest {
  v: number;
  id?: string;
  op: 'create';
  orchestrator: string;
  name: string;
  runtimeId?: string | null;
  image?: string | null;
  labels?: Record<string, string>;
  /**
   * Decimal contid; null (none); 'auto' (the container of the target's current session); or
   * { session } (the container of the session the client had before it renewed). Forced to the
   * channel's container on nested channels.
   */
  parent?: WireParent;
  target: WireTarget;
  detail?: Record<string, unknown>;
}

export interface SetnsRequest {
  v: number;
  id?: string;
  op: 'setns';
  contid: string;
  target: WireTarget;
  detail?: Record<string, unknown>;
}

export interface EndRequest {
  v: number;
  id?: string;
  op: 'end';
  contid: string;
  reason?: string;
}

export interface ShowRequest {
  v: number;
  id?: string;
  op: 'show';
  ref: string;
}

/** Host channel only: open a per-container channel to bind-mount into that container. */
export interface ChannelRequest {
  v: number;
  id?: string;
  op: 'channel';
  contid: string;
  path: string;
}

export type WireParent = string | null | 'auto' | { session: number };

export type Request = CreateRequest | SetnsRequest | EndRequest | ShowRequest | ChannelRequest;
export type Op = Request['op'];

export interface OkReply {
  v: number;
  id?: string;
  ok: true;
  result: Record<string, unknown>;
}

export interface ErrorReply {
  v: number;
  id?: string;
  ok: false;
  /** 'protocol' (bad request), 'denied' (caller not allowed), 'failed' (the operation failed). */
  code: 'protocol' | 'denied' | 'failed';
  error: string;
}

export type Reply = OkReply | ErrorReply;

export class ProtocolError extends Error {
  override name = 'ProtocolError';
}

type Json = Record<string, unknown>;

const MAX_TEXT = 4096;
const CONTID_TEXT = /^[0-9]{1,20}$/;

function text(o: Json, key: string, optional = false): string | undefined {
  const v = o[key];
  if (v === undefined && optional) return undefined;
  if (typeof v !== 'string' || v.length === 0 || v.length > MAX_TEXT) throw new ProtocolError(`"${key}" must be a non-empty string of at most ${MAX_TEXT} characters`);
  return v;
}

function nullableText(o: Json, key: string): string | null | undefined {
  return o[key] === null ? null : text(o, key, true);
}

function contidText(o: Json, key: string): string {
  const v = text(o, key)!;
  if (!CONTID_TEXT.test(v)) throw new ProtocolError(`"${key}" must be a container ID in decimal`);
  return v;
}

function positiveInt(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0 || v > 0xffffffff) throw new ProtocolError(`${what} must be a positive integer`);
  return v;
}

function plainObject(v: unknown, what: string): Json {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new ProtocolError(`${what} must be an object`);
  return v as Json;
}

function onlyKeys(o: Json, allowed: readonly string[], what: string): void {
  const extra = Object.keys(o).filter((k) => !allowed.includes(k));
  if (extra.length) throw new ProtocolError(`${what}: unknown field${extra.length > 1 ? 's' : ''} ${extra.map((k) => `"${k}"`).join(', ')}`);
}

function target(v: unknown): WireTarget {
  if (v === 'peer') return 'peer';
  const o = plainObject(v, '"target"');
  onlyKeys(o, ['pid', 'session'], '"target"');
  const pid = positiveInt(o.pid, '"target.pid"');
  return o.session === undefined ? { pid } : { pid, session: positiveInt(o.session, '"target.session"') };
}

function labels(v: unknown): Record<string, string> | undefined {
  if (v === undefined) return undefined;
  const o = plainObject(v, '"labels"');
  for (const [k, val] of Object.entries(o)) {
    if (typeof val !== 'string' || k.length > MAX_TEXT || val.length > MAX_TEXT) throw new ProtocolError('"labels" must map strings to strings');
  }
  return o as Record<string, string>;
}

function parentOf(v: unknown): WireParent | undefined {
  if (v === undefined || v === null || v === 'auto') return v;
  if (typeof v === 'string' && CONTID_TEXT.test(v)) return v;
  if (typeof v === 'object' && !Array.isArray(v)) {
    const o = v as Json;
    onlyKeys(o, ['session'], '"parent"');
    return { session: positiveInt(o.session, '"parent.session"') };
  }
  throw new ProtocolError('"parent" must be a container ID in decimal, "auto", null or { "session": N }');
}

const COMMON = ['v', 'id', 'op'];
const FIELDS: Record<Op, readonly string[]> = {
  create: [...COMMON, 'orchestrator', 'name', 'runtimeId', 'image', 'labels', 'parent', 'target', 'detail'],
  setns: [...COMMON, 'contid', 'target', 'detail'],
  end: [...COMMON, 'contid', 'reason'],
  show: [...COMMON, 'ref'],
  channel: [...COMMON, 'contid', 'path'],
};

/**
 * Whether a line is a JSON object at all — what every client sends. A line that is not is no
 * client's mistake but another protocol: a root daemon made to connect here (dockerd's syslog
 * or fluentd log driver pointed at the host channel writes `<PRI>TIME TAG: …` or msgpack, and a
 * tag holding newlines carries lines of JSON after it — outside attack 11, L0).
 */
export function isJsonObjectLine(line: string): boolean {
  try {
    const o: unknown = JSON.parse(line);
    return o !== null && typeof o === 'object' && !Array.isArray(o);
  } catch {
    return false;
  }
}

/** Parses and validates one request line; throws ProtocolError with a one-line reason. */
export function parseRequest(line: string): Request {
  let raw: unknown;
  try {
    raw = JSON.parse(line);
  } catch {
    throw new ProtocolError('request is not valid JSON');
  }
  const o = plainObject(raw, 'request');
  if (o.v !== PROTOCOL_VERSION) throw new ProtocolError(`unsupported protocol version ${JSON.stringify(o.v)} (this service speaks ${PROTOCOL_VERSION})`);
  const id = text(o, 'id', true);
  const op = o.op;
  if (typeof op !== 'string' || !(op in FIELDS)) throw new ProtocolError(`"op" must be one of ${Object.keys(FIELDS).join(', ')}`);
  onlyKeys(o, FIELDS[op as Op], `op ${op}`);
  const base = { v: PROTOCOL_VERSION, ...(id === undefined ? {} : { id }) };
  const detail = o.detail === undefined ? undefined : plainObject(o.detail, '"detail"');
  switch (op as Op) {
    case 'create': {
      const parent = parentOf(o.parent);
      return {
        ...base,
        op: 'create',
        orchestrator: text(o, 'orchestrator')!,
        name: text(o, 'name')!,
        runtimeId: nullableText(o, 'runtimeId'),
        image: nullableText(o, 'image'),
        labels: labels(o.labels),
        parent,
        target: target(o.target),
        detail,
      };
    }
    case 'setns':
      return { ...base, op: 'setns', contid: contidText(o, 'contid'), target: target(o.target), detail };
    case 'end':
      return { ...base, op: 'end', contid: contidText(o, 'contid'), reason: text(o, 'reason', true) };
    case 'show':
      return { ...base, op: 'show', ref: text(o, 'ref')! };
    case 'channel': {
      const path = text(o, 'path')!;
      if (!path.startsWith('/')) throw new ProtocolError('"path" must be absolute');
      return { ...base, op: 'channel', contid: contidText(o, 'contid'), path };
    }
  }
}

/** Best effort: the id of a request that failed validation, so the client can match the error. */
export function requestIdOf(line: string): string | undefined {
  try {
    const o = JSON.parse(line) as unknown;
    if (typeof o === 'object' && o !== null && typeof (o as Json).id === 'string') return (o as Json).id as string;
  } catch {
    // Not JSON: no id to echo.
  }
  return undefined;
}
