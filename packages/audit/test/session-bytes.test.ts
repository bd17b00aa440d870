import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { AuditRecord, kernelSession, parseRecord, parseRecordBytes, sessionValue } from '@contid/audit';
import { checkSessionRanges } from '../src/index-check';
import { LineHeads, canonicalStamp, eventKey, stampSpan } from '../src/event-key';

/**
 * The raw paths of an indexed search read an event's session from the bytes of its first
 * record (kernelSession without a string) and check every range of the index by byte loops.
 * Both must say what the slow, obvious reading says on any line an attacker can shape: the
 * kernel's `ses=` (the record's fields split whole, msg='…' body and ENRICHED part aside) —
 * text in a payload never shadows it — and, for the check, the indexer's own line reading.
 */

/** The reference: the record split whole, its ses= as sessionOf takes it. */
function splitSession(line: string): number | null | undefined {
  const rec = parseRecord(line);
  if (rec === null) return undefined;
  const ses = rec.fields.get('ses');
  return ses === undefined ? undefined : sessionValue(ses);
}

/** The line inside a larger buffer whose bytes after it hold a ses= and a msg=' that must not be read. */
function fromBytes(line: string): AuditRecord | null {
  const buf = Buffer.from(`x ses=3 msg='\n${line}\n ses=7 msg='a ses=8'\x1d ses=9`, 'latin1');
  const start = buf.indexOf('\n') + 1;
  return parseRecordBytes(buf, start, start + Buffer.byteLength(line, 'latin1'), 0);
}

const HEADS = ['type=SYSCALL msg=audit(1795000000.123:42): ', 'node=h1 type=USER_START msg=audit(1.5:7): ', 'type=LOGIN msg=audit(12.000:1): '];
/** Tokens of kernel and user records, and what a sender may put in a payload to shadow the kernel's ses=. */
const token = fc.constantFrom(
  'ses=7', 'ses=0', 'ses=4294967295', 'ses=04294967295', 'ses=1234567890', 'ses=12345678901', 'ses=', 'ses="5"', 'ses=5x', 'ses=00012', 'ses=-1',
  'old-ses=3', 'xses=4', 'auid=0', 'pid=12', 'tty=(none)', 'comm="a ses=9"', 'exe="/bin/sh"', "msg='op=x ses=6 res=1'", "msg='", "'", 'msg=',
  '"', '"q ses=2"', 'ses', '=7', 'se', '\t', '\xa0', '\x85', '\v', ' ', '  ', 'ses=7\tx', 'ses=7\xa0', '\x1dSES=1 ses=8', '\x1d', 'proctitle=736573',
);
const line = fc.tuple(fc.constantFrom(...HEADS), fc.array(token, { maxLength: 12 }), fc.array(fc.constantFrom(' ', '', '\t'), { minLength: 12, maxLength: 12 }))
  .map(([head, tokens, seps]) => head + tokens.map((t, i) => t + seps[i]).join(' '));

