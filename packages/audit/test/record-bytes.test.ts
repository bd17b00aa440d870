import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { AuditEvent, AuditRecord, Reassembler, parseRecord, parseRecordBytes, recordRawBytes, scanLines } from '@contid/audit';

/**
 * The full scan reads a record's head from its bytes (parseRecordBytes) where everything else
 * parses the line's string (parseRecord, the HEAD grammar): both must see the same record — or
 * none — on every line, or the scan would group, skip or print differently.
 */
const view = (r: AuditRecord | null): unknown =>
  r && {
    node: r.node,
    type: r.type,
    typeNumber: r.typeNumber,
    time: r.time,
    timeMs: r.timeMs,
    serial: r.serial,
    serialText: r.serialText,
    raw: r.raw,
    offset: r.offset,
    fields: [...r.fields],
    msg: [...r.msg],
    body: r.body,
    enriched: r.enriched && [...r.enriched],
    enrichedText: r.enrichedText ?? null,
  };

/** The line inside a larger buffer (bytes around it that must not be read), as the scan hands it. */
function fromBytes(line: string, offset = 7): AuditRecord | null {
  const buf = Buffer.from(`x\x1d)\n${line}\n\x1d:9)`, 'latin1');
  return parseRecordBytes(buf, 4, 4 + Buffer.byteLength(line, 'latin1'), offset);
}

const latin1 = (codes: number[]): string => String.fromCharCode(...codes);
/** Pieces a head is made of, and the bytes that break it: digits, blanks of every kind, 0x1D. */
const piece = fc.constantFrom(
  'node=', 'node=h1 ', 'type=', 'SYSCALL', 'UNKNOWN[1336]', 'DAEMON_START', ' msg=audit(', 'msg=audit(', '(', ')', '):', ') ', ':', '.', '0', '00', '1',
  '123', '1795000000', '0001795000000', '999999999999', '1234567890123', '9007199254740993', '000000000000000000042', '12345678901234567890',
  ' ', '\t', '\xa0', '\x85', '\x1d', 'a=1', ' ses=5', "msg='op=x res=1'", '"q w"', 'ENRICHED=x',
);
const arbitraryLine = fc.oneof(
  fc.array(piece, { maxLength: 14 }).map((p) => p.join('')),
  fc.tuple(
    fc.option(fc.constantFrom('node=h1 ', 'node=a\tb ', 'node= ', 'node=x\xa0y ')),
    fc.constantFrom('SYSCALL', 'PATH', 'EOE', 'LOGIN', 'UNKNOWN[1334]', 'WEIRD_TYPE', 'T\x85'),
    fc.stringMatching(/^\d{0,14}$/),
    fc.option(fc.stringMatching(/^\d{0,5}$/)),
    fc.option(fc.stringMatching(/^\d{0,22}$/)),
    fc.constantFrom('): a=1', ') a=1', ')', '):', ')x', '', ': a=1', '):\x1dA=B', '): msg=\'a=b\'\x1dUID="root"'),
  ).map(([node, type, sec, ms, serial, tail]) => `${node ?? ''}type=${type} msg=audit(${sec}${ms === null ? '' : `.${ms}`}${serial === null ? '' : `:${serial}`}${tail}`),
  fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 40 }).map(latin1),
);

