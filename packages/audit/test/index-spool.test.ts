import fs, { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { AuditEvent, SearchIndex, searchLogs } from '@contid/audit';
import { SpoolFile } from '../src/spool-file';

/**
 * The indexed raw way of one session reads each range once and keeps what it will print in a
 * spool file until every range holds (search.ts, readSpooledRanges); the other way reads each
 * range twice. Both must hand out the same bytes, decode the same events, count the same and
 * refuse the same indexes: on logs around a real captured session (ENRICHED parts, which raw
 * output strips) with noise of other sessions and of another node, through an index as built
 * and through one whose ranges were moved, stretched, dropped or given foreign bytes.
 */
const FIX = join(__dirname, 'fixtures');
const session = readFileSync(join(FIX, 'session-enriched.log'), 'latin1').split('\n').filter(Boolean);
// the captured binding predates signed records: accepted by the legacy rule (root, this exe)
const attribution = { legacyTrustedExes: ['/usr/bin/node'] };
const base = Number(/audit\((\d+)\./.exec(session[0])![1]);
const SESSION = 1625;

const noise = fc.record({ ses: fc.constantFrom(1625, 77, 4294967295), peer: fc.boolean(), dt: fc.integer({ min: 0, max: 1 }) }).map(({ ses, peer, dt }) => (serial: number) => {
  const stamp = `${base + dt}.5${String(serial % 100).padStart(2, '0')}:${900000 + serial}`;
  const pfx = peer ? 'node=peer ' : '';
  return [
    `${pfx}type=SYSCALL msg=audit(${stamp}): arch=c000003e syscall=257 success=no exit=-2 a0=ffffff9c a1=1 a2=0 a3=0 items=1 ppid=1 pid=${serial} auid=0 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=${ses} comm="cat" exe="/usr/bin/cat" key=(null)`,
    `${pfx}type=PROCTITLE msg=audit(${stamp}): proctitle=636174`,
  ];
});

/** What an index that lies may say of a range: moved, stretched into its neighbour, dropped, or one more. */
const tamper = fc.record({ kind: fc.constantFrom('none', 'start', 'end', 'merge', 'drop', 'foreign'), at: fc.nat(), by: fc.integer({ min: -40, max: 40 }) });

function tampered(pairs: Float64Array, t: { kind: string; at: number; by: number }, size: number): Float64Array {
  const p = Array.from(pairs);
  const n = p.length >> 1;
  if (n === 0 || t.kind === 'none') return pairs;
  const k = t.at % n;
  if (t.kind === 'start') p[2 * k] = Math.max(0, p[2 * k] + t.by);
  if (t.kind === 'end') p[2 * k + 1] = Math.min(size, p[2 * k + 1] + t.by);
  if (t.kind === 'merge' && k + 1 < n) p.splice(2 * k + 1, 2);
  if (t.kind === 'drop') p.splice(2 * k, 2);
  if (t.kind === 'foreign') {
    // the gap after range k (another session's lines), as a range of its own
    const from = p[2 * k + 1];
    const to = k + 1 < n ? p[2 * k + 2] : size;
    if (to > from) p.splice(2 * k + 2, 0, from, to);
  }
  return Float64Array.from(p);
}

describe('the spooled index way hands out what reading each range twice does', () => {
  const dir = mkdtempSync(join(tmpdir(), 'contid-index-spool-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('a spool file can be had here (O_TMPFILE): else the property below would test one way twice', () => {
    const spool = SpoolFile.open();
    expect(spool).not.toBeNull();
    const b = Buffer.from('abc\ndef\n');
    spool!.append(b, 0, b.length);
    const back = Buffer.alloc(4);
    spool!.read(back, 4, 4);
    spool!.close();
    expect(back.toString()).toBe('def\n');
  });

  it('same bytes, events, counts and refusals, through true and lying indexes (property)', () => {
    let run = 0;
    let refused = 0;
    let used = 0;
    let spooledRuns = 0;
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(session.length), noise), { maxLength: 25 }), tamper, (inserts, t) => {
        const lines = [...session];
        inserts.forEach(([at, ev], i) => lines.splice(Math.min(at, lines.length), 0, ...ev(i + 1)));
        const log = join(dir, `audit-${run}.log`);
        const text = lines.join('\n') + '\n';
        writeFileSync(log, text, 'latin1');
        const index = SearchIndex.open(join(dir, `index-${run++}`));
        try {
          index.build(log);
          const ranges = index.sessionRanges.bind(index);
          index.sessionRanges = (file, s) => (s === SESSION ? tampered(ranges(file, s), t, text.length) : ranges(file, s));
          const way = (spoolMaxBytes: number): unknown => {
            const bytes: Buffer[] = [];
            const events: string[] = [];
            const problems: string[] = [];
            const stats = searchLogs({
              files: [log],
              filter: { container: 'srch-t1' },
              attribution,
              index,
              spoolMaxBytes,
              onEvent: (e: AuditEvent) => events.push(`${e.time}:${e.serial}:${e.records.map((r) => r.raw).join('|')}`),
              rawOut: (b) => bytes.push(Buffer.from(b)),
              onIndexProblem: (w) => problems.push(w),
            });
            return { out: Buffer.concat(bytes).toString('latin1'), events, problems, matched: stats.matched, lines: stats.lines, skipped: stats.skipped };
          };
          // (a log with another node's lines is attributed event by event: no spool there)
          const open = jest.spyOn(SpoolFile, 'open');
          const spooled = way(1 << 30) as { problems: string[] };
          if (open.mock.calls.length > 0) spooledRuns++;
          open.mockRestore();
          const twice = way(0);
          expect(spooled).toEqual(twice);
          if (spooled.problems.length > 0) refused++;
          else used++;
        } finally {
          index.close();
        }
      }),
      { numRuns: 60 },
    );
    // both outcomes are covered: indexes used and indexes refused
    expect(refused).toBeGreaterThan(3);
    expect(used).toBeGreaterThan(3);
    expect(spooledRuns).toBeGreaterThan(10);
  });
});