describe('kernelSession reads the kernel ses= from bytes as the whole split does', () => {
  it('on crafted records: payload text never shadows the header (property)', () => {
    fc.assert(
      fc.property(line, (l) => {
        const want = splitSession(l);
        expect([l, kernelSession(fromBytes(l)!)]).toEqual([l, want]);
        expect([l, kernelSession(parseRecord(l)!)]).toEqual([l, want]);
      }),
      { numRuns: 5000 },
    );
  });

  it('on the cases that matter by name', () => {
    const cases: [string, number | null | undefined][] = [
      ['type=SYSCALL msg=audit(1.0:1): pid=1 auid=0 tty=(none) ses=7 comm="x"', 7],
      ["type=USER msg=audit(1.0:1): pid=1 uid=0 auid=0 ses=7 msg='op=x ses=5 res=1'", 7],
      ["type=USER msg=audit(1.0:1): pid=1 uid=0 auid=0 msg='op=x ses=5 res=1'", undefined],
      ['type=AVC msg=audit(1.0:1): comm="a ses=9" ses=3', 3],
      ['type=AVC msg=audit(1.0:1): comm="a ses=9"', undefined],
      ['type=LOGIN msg=audit(1.0:1): pid=1 old-ses=4294967295 ses=12 res=1', 12],
      ['type=SYSCALL msg=audit(1.0:1): pid=1 a=bses=5 ses=7', 7],
      ['type=SYSCALL msg=audit(1.0:1): pid=1 x:ses=5 ses=7', 5],
      ['type=SYSCALL msg=audit(1.0:1): pid=1 a="b"ses=5 ses=7', 5],
      ['type=SYSCALL msg=audit(1.0:1): pid=1 old-ses=5 xses=6', undefined],
      ['type=SYSCALL msg=audit(1.0:1): pid=1 ses=4294967295', null],
      ['type=SYSCALL msg=audit(1.0:1): pid=1\x1dSES=5 ses=5', undefined],
      ['type=SYSCALL msg=audit(1.0:1): pid=1\tses=5', 5],
      ['type=SYSCALL msg=audit(1.0:1): ses=12345678901', null],
    ];
    for (const [l, want] of cases) {
      expect([l, splitSession(l), kernelSession(fromBytes(l)!)]).toEqual([l, want, want]);
    }
  });

  it('on every line of the golden corpus', () => {
    const dir = join(__dirname, 'fixtures');
    let lines = 0;
    for (const name of readdirSync(dir).filter((f) => f.endsWith('.log'))) {
      for (const l of readFileSync(join(dir, name), 'latin1').split('\n')) {
        const rec = fromBytes(l);
        if (rec === null) continue;
        expect([l, kernelSession(rec)]).toEqual([l, splitSession(l)]);
        lines++;
      }
    }
    expect(lines).toBeGreaterThan(100);
  });
});

