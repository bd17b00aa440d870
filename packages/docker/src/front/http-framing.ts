/**
 * HTTP/1.x message framing for a byte relay: where each message's head ends and how long its
 * body is (RFC 9112 §6), and nothing more. The relay forwards the bytes it is given unchanged;
 * it only needs the heads of the few calls it acts on and the boundaries between messages on a
 * keep-alive connection. Bodies are never copied: each segment is a slice of the input.
 */

export interface Head {
  /** Request: method; response: '' */
  method: string;
  /** Request: target; response: '' */
  url: string;
  /** Response: status code; request: 0 */
  status: number;
  /** The HTTP version of the start line. */
  version: '1.0' | '1.1';
  /** Lower-cased names; a repeated header's values joined with ", " as RFC 9110 §5.3 allows. */
  headers: Map<string, string>;
}

/** How the body after a head is delimited. */
export type BodyKind =
  | { kind: 'none' }
  | { kind: 'length'; length: number }
  | { kind: 'chunked' }
  /** Everything until the connection closes (a response without length; a switched protocol). */
  | { kind: 'rest' };

export type Segment =
  | { type: 'head'; head: Head; bytes: Buffer }
  /** Body bytes; `data` is false for chunked framing (sizes, CRLFs, trailers), true for payload. */
  | { type: 'body'; bytes: Buffer; data: boolean }
  /** The message (head and body) is complete. */
  | { type: 'end' };

export class FramingError extends Error {}

/** Go's net/http (dockerd) accepts heads up to 1 MB by default; a longer one is not HTTP we can relay. */
const MAX_HEAD = 1 << 20;
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

function parseHead(text: string, request: boolean): Head {
  // Lines end with LF, CR LF accepted (Go's textproto trims the CR the same way).
  const lines = text.split('\n').map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
  const start = lines[0]!;
  let method = '';
  let url = '';
  let status = 0;
  let version: Head['version'];
  if (request) {
    const m = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+) (\S+) HTTP\/1\.([01])$/.exec(start);
    if (!m) throw new FramingError(`not an HTTP/1 request line: ${JSON.stringify(start.slice(0, 80))}`);
    [method, url] = [m[1]!, m[2]!];
    version = m[3] === '0' ? '1.0' : '1.1';
  } else {
    const m = /^HTTP\/1\.([01]) (\d{3})(?: .*)?$/.exec(start);
    if (!m) throw new FramingError(`not an HTTP/1 status line: ${JSON.stringify(start.slice(0, 80))}`);
    status = Number(m[2]);
    version = m[1] === '0' ? '1.0' : '1.1';
  }
  const headers = new Map<string, string>();
  for (const line of lines.slice(1)) {
    if (line === '') continue;
    const colon = line.indexOf(':');
    const name = colon > 0 ? line.slice(0, colon) : '';
    // Folded lines and names with spaces are refused (as Go does), never guessed at.
    if (!TOKEN.test(name)) throw new FramingError(`bad header line: ${JSON.stringify(line.slice(0, 80))}`);
    const key = name.toLowerCase();
    const value = line.slice(colon + 1).trim();
    const had = headers.get(key);
    headers.set(key, had === undefined ? value : `${had}, ${value}`);
  }
  return { method, url, status, version, headers };
}

/** A request asking to switch protocols (Docker's hijacked attach and exec start, BuildKit's h2c). */
export function isUpgrade(head: Head): boolean {
  return head.headers.has('upgrade') && tokens(head, 'connection').includes('upgrade');
}

/** A header's comma-separated tokens, lower-cased. */
export function tokens(head: Head, name: string): string[] {
  return (head.headers.get(name) ?? '').split(',').map((t) => t.trim().toLowerCase()).filter(Boolean);
}

/**
 * The framing a message's own headers give: chunked, a Content-Length, or `otherwise` (a
 * request then has no body, a response runs until close). Transfer-Encoding wins over
 * Content-Length; a Content-Length that is not one number is refused (request smuggling).
 * A request is framed only where dockerd's Go server frames it the same way: Go ignores
 * Transfer-Encoding in an HTTP/1.0 request (net/http transfer.go) and reads its Content-Length,
 * so a chunk the front took for a body was, to dockerd, the next requests (outside attack 13,
 * F1); such a request, and one with both headers or a coding other than chunked alone (which Go
 * refuses), is refused here.
 */
