import net from 'node:net';
import { escapeText } from '@contid/core';
import { ApiRoute, mayHijack, requestBodyProblem, routeOf, targetProblem } from './api-routes';
import { BodyKind, Framer, FramingError, Head, Segment, framingOf, isUpgrade, tokens } from './http-framing';
import { SEGMENT_OVERHEAD } from './limits';

/** Reason phrases of the answers the front gives itself. */
const STATUS_TEXT: Record<number, string> = { 403: 'Forbidden', 404: 'Not Found', 408: 'Request Timeout', 409: 'Conflict', 413: 'Payload Too Large', 500: 'Internal Server Error', 502: 'Bad Gateway', 503: 'Service Unavailable' };

/**
 * What becomes of a call the front looks at: relayed as it came (nothing), relayed with another
 * request target (`target`: the same call naming its object by full id; `body`: a judged body
 * naming it so, sent with its own Content-Length), or not relayed at all but answered by the
 * front (`status`, `message`: dockerd's error shape, the message as the client prints it).
 */
export type Verdict = { target: string; body?: Buffer } | { status: number; message: string };

/** What the front does around the calls it looks at (see DockerFront). */
export interface RelayActions {
  /**
   * Before the request goes on; a promise holds this connection's requests until it settles.
   * `body`: the request's whole payload (de-chunked), for a route wantsRequestBody said yes to.
   */
  before(route: ApiRoute, head: Head, body?: Buffer): Verdict | void | Promise<Verdict | void>;
  /** Whether `before` must see this request's body: the head is then held until the body is complete. */
  wantsRequestBody(route: ApiRoute): boolean;
  /** Wants the whole body of this response before the client gets any of it (a create's new id). */
  wantsBody(route: ApiRoute, status: number): boolean;
  /** That body, once complete; the response is relayed when this returns. */
  body(route: ApiRoute, status: number, data: Buffer): void;
  /**
   * Why the front will not relay a request with this head and framing for this connection's
   * caller (null: it may), asked of every request, routed or not: answered 400 like targetProblem.
   */
  requestProblem?(head: Head, body: BodyKind): string | null;
  /** A response head for a route went by (e.g. a remove's 204). */
  responded(route: ApiRoute, status: number): void;
  /**
   * This connection now holds `bytes` it cannot relay yet (limits.ts): null when it may, else
   * why not — the connection is then closed (and holds 0).
   */
  holding(bytes: number): string | null;
  /** This connection was closed by a limit: why (for a log line). */
  limited(why: string): void;
  log(line: string): void;
}

interface Asked {
  route: ApiRoute | null;
  head: boolean;
  upgrade: boolean;
  answered: boolean;
  /** The front's own answer (never relayed): written to the client in its turn. */
  local: Buffer | null;
}

/** A response head from dockerd: the request it answers, and the front's own answers due before it. */
interface Answering {
  asked: Asked | null;
  localsBefore: Asked[];
}

/** A request the front answers itself (400) instead of relaying: dockerd would route it where the front cannot follow. */
class RefusedRequest extends FramingError {}

/** A create's response is small JSON; anything larger is relayed without a look. */
const MAX_HELD_BODY = 1 << 20;
/** A create's, an exec's, a start's request body is small JSON: a larger one is answered 413, never relayed unjudged. */
export const MAX_JUDGED_BODY = 1 << 20;

/**
 * One client connection and its own connection to dockerd, relayed byte for byte. Requests are
 * framed (heads parsed, bodies counted, never copied) so that each call the front acts on is
 * seen on a keep-alive connection; responses are framed only to pair them with their requests
 * and to hold a create's small body until its id is noted. A switched protocol (Upgrade: attach,
 * exec start, BuildKit) or a close-delimited response turns the connection into a plain
 * two-way pipe; half-closes are passed on in both directions.
 */