describe('LineHeads and canonicalStamp: how the check reads lines', () => {
  const piece = fc.constantFrom('node=a ', 'type=SYSCALL', ' msg=audit(', 'msg=audit(', '1795000000', '.', '123', ':', '42', ')', '): ', ' ses=', 'ses=', '7', ' ', 'x'.repeat(150), '\n', '\x1d', '"', "msg='", "'", '\t', '4294967295', 'old-', 'ses', '=7');
  it('finds what indexOf, stampSpan and the split find, line after line (property)', () => {
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 24 }), (pieces) => {
        const buf = Buffer.from(`${pieces.join('')}\n`, 'latin1');
        const heads = new LineHeads();
        heads.reset(buf);
        for (let start = 0; start < buf.length; ) {
          const end = buf.indexOf(0x0a, start);
          const span = stampSpan(buf, start, end);
          const want = span && { end, from: span.from, to: span.to, ses: splitSession(buf.toString('latin1', start, end)) };
          const got = heads.read(start) ? { end: heads.end, from: heads.from, to: heads.to, ses: heads.ses } : null;
          expect(got).toEqual(want);
          start = end + 1;
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('reads a stamp as numbers only when they give back its text', () => {
    const into = { timeMs: 0, serial: 0 };
    fc.assert(
      fc.property(fc.stringMatching(/^[0-9]{0,14}(\.[0-9]{0,4})?(:[0-9]{0,17})?$/), (text) => {
        const buf = Buffer.from(`(${text})`, 'latin1');
        if (!canonicalStamp(buf, 1, buf.length - 1, into)) return;
        expect(`${Math.floor(into.timeMs / 1000)}.${String(into.timeMs % 1000).padStart(3, '0')}:${into.serial}`).toBe(text);
      }),
      { numRuns: 3000 },
    );
    expect(canonicalStamp(Buffer.from('1795000000.123:42'), 0, 17, into)).toBe(true);
    expect(into).toEqual({ timeMs: 1795000000123, serial: 42 });
    for (const t of ['01.123:4', '1.12:4', '1.123:04', '1.123', '1:4', '1.123:1234567890123456']) expect([t, canonicalStamp(Buffer.from(t), 0, t.length, into)]).toEqual([t, false]);
  });
});

/**
 * checkSessionRanges as its doc says it, line by line with the indexer's grouping, the scan's
 * split for each line's session, and nothing shared between lines: the reference the byte
 * loops are held to.
 */
function referenceCheck(text: Buffer, session: number, pairs: number[]): boolean {
  const withSession = new Set<string>();
  const without = new Set<string>();
  for (let i = 0; i < pairs.length; i += 2) {
    const [s, e] = [pairs[i], pairs[i + 1]];
    if (s > 0 && text[s - 1] !== 0x0a) return false;
    if (text[e - 1] !== 0x0a) return false;
    const buf = text.subarray(s, e);
    for (let ls = 0; ls < buf.length; ) {
      const le = buf.indexOf(0x0a, ls);
      const span = stampSpan(buf, ls, le);
      if (span === null) return false;
      const key = eventKey(buf, ls, span.from, span.to);
      // the session a scan reads (the record split whole); any other, unset included, refuses
      const v = splitSession(buf.toString('latin1', ls, le));
      if (v !== undefined && v !== session) return false;
      (v !== undefined ? withSession : without).add(key);
      ls = le + 1;
    }
  }
  return [...without].every((k) => withSession.has(k));
}

describe('checkSessionRanges', () => {
  const dir = mkdtempSync(join(tmpdir(), 'contid-check-ranges-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  // stamps as the kernel writes them (numbers in the check) and spelt otherwise (text keys)
  const record = fc.tuple(
    fc.constantFrom('', 'node=a ', 'node=b '),
    fc.constantFrom('SYSCALL', 'PATH', 'PROCTITLE', 'USER_START'),
    fc.integer({ min: 1, max: 3 }),
    fc.constantFrom('1795000000.00#:#', '1795000000.00#:#', '1795000000.#:#', '1795000000.00#:0#'),
    fc.constantFrom('ses=5', 'ses=6', 'ses=4294967295', 'ses=x', 'name="a ses=6"', "msg='ses=6'", 'item=0', '', 'name="a ses=5" ses=6', 'name="a ses=6" ses=5', 'ses=5\x1d SES=6 ses=6', 'ses=6\tx', '\tses=5'),
  ).map(([node, type, serial, stamp, tail]) => `${node}type=${type} msg=audit(${stamp.replace(/#/g, String(serial))}): pid=1 ${tail}`);
  const logLines = fc.array(fc.oneof({ weight: 12, arbitrary: record }, { weight: 1, arbitrary: fc.constantFrom('garbage', '') }), { minLength: 1, maxLength: 20 });

  it('agrees with the line-by-line reading on any ranges of any lines (property)', () => {
    let run = 0;
    let accepted = 0;
    const cut = fc.oneof({ weight: 8, arbitrary: fc.nat(40).map((n) => ({ line: n })) }, { weight: 1, arbitrary: fc.nat(800).map((n) => ({ byte: n })) });
    fc.assert(
      fc.property(logLines, fc.array(cut, { maxLength: 12 }), fc.constantFrom(5, 6), (lines, cuts, session) => {
        const text = Buffer.from(lines.join('\n') + '\n', 'latin1');
        const lineStarts = [0];
        for (let i = text.indexOf(0x0a); i >= 0; i = text.indexOf(0x0a, i + 1)) lineStarts.push(i + 1);
        // ascending disjoint ranges from cut points: mostly line boundaries, sometimes any byte
        const at = (c: { line?: number; byte?: number }): number => (c.line !== undefined ? lineStarts[c.line % lineStarts.length] : c.byte! % (text.length + 1));
        const points = [...new Set(cuts.map(at))].sort((a, b) => a - b);
        const pairs: number[] = [];
        for (let i = 0; i + 1 < points.length; i += 2) pairs.push(points[i], points[i + 1]);
        const file = join(dir, `log-${run++}`);
        writeFileSync(file, text);
        const got = checkSessionRanges(file, session, Float64Array.from(pairs));
        if (got === null) accepted++;
        expect([lines, pairs, got === null]).toEqual([lines, pairs, referenceCheck(text, session, pairs)]);
      }),
      { numRuns: 2000 },
    );
    // the property also covers ranges the check accepts, not only refusals
    expect(accepted).toBeGreaterThan(100);
  });
});
