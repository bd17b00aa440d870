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

/** One indexed (or, without an index, scanned) raw search for srch-t1: its bytes, events, index problems and stats. */
function searchT1(log: string, index: SearchIndex | undefined, spoolMaxBytes: number) {
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
  return { out: Buffer.concat(bytes).toString('latin1'), events, problems, stats };
}

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
            const { out, events, problems, stats } = searchT1(log, index, spoolMaxBytes);
            return { out, events, problems, matched: stats.matched, lines: stats.lines, skipped: stats.skipped };
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
    const { out, problems, stats } = searchT1(log, withIndex ? index : undefined, spoolMaxBytes);
    return { out, problems, matched: stats.matched };
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

describe('ranges that lie close together are read in one go, each still checked', () => {
  const dir = mkdtempSync(join(tmpdir(), 'contid-index-spool-near-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  afterEach(() => jest.restoreAllMocks());

  /** The session's log with another session's event (two lines) before each of its SYSCALLs: 20 of them before every third when `big` (a gap over 4 KB). */
  function logWithNoise(name: string, big: boolean): { log: string; size: number } {
    const lines: string[] = [];
    let serial = 0;
    let syscalls = 0;
    // serials spread out (×100) so that each noise event's serial lies between its neighbours' (a serial that goes back reads as a restart)
    for (const line of session.map((l) => l.replace(/(audit\([\d.]+:)(\d+)\)/, (_m, head: string, n: string) => `${head}${Number(n) * 100})`))) {
      const stampOf = (l: string): string => /audit\(([\d.]+:\d+)\)/.exec(l)![1];
      // between events only (a new stamp), never inside one
      if (/^type=SYSCALL/.test(line) && lines.length > 0 && stampOf(line) !== stampOf(lines[lines.length - 1])) {
        const [time, next] = stampOf(line).split(':');
        for (let i = big && syscalls++ % 3 === 0 ? 20 : 1; i > 0; i--) {
          serial++;
          const stamp = `${time}:${Number(next) - i}`;
          lines.push(
            `type=SYSCALL msg=audit(${stamp}): arch=c000003e syscall=257 success=no exit=-2 a0=ffffff9c a1=1 a2=0 a3=0 items=1 ppid=1 pid=${serial} auid=0 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=77 comm="cat" exe="/usr/bin/cat" key=(null)`,
            `type=PROCTITLE msg=audit(${stamp}): proctitle=636174`,
          );
        }
      }
      lines.push(line);
    }
    const log = join(dir, `${name}.log`);
    const text = lines.join('\n') + '\n';
    writeFileSync(log, text, 'latin1');
    return { log, size: text.length };
  }

  /** searchLogs through `index` (spooled unless spoolMaxBytes is 0): bytes, problems, and how many reads went to the log. */
  function search(log: string, index: SearchIndex | undefined, spoolMaxBytes = 1 << 30): { out: string; events: string[]; problems: string[]; matched: number; logReads: number } {
    const realOpen = fs.openSync;
    const realRead = fs.readSync;
    const logFds = new Set<number>();
    // reads of the log once the spooled way has begun (its spool open): the first pass and the binding check read it too
    let spooling = false;
    let logReads = 0;
    const openSpool = SpoolFile.open.bind(SpoolFile);
    jest.spyOn(SpoolFile, 'open').mockImplementation((d) => {
      spooling = true;
      return openSpool(d);
    });
    jest.spyOn(fs, 'openSync').mockImplementation(((...args: Parameters<typeof fs.openSync>) => {
      const fd = realOpen(...args);
      if (args[0] === log) logFds.add(fd);
      return fd;
    }) as typeof fs.openSync);
    jest.spyOn(fs, 'readSync').mockImplementation(((...args: Parameters<typeof fs.readSync>) => {
      if (spooling && logFds.has(args[0])) logReads++;
      return (realRead as (...a: unknown[]) => number)(...args);
    }) as typeof fs.readSync);
    try {
      const { out, events, problems, stats } = searchT1(log, index, spoolMaxBytes);
      return { out, events, problems, matched: stats.matched, logReads: spooling ? logReads : -1 };
    } finally {
      jest.restoreAllMocks();
    }
  }

  it.each([
    ['close', false],
    ['close and far', true],
  ])('%s ranges: fewer reads than ranges, the bytes of the scan and of reading each range twice', (name, big) => {
    const { log } = logWithNoise(name.replace(/ /g, '-'), big);
    const index = SearchIndex.open(join(dir, `index-${name.replace(/ /g, '-')}`));
    try {
      index.build(log);
      const ranges = index.sessionRanges(index.lookup(log)!, SESSION).length / 2;
      expect(ranges).toBeGreaterThan(10);
      const scanned = search(log, undefined);
      const spooled = search(log, index);
      expect(spooled.problems).toEqual([]);
      expect(spooled.out.length + spooled.events.length).toBeGreaterThan(0);
      expect(spooled.out).toBe(scanned.out);
      const twice = search(log, index, 0);
      expect([spooled.out, spooled.events, spooled.matched]).toEqual([twice.out, twice.events, twice.matched]);
      // the spooled way ran, with fewer reads than ranges (one per range before)
      expect(spooled.logReads).toBeGreaterThan(0);
      expect(spooled.logReads).toBeLessThan(big ? ranges / 2 : 4);
    } finally {
      index.close();
    }
  });

  it.each([
    ['a range moved into a line', (p: number[]) => (p[2 * 5] += 7)],
    ["a range stretched into the other session's line after it", (p: number[]) => (p[2 * 5 + 1] += 5)],
    ["another session's lines between two ranges, as a range", (p: number[]) => p.splice(2 * 5 + 2, 0, p[2 * 5 + 1], p[2 * 6])],
    ['a range cut short', (p: number[]) => (p[2 * 5 + 1] -= 2)],
  ])('an index that lies inside a run read in one go is refused, nothing printed from it: %s', (_what, lie) => {
    const { log, size } = logWithNoise('lies', false);
    const index = SearchIndex.open(join(dir, `index-lies-${Math.random().toString(36).slice(2)}`));
    try {
      index.build(log);
      const real = index.sessionRanges.bind(index);
      index.sessionRanges = (file, s) => {
        const p = Array.from(real(file, s));
        if (s === SESSION) lie(p);
        return Float64Array.from(p.map((v) => Math.min(v, size)));
      };
      const scanned = search(log, undefined);
      const spooled = search(log, index);
      expect(spooled.logReads).toBeGreaterThan(0); // refused by the spooled way itself
      expect(spooled.problems).toHaveLength(1);
      expect(spooled.problems[0]).toMatch(/^it does not match the log /);
      expect([spooled.out, spooled.events]).toEqual([scanned.out, scanned.events]); // the scan's answer, nothing of the lying index's
      expect(spooled.problems).toEqual(search(log, index, 0).problems);
    } finally {
      index.close();
    }
  });
});