export class Relay {
  private readonly requests: Framer;
  private readonly responses: Framer;
  /** Requests framed, in order, not yet answered (responses come in the same order). */
  private readonly asked: Asked[] = [];
  /** Requests framed whose head the pump has not forwarded yet. */
  private readonly unsent: Asked[] = [];
  /** One per response head framed, in order (responseBody runs as a chunk is framed, before its segments are relayed). */
  private readonly answering: Answering[] = [];
  /** A response from dockerd is under way (head relayed, its end not yet): the front's own answers wait for it. */
  private responding = false;
  /** The body of a request the front answered itself: not relayed. */
  private dropping = false;
  private readonly inbox: Segment[] = [];
  private busy = false;
  private clientEnded = false;
  private upstreamEnded = false;
  private held: { route: ApiRoute; status: number; bytes: Buffer[]; data: Buffer[]; size: number } | null = null;
  private answered = false;
  private upstreamFailed: Error | null = null;
  private upWaiting = false;
  private downWaiting = false;
  /** What the inbox holds (bytes, and SEGMENT_OVERHEAD per segment), kept up to date as it changes. */
  private inboxCost = 0;
  /** What the front's own answers queued behind one of dockerd's hold. */
  private localCost = 0;
  /** Running while a request head or a judged body is unfinished (requestTimeoutMs). */
  private unfinished: NodeJS.Timeout | null = null;
  /** Closed by a limit: nothing more is read or relayed. */
  private limitedOut = false;
  /** A call the front looks at waits (busy) until every earlier request's answer is complete (pump). */
  private awaitingAnswers = false;
  /** A request that asked to close the connection was forwarded: dockerd reads nothing after it, so nothing more is relayed. */
  private lastRequestSent = false;

  constructor(
    private readonly client: net.Socket,
    private readonly upstream: net.Socket,
    private readonly actions: RelayActions,
    private readonly requestTimeoutMs = 30_000,
  ) {
    this.requests = new Framer(true, false, (h) => this.requestBody(h));
    this.responses = new Framer(false, true, (h) => this.responseBody(h));
    client.on('data', (c: Buffer) => inOneWrite(upstream, () => this.fromClient(c)));
    client.on('end', () => {
      this.clientEnded = true;
      this.pump();
    });
    upstream.on('data', (c: Buffer) => inOneWrite(client, () => inOneWrite(upstream, () => this.fromUpstream(c))));
    upstream.on('end', () => {
      this.upstreamEnded = true;
      this.flushHeld();
      this.responding = false;
      this.flushLocals();
      client.end();
    });
    client.on('error', () => upstream.destroy());
    client.on('close', () => {
      upstream.destroy();
      this.stopTimer();
      this.actions.holding(0);
    });
    upstream.on('error', (e) => this.upstreamError(e));
    upstream.on('close', () => {
      if (!this.upstreamEnded && !this.upstreamFailed) client.destroy();
    });
  }

  private requestBody(head: Head): { body: BodyKind; holdAfter: () => boolean } {
    const problem = targetProblem(head.url) ?? (isUpgrade(head) && !mayHijack(head.method, head.url) ? 'Upgrade is relayed only for attach, exec start and BuildKit sessions' : null);
    if (problem) throw new RefusedRequest(problem);
    const body = framingOf(head, { kind: 'none' });
    const bodyProblem = requestBodyProblem(head.method, head.url, body) ?? this.actions.requestProblem?.(head, body) ?? null;
    if (bodyProblem) throw new RefusedRequest(bodyProblem);
    const asked: Asked = { route: routeOf(head.method, head.url), head: head.method === 'HEAD', upgrade: isUpgrade(head), answered: false, local: null };
    this.asked.push(asked);
    this.unsent.push(asked);
    // After an upgrade request the client's bytes may be a new protocol: kept until dockerd says.
    return { body, holdAfter: () => asked.upgrade && !asked.answered };
  }

  private responseBody(head: Head): { body: BodyKind } {
    // dockerd answers only what was relayed: the front's own answers ahead of this one go first.
    const localsBefore: Asked[] = [];
    while (this.asked[0]?.local) localsBefore.push(this.asked.shift()!);
    if (head.status >= 100 && head.status < 200 && head.status !== 101) {
      // 100 Continue and the like: the request's real answer is still to come.
      this.answering.push({ asked: null, localsBefore });
      return { body: { kind: 'none' } };
    }
    const asked = this.asked.shift() ?? null;
    this.answering.push({ asked, localsBefore });
    if (asked) asked.answered = true;
    if (head.status === 101) return { body: { kind: 'rest' } };
    if (asked?.head || head.status === 204 || head.status === 304) return { body: { kind: 'none' } };
    return { body: framingOf(head, { kind: 'rest' }) };
  }