export function framingOf(head: Head, otherwise: BodyKind): BodyKind {
  const te = tokens(head, 'transfer-encoding');
  if (te.length && head.method !== '') {
    if (head.version === '1.0') throw new FramingError('Transfer-Encoding in an HTTP/1.0 request: dockerd would ignore it and frame the body otherwise');
    if (head.headers.has('content-length')) throw new FramingError('both Transfer-Encoding and Content-Length in a request');
    if (te.length !== 1) throw new FramingError(`unsupported Transfer-Encoding: ${te.join(', ')}`);
  }
  if (te.length) {
    if (te[te.length - 1] !== 'chunked') throw new FramingError(`unsupported Transfer-Encoding: ${te.join(', ')}`);
    return { kind: 'chunked' };
  }
  const cl = head.headers.get('content-length');
  if (cl === undefined) return otherwise;
  const values = new Set(cl.split(',').map((v) => v.trim()));
  const [only] = [...values];
  if (values.size !== 1 || !/^\d{1,15}$/.test(only!)) throw new FramingError(`bad Content-Length: ${JSON.stringify(cl)}`);
  const length = Number(only);
  return length === 0 ? { kind: 'none' } : { kind: 'length', length };
}

type State =
  | { s: 'head' }
  | { s: 'length'; left: number }
  | { s: 'chunk-size' }
  | { s: 'chunk-data'; left: number }
  | { s: 'chunk-end' }
  | { s: 'trailers' }
  | { s: 'rest' }
  /** After a message that may switch protocols: input is kept until the relay says what followed. */
  | { s: 'held' };

/**
 * Cuts one direction of a connection into segments. `bodyOf` decides each message's framing
 * from its head (a response's depends on its request); when its `holdAfter` says so as the
 * message ends, all further input is kept until `release`.
 */
export class Framer {
  private state: State = { s: 'head' };
  private partial: Buffer | null = null;
  private heldInput: Buffer[] = [];

  /**
   * `request`: which start line to expect. `lenient`: bytes that cannot be framed are relayed
   * as they come instead of throwing.
   */
  constructor(
    private readonly request: boolean,
    private readonly lenient: boolean,
    private readonly bodyOf: (head: Head) => { body: BodyKind; holdAfter?: () => boolean },
  ) {}

  /** True once everything is relayed as it comes (a switched protocol, a close-delimited body). */
  get raw(): boolean {
    return this.state.s === 'rest';
  }

  private holdAfter: (() => boolean) | null = null;

  /**
   * Input kept here, not yet given out as segments: a head or chunk line in progress, input held
   * after an upgrade request (`pieces`: how many buffers hold it). For the front's limits.
   */
  get kept(): { bytes: number; pieces: number } {
    const held = this.heldInput.reduce((n, b) => n + b.length, 0);
    return { bytes: (this.partial?.length ?? 0) + held, pieces: (this.partial ? 1 : 0) + this.heldInput.length };
  }

  /** True while a message head has begun and is not complete. */
  get inHead(): boolean {
    return this.state.s === 'head' && (this.partial?.length ?? 0) > 0;
  }

  /** True while input is kept after a message that may switch protocols. */
  get held(): boolean {
    return this.state.s === 'held';
  }

  /**
   * Segments for `chunk`, appended to `out`. Bytes that cannot be framed: a lenient framer
   * (dockerd's responses) relays them and all that follows as they come; a strict one (the
   * clients' requests, which the front must read right) throws FramingError.
   */
  feed(chunk: Buffer, out: Segment[]): void {
    if (this.state.s === 'held') {
      this.heldInput.push(chunk);
      return;
    }
    const buf = this.partial ? Buffer.concat([this.partial, chunk]) : chunk;
    this.partial = null;
    const at = { i: 0 };
    try {
      this.frame(buf, at, out);
    } catch (e) {
      if (!(e instanceof FramingError) || !this.lenient) throw e;
      this.state = { s: 'rest' };
      out.push({ type: 'body', bytes: buf.subarray(at.i), data: true });
    }
  }

