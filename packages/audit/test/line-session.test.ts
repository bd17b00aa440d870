import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { checkSessionRanges } from '../src/index-check';
import { LineHeads, eventKey, stampSpan } from '../src/event-key';
import { kernelSession, parseRecord, parseRecordBytes, sessionOfRecordLine, sessionValue } from '../src/record';
import { SearchIndex } from '../src/search-index';

/**
 * attack34b (index-session-shadow): the index filed a line under the first ` ses=` after its
 * stamp, the scan under the kernel's ses= field. The index builder and its check now read a
 * line's session through sessionOfRecordLine, the decoded paths' own reader. These hold it to
 * the obvious reading — the record parsed from its text and its fields split whole, the first
 * `ses` field (sessionOf's rule) — on the shapes a sender to a collector can write, wherever
 * the line lies in its buffer; and hold the index to filing every event where a scan would.
 */

/** The reference: the line as text, parsed and split whole. */
function splitSession(line: string): number | null | undefined {
  const ses = parseRecord(line)?.fields.get('ses');
  return ses === undefined ? undefined : sessionValue(ses);
}

/** The line between neighbours whose bytes must not be read: a ses=, a msg=' and a 0x1D before and after it. */
function placed(line: string): { buf: Buffer; start: number; end: number } {
  const before = "type=USER msg=audit(1.000:1): ses=3 msg='x ses=4'\x1d ses=5\n";
  const buf = Buffer.from(`${before}${line}\n ses=7 msg='a ses=8'\x1d ses=9 "\t`, 'latin1');
  return { buf, start: before.length, end: before.length + Buffer.byteLength(line, 'latin1') };
}

/** Every reader of one line's session: the index's, the check's, the decoded paths' (bytes and text) and the reference. */
function readers(line: string): Record<string, number | null | undefined> {
  const { buf, start, end } = placed(line);
  const heads = new LineHeads();
  heads.reset(buf);
  const rec = parseRecordBytes(buf, start, end, 0);
  const text = parseRecord(line);
  return {
    index: sessionOfRecordLine(buf, start, end),
    check: heads.read(start) ? heads.ses : undefined,
    bytes: rec === null ? undefined : kernelSession(rec),
    text: text === null ? undefined : kernelSession(text),
    split: splitSession(line),
  };
}

const all = (v: number | null | undefined): Record<string, number | null | undefined> => ({ index: v, check: v, bytes: v, text: v, split: v });

const SYS = 'type=SYSCALL msg=audit(1795927031.700:900001): arch=c000003e syscall=257 success=yes exit=3 pid=4242 auid=0 uid=0 tty=(none)';