  private fromClient(chunk: Buffer): void {
    if (this.client.writableEnded || this.limitedOut) return;
    this.framed(() => this.requests.feed(chunk, this.inbox));
  }

  /** Runs a step of the request framer, then forwards what it framed. */
  private framed(step: () => void): void {
    const from = this.inbox.length;
    try {
      step();
    } catch (e) {
      this.inboxCost += cost(this.inbox.slice(from));
      if (!(e instanceof FramingError)) throw e;
      if (e instanceof RefusedRequest) return this.refuse(e.message);
      // dockerd would answer 400 and close; the front must never guess where the next call starts.
      this.actions.log(`closing a connection: ${escapeText(e.message)}`);
      this.client.destroy();
      this.upstream.destroy();
      return;
    }
    this.inboxCost += cost(this.inbox.slice(from));
    this.pump();
    this.account();
  }

  /**
   * Reports what this connection holds (limits.ts) and watches how long a request stays
   * unfinished; over a limit, or past the timeout, it is closed — answered (503, 408) when no
   * answer of dockerd's is due on it, else cut.
   */
  private account(): void {
    if (this.limitedOut || this.client.destroyed) return;
    const kept = this.requests.kept;
    const why = this.actions.holding(kept.bytes + kept.pieces * SEGMENT_OVERHEAD + this.inboxCost + this.localCost);
    if (why) return this.closeLimited(503, `${why}; closing this connection`);
    // Waiting on the client: a head begun, or a judged body's head put back until the body is whole.
    const waiting = this.requests.inHead || (!this.busy && this.inbox[0]?.type === 'head');
    if (!waiting) return this.stopTimer();
    this.unfinished ??= setTimeout(() => this.closeLimited(408, `a request head or judged body unfinished after ${this.requestTimeoutMs / 1000} s; closing this connection`), this.requestTimeoutMs);
  }

  private stopTimer(): void {
    if (this.unfinished) clearTimeout(this.unfinished);
    this.unfinished = null;
  }

  private closeLimited(status: 408 | 503, why: string): void {
    if (this.limitedOut) return;
    this.limitedOut = true;
    this.stopTimer();
    this.actions.holding(0);
    this.actions.limited(why);
    // Every request relayed so far has been answered (none is under way): the front may answer.
    const quiet = this.asked.length === this.unsent.length && !this.responding && !this.held;
    if (!quiet || this.client.writableEnded) {
      this.client.destroy();
      this.upstream.destroy();
      return;
    }
    const body = JSON.stringify({ message: `contid docker front: ${why}` }) + '\n';
    this.upstreamFailed = new Error(why); // the upstream's close must not cut the answer short
    // Nothing more is read; once the answer is out the connection is gone.
    this.client.pause();
    this.client.end(`HTTP/1.1 ${status} ${STATUS_TEXT[status]}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`, () => {
      this.upstream.destroy();
      this.client.destroy();
    });
  }