describe('a temp or log file system that fails does not cost the answer (any user can fill /tmp)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'contid-index-spool-fail-'));
  const log = join(dir, 'audit.log');
  writeFileSync(log, session.join('\n') + '\n', 'latin1');
  const index = SearchIndex.open(join(dir, 'index'));
  index.build(log);
  afterAll(() => {
    index.close();
    rmSync(dir, { recursive: true, force: true });
    jest.restoreAllMocks();
  });
  afterEach(() => jest.restoreAllMocks());

  const search = (withIndex: boolean, spoolMaxBytes = 1 << 30): { out: string; problems: string[]; matched: number } => {
    const bytes: Buffer[] = [];
    const problems: string[] = [];
    const stats = searchLogs({
      files: [log],
      filter: { container: 'srch-t1' },
      attribution,
      index: withIndex ? index : undefined,
      spoolMaxBytes,
      onEvent: () => undefined,
      rawOut: (b) => bytes.push(Buffer.from(b)),
      onIndexProblem: (w) => problems.push(w),
    });
    return { out: Buffer.concat(bytes).toString('latin1'), problems, matched: stats.matched };
  };

  it('a spool write that fails with ENOSPC: the ranges are read twice instead, the same answer, no warning', () => {
    const expected = search(true, 0);
    expect(expected.matched).toBeGreaterThan(0);
    expect(expected.out).toBe(search(false).out);
    const append = jest.spyOn(SpoolFile.prototype, 'append').mockImplementation(() => {
      throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    });
    const got = search(true);
    expect(append).toHaveBeenCalled();
    expect(got).toEqual(expected);
  });

  it('a read of the log that fails (EIO) while checking: one warning, the log scanned, the same answer', () => {
    const expected = search(false);
    const real = fs.readSync;
    const open = SpoolFile.open.bind(SpoolFile);
    // the first read of the log once the spooled way has begun (its spool open) fails
    let spooling = false;
    let failed = 0;
    jest.spyOn(SpoolFile, 'open').mockImplementation((d) => {
      spooling = true;
      return open(d);
    });
    jest.spyOn(fs, 'readSync').mockImplementation(((...args: Parameters<typeof fs.readSync>) => {
      if (spooling && failed++ === 0) throw Object.assign(new Error('EIO: i/o error, read'), { code: 'EIO' });
      return (real as (...a: unknown[]) => number)(...args);
    }) as typeof fs.readSync);
    const got = search(true);
    expect(failed).toBeGreaterThan(1);
    expect(got.problems).toEqual(['it cannot be read: EIO: i/o error, read']);
    expect(got.out).toBe(expected.out);
    expect(got.out).not.toBe('');
  });
});