describe('sessionOfRecordLine: the scan\'s session, read by the index and its check', () => {
  it.each<[string, string, number | null | undefined]>([
    ['the kernel\'s ses=', `${SYS} ses=77 comm="a" exe="/usr/bin/cat"`, 77],
    ['a quoted value saying ses= before it (attack34b a)', `${SYS} comm="a ses=1625" ses=77`, 77],
    ['a quoted value saying ses= before it (attack34b b)', `${SYS} comm="a ses=77" ses=1625`, 1625],
    ['a quoted value saying ses=, no ses= of its own', `${SYS} comm="a ses=1625"`, undefined],
    ['a quoted value that starts with ses=', `${SYS} comm="ses=1625" ses=77`, 77],
    ['ses= itself quoted', `${SYS} ses="1625"`, null],
    ['ses= in a msg= body after the kernel\'s', "type=USER_START msg=audit(1.000:2): pid=1 uid=0 auid=0 ses=7 msg='op=x ses=1625 res=1'", 7],
    ['ses= in a msg= body, none outside', "type=USER_START msg=audit(1.000:2): pid=1 uid=0 auid=0 msg='op=x ses=1625 res=1'", undefined],
    ['ses= in a msg= body before the kernel\'s', "type=USER msg=audit(1.000:2): pid=1 msg='ses=1625' ses=7", 7],
    ['a msg= body right after the value (the split cuts it out)', "type=USER msg=audit(1.000:2): pid=1 ses=7msg='op=x ses=1625'", 7],
    ['a msg= body right after ses=', "type=USER msg=audit(1.000:2): pid=1 ses=msg='op=x' ses=1625", null],
    ['a ses= the body\'s cut makes (`ses` + body + `=7`)', "type=USER msg=audit(1.000:2): pid=1 sesmsg='op=x'=7", 7],
    ['an unterminated msg= body', "type=USER msg=audit(1.000:2): pid=1 msg='op=x ses=1625", undefined],
    ['a node= prefix', `node=web01 ${SYS} ses=77`, 77],
    ['a node= prefix with ses= in it', 'node=a ses=9 type=SYSCALL msg=audit(1.000:2): pid=1 ses=77', undefined],
    ['a node= prefix naming ses=', 'node=ses=9 type=SYSCALL msg=audit(1.000:2): pid=1 ses=77', 77],
    ['a tab before ses=', `${SYS}\tses=77`, 77],
    ['a tab after the value', `${SYS} ses=77\tcomm="x"`, 77],
    ['a tab inside a quoted value before', `${SYS} comm="a\tses=1625" ses=77`, 77],
    ['two spaces', `${SYS}  ses=77  comm="x"`, 77],
    ['a no-break space (latin1 0xA0) before', `${SYS}\xa0ses=77`, 77],
    ['a vertical tab in the value', `${SYS} ses=7\x0b7`, 7],
    ['at the end of the line', `${SYS} ses=77`, 77],
    ['unset', `${SYS} ses=4294967295 comm="x"`, null],
    ['unset, quoted text naming a session before', `${SYS} comm="a ses=1625" ses=4294967295`, null],
    ['11 digits', `${SYS} ses=12345678901`, null],
    ['leading zeros', `${SYS} ses=00077`, 77],
    ['not digits', `${SYS} ses=7x`, null],
    ['empty', `${SYS} ses= comm="x"`, null],
    ['negative', `${SYS} ses=-1`, null],
    ['missing', `${SYS} comm="x"`, undefined],
    ['old-ses= only', 'type=LOGIN msg=audit(1.000:2): pid=1 old-ses=4294967295', undefined],
    ['LOGIN: old-ses= then ses=', 'type=LOGIN msg=audit(1.000:2): pid=1 old-auid=4294967295 auid=0 tty=(none) old-ses=4294967295 ses=12 res=1', 12],
    ['a longer name ending in ses=', `${SYS} xses=1625 ses=77`, 77],
    ['ses= after a colon (a name of its own to the split)', `${SYS} x:ses=1625 ses=77`, 1625],
    ['enriched: ses= after 0x1D only', `${SYS} comm="x"\x1dSES=1625 ses=1625`, undefined],
    ['enriched: the kernel\'s ses= before 0x1D', `${SYS} ses=77\x1dAUID="root" ses=1625`, 77],
    ['enriched: a quote before 0x1D, ses= after it', `${SYS} comm="a\x1d ses=1625"`, undefined],
    ['a stamp without its colon', 'type=DAEMON_CONFIG msg=audit(1.000:34) op=x ses=77', 77],
    ['a type name holding a stamp (the head is the scan\'s)', 'type=msg=audit(1.000:1)ses=5 msg=audit(1.000:2): ses=77', 77],
    ['not a record', 'xx type=SYSCALL msg=audit(1.000:2): ses=77', undefined],
  ])('%s', (_label, line, want) => {
    expect(readers(line)).toEqual(all(want));
  });

  const HEADS = ['type=SYSCALL msg=audit(1795000000.123:42): ', 'node=h1 type=USER_START msg=audit(1.5:7): ', 'node=ses=1 type=LOGIN msg=audit(12.000:1): ', 'type=AVC msg=audit(1.000:3) '];
  const token = fc.constantFrom(
    'ses=7', 'ses=1625', 'ses=4294967295', 'ses=', 'ses="5"', 'ses=5x', 'ses=007', 'old-ses=3', 'xses=4', 'x:ses=6', 'pid=12',
    'comm="a ses=9"', 'comm="ses=9"', '"', "msg='op=x ses=6 res=1'", "msg='", "'", 'msg=', 'ses', 's', '=7', '\t', '\xa0', '\v', ' ', '\x1d', '\x1dSES=1 ses=8', 'a', '=',
  );
  const line = fc
    .tuple(fc.constantFrom(...HEADS), fc.array(token, { maxLength: 14 }), fc.array(fc.constantFrom(' ', '', '\t'), { minLength: 14, maxLength: 14 }))
    .map(([head, tokens, seps]) => head + tokens.map((t, i) => t + seps[i]).join(' '));

  it('every reader says what the split says, on any line of hostile tokens (property)', () => {
    fc.assert(
      fc.property(line, (l) => {
        const got = readers(l);
        expect([l, got]).toEqual([l, all(got.split)]);
      }),
      { numRuns: 5000 },
    );
  });
});