  /** Forwards framed request segments in order; a call the front acts on waits for its action. */
  private pump(): void {
    while (!this.busy && this.inbox.length) {
      const seg = this.inbox.shift()!;
      this.inboxCost -= cost([seg]);
      if (seg.type === 'end') continue;
      if (seg.type === 'body') {
        if (!this.dropping) this.toUpstream(seg.bytes);
        continue;
      }
      this.dropping = false;
      if (this.lastRequestSent) {
        // dockerd closes after answering a request that said `Connection: close` and never
        // reads what follows; relayed anyway, it was judged (and noted: a start on root's
        // container) for nothing dockerd would run (outside attack 15, F5). Dropped, as dockerd does.
        this.forget(this.unsent.shift()!);
        this.dropping = true;
        continue;
      }
      if (this.unsent[0]?.route && this.answersDue()) {
        // dockerd reads a pipelined request only once it has answered the ones before it: judged
        // now, the call was judged (and noted) on what was true seconds or minutes before dockerd
        // ran it — a removal by a name root's container took meanwhile, a volume create whose
        // note window spanned root's create (outside attack 15, F2, F3). It waits until dockerd
        // would read it, and is judged then.
        this.inbox.unshift(seg);
        this.inboxCost += cost([seg]);
        this.awaitingAnswers = true;
        this.busy = true;
        this.gate();
        return;
      }
      const judged = this.judgedBody(seg);
      if (judged === 'incomplete') return;
      const asked = this.unsent.shift()!;
      if (this.upstreamFailed) return this.badGateway(this.upstreamFailed);
      if (asksToClose(seg.head)) this.lastRequestSent = true;
      if (judged === 'too-large') {
        this.forward(asked, seg.head, seg.bytes, { status: 413, message: `contid docker front: a request body over ${MAX_JUDGED_BODY} bytes is not relayed for this call` });
        continue;
      }
      let verdict: Verdict | void | Promise<Verdict | void> = undefined;
      if (asked.route) {
        try {
          verdict = this.actions.before(asked.route, seg.head, judged?.data);
        } catch (e) {
          verdict = this.failed(seg.head, e);
        }
      }
      if (verdict instanceof Promise) {
        this.busy = true;
        this.gate();
        const go = (v: Verdict | void): void =>
          inOneWrite(this.client, () =>
            inOneWrite(this.upstream, () => {
              this.busy = false;
              this.forward(asked, seg.head, seg.bytes, v, judged?.bytes);
              this.gate();
              this.pump();
              this.account();
            }),
          );
        verdict.then(go, (e: unknown) => go(this.failed(seg.head, e)));
        return;
      }
      this.forward(asked, seg.head, seg.bytes, verdict, judged?.bytes);
    }
    if (this.busy || !this.clientEnded || this.requests.held) return;
    if (this.upstreamFailed) this.client.end();
    else if (!this.upstream.writableEnded) this.upstream.end();
  }

  /** Some request relayed before has not been answered in full yet (dockerd has not read the next one). */
  private answersDue(): boolean {
    return this.asked.length > this.unsent.length || this.responding || this.held !== null;
  }

  /** The call held by pump goes on once every earlier answer is complete. */
  private releaseAwaiting(): void {
    if (!this.awaitingAnswers || this.answersDue() || this.upstreamEnded || this.limitedOut) return;
    this.awaitingAnswers = false;
    this.busy = false;
    this.gate();
    this.pump();
  }

  /** A request never relayed nor answered (after a closing one): out of the order answers are paired in. */
  private forget(asked: Asked): void {
    const i = this.asked.indexOf(asked);
    if (i >= 0) this.asked.splice(i, 1);
  }

  /**
   * A call the front looks at whose judging threw (a look-up it could not make, a name it could
   * not encode): answered 500, never relayed — relayed unjudged, it was whatever the caller
   * wanted (outside attack 13, F5: a create with root's bind-type volume of /etc was made).
   */
  private failed(head: Head, e: unknown): Verdict {
    const why = e instanceof Error ? e.message : String(e);
    this.actions.log(`refused ${escapeText(`${head.method} ${head.url}`)}: cannot judge it: ${escapeText(why)}`);
    return { status: 500, message: `contid docker front: cannot judge this request (${escapeText(why)}); it is not relayed` };
  }

  /**
   * The body of the request whose head is `seg` when the front must judge it (wantsRequestBody):
   * taken out of the inbox once its end is framed (`bytes` as they came, `data` de-chunked);
   * 'incomplete' puts the head back until more arrives; null: not judged, relayed as it comes.
   */
  private judgedBody(seg: Segment & { type: 'head' }): { bytes: Buffer[]; data: Buffer } | 'incomplete' | 'too-large' | null {
    const route = this.unsent[0]?.route;
    if (!route || !this.actions.wantsRequestBody(route)) return null;
    const end = this.inbox.findIndex((s) => s.type !== 'body');
    const parts = (end < 0 ? this.inbox : this.inbox.slice(0, end)) as (Segment & { type: 'body' })[];
    const data = parts.filter((p) => p.data);
    const size = data.reduce((n, p) => n + p.bytes.length, 0);
    if (size > MAX_JUDGED_BODY) {
      // Relayed no further: the rest of this body is dropped as it comes (forward's `dropping`).
      this.inboxCost -= cost(this.inbox.splice(0, parts.length));
      return 'too-large';
    }
    if (end < 0 || this.inbox[end]!.type !== 'end') {
      this.inbox.unshift(seg);
      this.inboxCost += cost([seg]);
      // A client that closes halfway through a body it wants judged gets nothing relayed.
      if (this.clientEnded) {
        this.client.destroy();
        this.upstream.destroy();
      }
      return 'incomplete';
    }
    this.inboxCost -= cost(this.inbox.splice(0, end));
    return { bytes: parts.map((p) => p.bytes), data: Buffer.concat(data.map((p) => p.bytes)) };
  }