describe('parseRecordBytes reads every head as parseRecord does', () => {
  it('on arbitrary lines: the same record, or none (property)', () => {
    fc.assert(
      fc.property(arbitraryLine, (line) => {
        expect(view(fromBytes(line))).toEqual(view(parseRecord(line, 7)));
      }),
      { numRuns: 3000 },
    );
  });

  it('many lines of one buffer, some with ENRICHED parts, read in order or not: each as parseRecord reads it (property)', () => {
    const withoutNewline = arbitraryLine.filter((l) => !l.includes('\n'));
    fc.assert(
      fc.property(fc.array(withoutNewline, { minLength: 1, maxLength: 12 }), fc.array(fc.nat(), { maxLength: 12 }), (lines, order) => {
        const buf = Buffer.from(lines.join('\n') + '\n', 'latin1');
        const spans: [number, number][] = [];
        for (let s = 0, e = buf.indexOf(10); e >= 0; s = e + 1, e = buf.indexOf(10, s)) spans.push([s, e]);
        // in order (as the scan reads), then some again out of order
        const picks = [...spans.keys(), ...order.map((n) => n % spans.length)];
        for (const i of picks) expect(view(parseRecordBytes(buf, spans[i][0], spans[i][1], 7))).toEqual(view(parseRecord(lines[i], 7)));
      }),
      { numRuns: 1000 },
    );
  });

  it('on every line of the golden corpus', () => {
    const dir = join(__dirname, 'fixtures');
    let lines = 0;
    for (const name of readdirSync(dir).filter((f) => f.endsWith('.log'))) {
      for (const line of readFileSync(join(dir, name), 'latin1').split('\n')) {
        expect(view(fromBytes(line))).toEqual(view(parseRecord(line, 7)));
        lines++;
      }
    }
    expect(lines).toBeGreaterThan(100);
  });

  it('hands out the raw bytes, up to the ENRICHED part, until the record is made a string', () => {
    const rec = fromBytes('type=USER msg=audit(1.5:2): a=\xff\x1dUID="root"')!;
    const bytes = recordRawBytes(rec)!;
    expect(bytes.buf.toString('latin1', bytes.start, bytes.end)).toBe('type=USER msg=audit(1.5:2): a=\xff');
    expect(rec.time).toBe('1.005');
    expect(rec.raw).toBe('type=USER msg=audit(1.5:2): a=\xff');
    expect(recordRawBytes(rec)).toBeNull();
    expect(recordRawBytes(parseRecord('type=USER msg=audit(1.5:2): a=1')!)).toBeNull();
  });
});

describe('Reassembler: records keyed by serial alone still group by whole stamp', () => {
  const stamp = fc.record({ sec: fc.integer({ min: 1, max: 4 }), ms: fc.integer({ min: 0, max: 2 }), serial: fc.integer({ min: 1, max: 4 }) });
  const shape = (evs: AuditEvent[]): string[] => evs.map((e) => `${e.node}|${e.time}:${e.serialText ?? String(e.serial)}:${e.records.map((r) => r.raw.split(' ').pop()).join(',')}`);

  it('equals the same records with a node= on each (string keys only) (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(stamp, fc.constantFrom('SYSCALL', 'PATH', 'LOGIN', 'EOE', 'PROCTITLE')), { maxLength: 40 }), (recs) => {
        const lines = recs.map(([s, type], i) => `type=${type} msg=audit(${s.sec}.${String(s.ms).padStart(3, '0')}:${s.serial}): i=${i}`);
        // the same stamps with a node= prefix take the string keys throughout: the reference
        const run = (prefix: string): string[] => {
          const r = new Reassembler();
          const out = lines.flatMap((l) => r.push(parseRecord(`${prefix}${l}`)!));
          return shape([...out, ...r.flush()]).map((s) => s.replace(/^[^|]*\|/, ''));
        };
        expect(run('')).toEqual(run('node=h1 '));
      }),
      { numRuns: 500 },
    );
  });
});

describe('scanLines keepChunks: the bytes of every line handed out stay as they were read', () => {
  it('across small chunks, long lines that grow the buffer and lines over the cap (property)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'contid-keep-chunks-'));
    try {
      fc.assert(
        fc.property(fc.array(fc.integer({ min: 0, max: 300 }), { minLength: 1, maxLength: 40 }), fc.boolean(), (lengths, lastNewline) => {
          const lines = lengths.map((n, i) => String.fromCharCode(97 + (i % 26)).repeat(n));
          const file = join(dir, 'log');
          writeFileSync(file, lines.join('\n') + (lastNewline ? '\n' : ''), 'latin1');
          const seen: { buf: Buffer; start: number; end: number }[] = [];
          const over: number[] = [];
          scanLines(file, (buf, start, end) => void seen.push({ buf, start, end }), { chunkBytes: 64, maxLineBytes: 200, keepChunks: true, onOversize: (_o, n) => void over.push(n) });
          // read after the whole scan: no later read wrote over them
          expect(seen.map(({ buf, start, end }) => buf.toString('latin1', start, end))).toEqual(lines.filter((l) => l.length > 0 && l.length <= 200));
          expect(over).toEqual(lengths.filter((n) => n > 200));
        }),
        { numRuns: 300 },
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
