import fc from 'fast-check';
import { Framer, FramingError, Head, Segment, framingOf } from '../src/front/http-framing';

/** Frames `input` fed in pieces cut at `cuts`; returns the segments with their bytes joined per run of kind. */
function frame(input: string, cuts: number[], request = true, lenient = false): { heads: Head[]; bytes: string; ends: number; body: string } {
  const f = new Framer(request, lenient, (h) => ({ body: framingOf(h, request ? { kind: 'none' } : { kind: 'rest' }) }));
  const out: Segment[] = [];
  const buf = Buffer.from(input, 'latin1');
  let at = 0;
  for (const c of [...cuts.filter((x) => x > 0 && x < buf.length)].sort((a, b) => a - b)) {
    f.feed(buf.subarray(at, c), out);
    at = c;
  }
  f.feed(buf.subarray(at), out);
  return {
    heads: out.flatMap((s) => (s.type === 'head' ? [s.head] : [])),
    bytes: out.map((s) => (s.type === 'end' ? '' : s.bytes.toString('latin1'))).join(''),
    ends: out.filter((s) => s.type === 'end').length,
    body: out.map((s) => (s.type === 'body' && s.data ? s.bytes.toString('latin1') : '')).join(''),
  };
}

const PIPELINED =
  'HEAD /_ping HTTP/1.1\r\nHost: api\r\n\r\n' +
  'POST /v1.41/containers/create?name=web HTTP/1.1\r\nHost: api\r\nContent-Type: application/json\r\nContent-Length: 13\r\n\r\n{"Image":"x"}' +
  'POST /v1.41/build HTTP/1.1\r\nHost: api\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n3\r\n, w\r\n0\r\nX-Trailer: t\r\n\r\n' +
  'GET /v1.41/containers/json HTTP/1.1\nHost: api\n\n';

describe('HTTP/1 framing for the front\'s byte relay', () => {
  test('pipelined requests on one keep-alive connection: heads, bodies by length and by chunks, bare LF lines', () => {
    const r = frame(PIPELINED, []);
    expect(r.heads.map((h) => `${h.method} ${h.url}`)).toEqual(['HEAD /_ping', 'POST /v1.41/containers/create?name=web', 'POST /v1.41/build', 'GET /v1.41/containers/json']);
    expect(r.ends).toBe(4);
    expect(r.bytes).toBe(PIPELINED);
    expect(r.body).toBe('{"Image":"x"}hello, w');
  });

  test('the same segments however the bytes are cut (every byte relayed once, in order)', () => {
    const whole = frame(PIPELINED, []);
    fc.assert(
      fc.property(fc.array(fc.nat(PIPELINED.length), { maxLength: 40 }), (cuts) => {
        const r = frame(PIPELINED, cuts);
        expect(r).toEqual(whole);
      }),
    );
  });

  test('responses: a status, a body until close when there is no length', () => {
    const text = 'HTTP/1.1 201 Created\r\nContent-Length: 9\r\n\r\n{"Id":""}HTTP/1.1 200 OK\r\nContent-Type: application/vnd.docker.raw-stream\r\n\r\nraw stream bytes';
    const r = frame(text, [30, 60], false);
    expect(r.heads.map((h) => h.status)).toEqual([201, 200]);
    expect(r.bytes).toBe(text);
    expect(r.ends).toBe(1);
  });

  test.each([
    ['a folded header line', 'POST /x HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n'],
    ['two different lengths', 'POST /x HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab'],
    ['a length that is no number', 'POST /x HTTP/1.1\r\nContent-Length: 1x\r\n\r\nab'],
    ['a transfer coding other than chunked last', 'POST /x HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n'],
    ['a bad chunk size', 'POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n'],
    ['not HTTP', 'hello there\r\n\r\n'],
  ])('a request the front cannot frame exactly is refused, never guessed at: %s', (_what, text) => {
    expect(() => frame(text, [])).toThrow(FramingError);
  });

  test('in a response, chunked wins over Content-Length (RFC 9112 §6.3)', () => {
    const text = 'HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n';
    expect(frame(text, [], false).heads.map((h) => h.status)).toEqual([200, 204]);
  });

  // outside attack 13, F1: dockerd (Go) reads an HTTP/1.0 request's Content-Length, never its
  // Transfer-Encoding; a chunk the front relayed as a /_ping's body was two requests to dockerd
  test.each([
    ['Transfer-Encoding in HTTP/1.0, with a Content-Length', 'GET /_ping HTTP/1.0\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n1\r\na\r\n0\r\n\r\n'],
    ['Transfer-Encoding in HTTP/1.0 alone', 'GET /_ping HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n\r\n'],
    ['both Transfer-Encoding and Content-Length in HTTP/1.1', 'POST /x HTTP/1.1\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n\r\n'],
    ['two codings', 'POST /x HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n1\r\na\r\n0\r\n\r\n'],
  ])('a request dockerd would frame otherwise is refused: %s', (_what, text) => {
    expect(() => frame(text, [])).toThrow(FramingError);
  });

  test('a lenient framer (dockerd\'s side) relays what it cannot frame', () => {
    const text = 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokgarbage that is not HTTP\r\n\r\nmore';
    const r = frame(text, [], false, true);
    expect(r.bytes).toBe(text);
  });

  test('after an upgrade request the input is held until released: raw, or framed again', () => {
    const out: Segment[] = [];
    const f = new Framer(true, false, (h) => ({ body: framingOf(h, { kind: 'none' }), holdAfter: () => h.headers.has('upgrade') }));
    f.feed(Buffer.from('POST /exec/1/start HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 2\r\n\r\n{}GET /a HTTP/1.1\r\n\r\n'), out);
    expect(f.held).toBe(true);
    const before = out.length;
    f.release(false, out);
    expect(out.slice(before).some((s) => s.type === 'head' && s.head.url === '/a')).toBe(true);
    const raw: Segment[] = [];
    const g = new Framer(true, false, (h) => ({ body: framingOf(h, { kind: 'none' }), holdAfter: () => true }));
    g.feed(Buffer.from('POST /exec/1/start HTTP/1.1\r\nUpgrade: tcp\r\nConnection: Upgrade\r\n\r\nstdin bytes'), raw);
    g.release(true, raw);
    g.feed(Buffer.from(' and more'), raw);
    expect(raw.filter((s) => s.type === 'body').map((s) => (s as { bytes: Buffer }).bytes.toString()).join('')).toBe('stdin bytes and more');
  });
});