  /**
   * A request head goes on as it came, or retargeted, or is answered by the front (its body then
   * dropped). `judged`: a judged body's bytes, taken from the inbox, that goes on after the head.
   */
  private forward(asked: Asked, head: Head, bytes: Buffer, verdict: Verdict | void, judged?: Buffer[]): void {
    if (!verdict) {
      this.toUpstream(bytes);
      for (const b of judged ?? []) this.toUpstream(b);
      return;
    }
    if ('target' in verdict) {
      if (verdict.body) {
        this.toUpstream(withBody(head, bytes, verdict.target, verdict.body));
        this.toUpstream(verdict.body);
        return;
      }
      // The request line is `METHOD SP target SP HTTP/1.x` (parseHead), read as latin1.
      const from = `${head.method} ${head.url}`.length;
      this.toUpstream(Buffer.concat([Buffer.from(`${head.method} ${verdict.target}`, 'latin1'), bytes.subarray(from)]));
      for (const b of judged ?? []) this.toUpstream(b);
      return;
    }
    const body = JSON.stringify({ message: verdict.message }) + '\n';
    // A HEAD answer has headers only (RFC 9110 9.3.2): a body would be read as the next answer.
    asked.local = Buffer.from(`HTTP/1.1 ${verdict.status} ${STATUS_TEXT[verdict.status] ?? 'Error'}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${asked.head ? '' : body}`);
    this.localCost += asked.local.length + SEGMENT_OVERHEAD;
    this.dropping = true;
    this.flushLocals();
  }

  /** The front's own answers now due: those next in order while no answer of dockerd's is under way. */
  private flushLocals(): void {
    while (!this.responding && this.asked[0]?.local) this.writeLocal(this.asked.shift()!);
  }

  private writeLocal(asked: Asked): void {
    asked.answered = true;
    this.localCost -= asked.local!.length + SEGMENT_OVERHEAD;
    this.toClient(asked.local!);
    // An upgrade request answered without a switch: what the client sent after it is requests again.
    if (asked.upgrade) this.framed(() => this.requests.release(false, this.inbox));
  }

  private fromUpstream(chunk: Buffer): void {
    const segs: Segment[] = [];
    this.responses.feed(chunk, segs);
    for (const seg of segs) {
      if (seg.type === 'head') {
        this.answered = true;
        const { asked, localsBefore } = this.answering.shift() ?? { asked: null, localsBefore: [] };
        for (const l of localsBefore) this.writeLocal(l);
        const status = seg.head.status;
        if (status >= 200) this.responding = true;
        if (status === 101) {
          // Switched: what the client sent after its request is the new protocol's.
          this.framed(() => this.requests.release(true, this.inbox));
        } else if (status >= 200 && this.responses.raw) {
          // A close-delimited answer (an old-style hijack): nothing after it is HTTP.
          this.framed(() => this.requests.toRaw(this.inbox));
        } else if (status >= 200 && asked?.upgrade) {
          this.framed(() => this.requests.release(false, this.inbox));
        }
        if (asked?.route && status >= 200) {
          this.actions.responded(asked.route, status);
          if (!this.responses.raw && this.actions.wantsBody(asked.route, status)) {
            this.held = { route: asked.route, status, bytes: [seg.bytes], data: [], size: 0 };
            continue;
          }
        }
        this.toClient(seg.bytes);
      } else if (seg.type === 'body') {
        const h = this.held;
        if (!h) {
          this.toClient(seg.bytes);
          continue;
        }
        h.bytes.push(seg.bytes);
        if (seg.data) {
          h.data.push(seg.bytes);
          h.size += seg.bytes.length;
        }
        if (h.size > MAX_HELD_BODY) {
          this.actions.log(`a response body over ${MAX_HELD_BODY} bytes is relayed without noting its requester`);
          this.flushHeld();
        }
      } else {
        const h = this.held;
        if (h) {
          try {
            this.actions.body(h.route, h.status, Buffer.concat(h.data));
          } catch (e) {
            this.actions.log(`cannot note the requester of a new object: ${escapeText((e as Error).message)}`);
          }
          this.flushHeld();
        }
        this.responding = false;
        this.flushLocals();
      }
    }
    this.releaseAwaiting();
    this.account();
  }