  private frame(buf: Buffer, cursor: { i: number }, out: Segment[]): void {
    let at = cursor.i;
    const advance = (to: number): void => {
      at = to;
      cursor.i = to;
    };
    while (at < buf.length) {
      const st = this.state;
      if (st.s === 'rest') {
        out.push({ type: 'body', bytes: buf.subarray(at), data: true });
        return;
      }
      if (st.s === 'held') {
        this.heldInput.push(buf.subarray(at));
        return;
      }
      if (st.s === 'length' || st.s === 'chunk-data') {
        const n = Math.min(st.left, buf.length - at);
        out.push({ type: 'body', bytes: buf.subarray(at, at + n), data: true });
        advance(at + n);
        st.left -= n;
        if (st.left === 0) {
          if (st.s === 'length') this.finish(out);
          else this.state = { s: 'chunk-end' };
        }
        continue;
      }
      if (st.s === 'head') {
        const end = headEnd(buf, at);
        if (end < 0) {
          if (buf.length - at > MAX_HEAD) throw new FramingError('message head longer than 1 MB');
          this.partial = buf.subarray(at);
          return;
        }
        const bytes = buf.subarray(at, end);
        // Empty lines before a request line are ignored (RFC 9112 §2.2), and passed on as they came.
        if (/^\r?\n$/.test(bytes.toString('latin1'))) {
          out.push({ type: 'body', bytes, data: false });
          advance(end);
          continue;
        }
        const head = parseHead(bytes.toString('latin1'), this.request);
        advance(end);
        out.push({ type: 'head', head, bytes });
        const { body, holdAfter } = this.bodyOf(head);
        this.holdAfter = holdAfter ?? null;
        if (body.kind === 'none') this.finish(out);
        else if (body.kind === 'length') this.state = { s: 'length', left: body.length };
        else if (body.kind === 'chunked') this.state = { s: 'chunk-size' };
        else this.state = { s: 'rest' };
        continue;
      }
      // Chunk framing: lines.
      const nl = buf.indexOf(10, at);
      if (nl < 0) {
        if (buf.length - at > 4096) throw new FramingError('chunk line longer than 4 KB');
        this.partial = buf.subarray(at);
        return;
      }
      const line = buf.subarray(at, nl + 1);
      const text = line.toString('latin1').replace(/\r?\n$/, '');
      let next: State = st;
      if (st.s === 'chunk-size') {
        const m = /^([0-9a-fA-F]{1,12})(?:[ \t]*;.*)?$/.exec(text);
        if (!m) throw new FramingError(`bad chunk size line: ${JSON.stringify(text.slice(0, 40))}`);
        const size = parseInt(m[1]!, 16);
        next = size === 0 ? { s: 'trailers' } : { s: 'chunk-data', left: size };
      } else if (st.s === 'chunk-end') {
        if (text !== '') throw new FramingError('chunk data longer than its size');
        next = { s: 'chunk-size' };
      }
      out.push({ type: 'body', bytes: line, data: false });
      advance(nl + 1);
      if (st.s === 'trailers' && text === '') this.finish(out);
      else this.state = next;
    }
  }

  /** Ends holding: the kept input is relayed raw (`raw`) or framed as further messages. */
  release(raw: boolean, out: Segment[]): void {
    if (this.state.s !== 'held') return;
    const kept = this.heldInput;
    this.heldInput = [];
    if (raw) {
      this.state = { s: 'rest' };
      for (const b of kept) out.push({ type: 'body', bytes: b, data: true });
      return;
    }
    this.state = { s: 'head' };
    for (const b of kept) this.feed(b, out);
  }

  /** Everything from now on is relayed as it comes; input kept for a head in progress comes first. */
  toRaw(out: Segment[]): void {
    const kept = [...(this.partial ? [this.partial] : []), ...this.heldInput];
    this.partial = null;
    this.heldInput = [];
    this.state = { s: 'rest' };
    for (const b of kept) out.push({ type: 'body', bytes: b, data: true });
  }

  private finish(out: Segment[]): void {
    out.push({ type: 'end' });
    this.state = this.holdAfter?.() ? { s: 'held' } : { s: 'head' };
    this.holdAfter = null;
  }
}

/** Index just past the empty line that ends a head starting at `from`, or -1. */
function headEnd(buf: Buffer, from: number): number {
  // A head of only an empty line (a stray CRLF between messages) is its own segment.
  if (buf[from] === 10) return from + 1;
  if (buf[from] === 13 && buf[from + 1] === 10) return from + 2;
  let i = buf.indexOf(10, from);
  while (i >= 0) {
    const next = i + 1;
    if (buf[next] === 10) return next + 1;
    if (buf[next] === 13 && buf[next + 1] === 10) return next + 2;
    if (next >= buf.length || (buf[next] === 13 && next + 1 >= buf.length)) return -1;
    i = buf.indexOf(10, next);
  }
  return -1;
}