describe('the index files each event under the session a scan gives it', () => {
  const dir = mkdtempSync(join(tmpdir(), 'contid-line-session-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  // events of one stamp each (their lines adjacent, as a log writes them), with hostile session text
  const tail = fc.constantFrom('ses=5', 'ses=6', 'comm="a ses=5" ses=6', 'comm="a ses=6" ses=5', 'ses=4294967295', 'comm="a ses=5"', "msg='op=x ses=5' ses=6", "ses=6 msg='op=x ses=5'", 'ses=5\x1d ses=6', '\tses=6', 'item=0', '');
  const event = fc.tuple(fc.constantFrom('', 'node=a '), fc.array(tail, { minLength: 1, maxLength: 3 }));
  const log = fc.array(event, { minLength: 1, maxLength: 12 }).map((events) =>
    events.flatMap(([node, tails], i) => tails.map((t, k) => `${node}type=${k === 0 ? 'SYSCALL' : 'PATH'} msg=audit(1795000000.${String(i).padStart(3, '0')}:${i + 1}): pid=1 ${t}`)),
  );

  it('the ranges of S hold exactly the lines of the events whose first ses= is S (property)', () => {
    let run = 0;
    let mixed = 0;
    fc.assert(
      fc.property(log, (lines) => {
        const file = join(dir, `log-${run}`);
        const text = lines.join('\n') + '\n';
        writeFileSync(file, text, 'latin1');
        const index = SearchIndex.open(join(dir, `idx-${run++}`));
        try {
          index.build(file);
          const entry = index.lookup(file)!;
          // the scan's reading: an event (node and stamp) is its first line's that names a session
          const sessionOfKey = new Map<string, number | null>();
          const keyOf = (l: string): string => {
            const b = Buffer.from(l, 'latin1');
            const span = stampSpan(b, 0, b.length)!;
            return eventKey(b, 0, span.from, span.to);
          };
          for (const l of lines) {
            const s = splitSession(l);
            if (s !== undefined && !sessionOfKey.has(keyOf(l))) sessionOfKey.set(keyOf(l), s);
          }
          for (const session of [5, 6]) {
            const pairs = index.sessionRanges(entry, session);
            const got: string[] = [];
            for (let i = 0; i < pairs.length; i += 2) got.push(...text.slice(pairs[i], pairs[i + 1]).split('\n').filter(Boolean));
            const want = lines.filter((l) => sessionOfKey.get(keyOf(l)) === session);
            expect([lines, session, got]).toEqual([lines, session, want]);
            // the check accepts them, unless a line of them names another session (the log is then scanned)
            const other = want.some((l) => { const v = splitSession(l); return v !== undefined && v !== session; });
            if (other) mixed++;
            expect([lines, session, checkSessionRanges(file, session, pairs) === null]).toEqual([lines, session, !other]);
          }
        } finally {
          index.close();
        }
      }),
      { numRuns: 300 },
    );
    expect(mixed).toBeGreaterThan(10);
  });
});