  private flushHeld(): void {
    const h = this.held;
    this.held = null;
    if (h) for (const b of h.bytes) this.toClient(b);
  }

  private upstreamError(e: Error): void {
    if (this.answered) return void this.client.destroy();
    this.upstreamFailed = e;
    if (this.asked.length || this.clientEnded) this.badGateway(e);
  }

  /** The front's own 400 in dockerd's error shape; nothing after it on this connection is relayed. */
  private refuse(problem: string): void {
    const body = JSON.stringify({ message: `contid docker front: ${problem}` }) + '\n';
    this.upstreamFailed = new Error(problem); // the upstream's close must not cut the answer short
    this.client.end(`HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`, () => this.upstream.destroy());
  }

  /** dockerd unreachable before it answered anything: the client gets an answer it can print. */
  private badGateway(e: Error): void {
    if (this.client.writableEnded) return;
    const body = JSON.stringify({ message: `contid docker front: cannot reach dockerd: ${e.message}` }) + '\n';
    this.client.end(`HTTP/1.1 502 Bad Gateway\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
  }

  private toUpstream(bytes: Buffer): void {
    if (!this.upstream.write(bytes) && !this.upWaiting) {
      this.upWaiting = true;
      this.gate();
      this.upstream.once('drain', () => {
        this.upWaiting = false;
        this.gate();
      });
    }
  }

  private toClient(bytes: Buffer): void {
    if (!this.client.write(bytes) && !this.downWaiting) {
      this.downWaiting = true;
      this.upstream.pause();
      this.client.once('drain', () => {
        this.downWaiting = false;
        this.upstream.resume();
      });
    }
  }

  /** The client is read from only while nothing waits: an action, or dockerd taking our writes. */
  private gate(): void {
    if (this.busy || this.upWaiting) this.client.pause();
    else this.client.resume();
  }
}

/**
 * Runs `step` with `socket` corked, so that what it writes there goes out as one write(v) when
 * it returns. The framer cuts what arrives into segments (a head, each chunk's size line, data
 * and CRLF, the last chunk) and the relay writes each: one input chunk of dockerd's — a chunked
 * inspect answer — went out as several system calls, each waking the client to read a piece.
 */
function inOneWrite(socket: net.Socket, step: () => void): void {
  socket.cork();
  try {
    step();
  } finally {
    socket.uncork();
  }
}

/** A request after which dockerd (Go's net/http) closes the connection and reads no more: `Connection: close`, or HTTP/1.0 without keep-alive. */
function asksToClose(head: Head): boolean {
  const connection = tokens(head, 'connection');
  return connection.includes('close') || (head.version === '1.0' && !connection.includes('keep-alive'));
}

/**
 * The head `bytes` of a request with target `target` and a new body `body`: its framing
 * headers (Content-Length, Transfer-Encoding) replaced by the new body's length, every other
 * line kept as it came.
 */
function withBody(head: Head, bytes: Buffer, target: string, body: Buffer): Buffer {
  const lines = bytes.toString('latin1').split('\n').map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
  const kept = lines.slice(1).filter((l) => l !== '' && !/^(content-length|transfer-encoding)\s*:/i.test(l));
  return Buffer.from([`${head.method} ${target} HTTP/${head.version}`, ...kept, `Content-Length: ${body.length}`, '', ''].join('\r\n'), 'latin1');
}

/** What segments cost while held: their bytes, and SEGMENT_OVERHEAD each (limits.ts). */
function cost(segs: Segment[]): number {
  return segs.reduce((n, s) => n + SEGMENT_OVERHEAD + (s.type === 'end' ? 0 : s.bytes.length), 0);
}
