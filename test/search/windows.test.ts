import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { contid, run, tempStateDir } from '../helpers/cli';

/**
 * Audit records are never dropped silently (brief rule). Each of contid search's bounded
 * windows — the session scan's walk over other events' lines and its wider reads, the index's
 * recent event keys, the reassembler's open events — meets a crafted log whose one event of a
 * tagged session has its records further apart than that window (all within the event
 * time-out, so ausearch groups them). The oracle is ausearch 3.0.9 on the same file:
 * `ausearch --session S --raw` over the container's session. Every strategy (session scan,
 * full scan, index) returns exactly those records, or says on stderr what it could not read.
 * No root needed: a real captured session (its binding accepted by the legacy exe rule).
 */
const FIX = join(__dirname, '../../packages/audit/test/fixtures');
const session = readFileSync(join(FIX, 'session-enriched.log'), 'latin1').split('\n').filter(Boolean);
const SES = 1625;
const NAME = 'srch-t1';
const trust = ['--trust-unsigned-by-exe', '/usr/bin/node'];

/** The fixture's first event of the session with a PROCTITLE after its SYSCALL: [syscall line, rest]. */
function splitPoint(): number {
  return session.findIndex((l, i) => /^type=SYSCALL .* syscall=59 .* ses=1625 /.test(l) && i > 4);
}

/** Noise events of another session, in the split event's second; `pad` makes each line longer. */
function noise(count: number, stampSec: string, pad = 0): string[] {
  const out: string[] = [];
  const filler = pad > 0 ? ` a4=${'f'.repeat(pad)}` : '';
  for (let i = 0; i < count; i++) {
    const stamp = `${stampSec}.9${String(i % 100).padStart(2, '0')}:${700000 + i}`;
    out.push(
      `type=SYSCALL msg=audit(${stamp}): arch=c000003e syscall=257 success=no exit=-2 a0=ffffff9c a1=1 a2=0 a3=0 items=1 ppid=1 pid=${10 + i} auid=0 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=77 comm="cat" exe="/usr/bin/cat"${filler} key=(null)`,
    );
  }
  return out;
}

/** The fixture with `lines` inserted right after the SYSCALL line of one of its events. */
function craft(path: string, lines: string[]): void {
  const at = splitPoint();
  const out = [...session.slice(0, at + 1), ...lines, ...session.slice(at + 1)];
  writeFileSync(path, out.join('\n') + '\n', 'latin1');
}

/**
 * Shapes the kernel does not write but a remote sender can: the split event's records
 * rearranged (`arrange` gets its SYSCALL, CWD, PATH and PROCTITLE lines and returns the lines
 * that replace them). ausearch groups every record of the stamp until the time-out.
 */
function rearrange(path: string, arrange: (syscall: string, cwd: string, path: string, proctitle: string) => string[]): void {
  const at = splitPoint();
  const [syscall, cwd, pathRec, proctitle] = session.slice(at, at + 4);
  const out = [...session.slice(0, at), ...arrange(syscall, cwd, pathRec, proctitle), ...session.slice(at + 4)];
  writeFileSync(path, out.join('\n') + '\n', 'latin1');
}

/** The split event's EOE record (its stamp). */
const eoeOf = (line: string): string => `type=EOE msg=audit(${/audit\(([^)]*)\)/.exec(line)![1]}): `;

/** Noise of another node (an aggregated log): its serials say nothing about this node's events. */
const otherNode = (count: number, stampSec: string): string[] => noise(count, stampSec).map((l) => `node=peer ${l}`);

/** Raw records without their enriched part, as `--format raw` and `ausearch --raw` print them. */
const records = (text: string): string[] => text.split('\n').filter((l) => l.startsWith('type=') || l.startsWith('node=')).map((l) => l.split('\x1d')[0]).sort();

describe('search windows: no record dropped silently (crafted logs, ausearch as oracle)', () => {
  const state = tempStateDir('windows');
  afterAll(() => state.cleanup());

  const second = (): string => session[splitPoint()].match(/audit\((\d+)\./)![1];
  const READ = "ausearch's records";
  const SAID = 'said on stderr';
  const cases: [string, () => string[], Record<string, string>][] = [
    // 5,000 other events (one line each) between a SYSCALL and the rest of its event: both the
    // session scan's walk (4,096 lines) and the index's old window (4,096 keys) lost 3 records
    ['records 5,000 lines apart (session scan walk, index keys)', () => noise(5000, second()), { 'session scan': READ, 'full scan': READ, index: READ }],
    // 3,000 lines of 6 KB: the event's records 18 MB apart (the session scan once read 16 MiB each side)
    ["records 18 MB apart (the session scan's old wider read)", () => noise(3000, second(), 6000), { 'session scan': READ, 'full scan': READ, index: READ }],
    // 12,000 other events open at once: the reassembler holds 10,000 (the session scan and the
    // index's raw path hand out an event's bytes without it)
    ['12,000 events open at once (the reassembler)', () => noise(12000, second()), { 'session scan': READ, 'full scan': SAID, index: READ }],
  ];
  const ALL = { 'session scan': READ, 'full scan': READ, index: READ };
  // rearranged events (see rearrange): the kernel does not write them, a remote sender can;
  // ausearch groups every record of the stamp until the time-out, however far apart
  const shapes: [string, (path: string) => void, Record<string, string>][] = [
    ['records after an EOE in mid-event', (p) => rearrange(p, (sc, cwd, path, pt) => [sc, eoeOf(sc), cwd, path, pt]), ALL],
    ['an EOE after every record of the event', (p) => rearrange(p, (sc, cwd, path, pt) => [sc, eoeOf(sc), cwd, eoeOf(sc), path, eoeOf(sc), pt, eoeOf(sc)]), ALL],
    ['a record 21 lines after its PROCTITLE', (p) => rearrange(p, (sc, cwd, path, pt) => [sc, path, pt, ...noise(21, second()), cwd]), ALL],
    ['a record 20 lines of another node before its SYSCALL', (p) => rearrange(p, (sc, cwd, path, pt) => [cwd, ...otherNode(20, second()), sc, path, pt]), ALL],
    // further apart than the old walk's gaps (32 lines after the PROCTITLE or an EOE, 32 before)
    ['a record 3,000 lines after its PROCTITLE', (p) => rearrange(p, (sc, cwd, path, pt) => [sc, path, pt, ...noise(3000, second()), cwd]), ALL],
    ['an EOE in mid-event, the next record 500 lines on', (p) => rearrange(p, (sc, cwd, path, pt) => [sc, eoeOf(sc), ...noise(500, second()), cwd, path, pt]), ALL],
    ['a record 2,000 lines of another node before its SYSCALL', (p) => rearrange(p, (sc, cwd, path, pt) => [cwd, ...otherNode(2000, second()), sc, path, pt]), ALL],
    ['a record 300 lines of this node before its SYSCALL', (p) => rearrange(p, (sc, cwd, path, pt) => [cwd, ...noise(300, second()), sc, path, pt]), ALL],
  ];
  const allCases: [string, (path: string) => void, Record<string, string>][] = [...cases.map(([label, makeNoise, want]): [string, (path: string) => void, Record<string, string>] => [label, (p) => craft(p, makeNoise()), want]), ...shapes];

  it.each(allCases)('%s', (label, write, want) => {
    const log = join(state.dir, `${label.replace(/\W+/g, '-')}.log`);
    write(log);
    const expected = records(run('ausearch', ['-if', log, '--session', String(SES), '--raw'], { maxBuffer: 256 << 20 }).stdout);
    expect(expected.length).toBeGreaterThan(10);
    const search = (...args: string[]) => contid(['search', '-if', log, '-c', NAME, ...trust, ...args], { env: state.env, maxBuffer: 256 << 20, timeout: 300_000 });
    const indexDir = join(state.dir, `index-${label.replace(/\W+/g, '-')}`);
    const built = contid(['index', '--input', log, '--index-dir', indexDir], { env: state.env, timeout: 300_000 });
    expect(built.stderr).toBe('');
    const outcome = (r: { stdout: string; stderr: string }): string => {
      const got = records(r.stdout);
      if (got.length === expected.length && got.every((l, i) => l === expected[i])) return READ;
      // fewer records only with a line on stderr that says so
      const said = r.stderr.split('\n').find((l) => / not read\b/.test(l));
      return said ? SAID : `${got.length} of ${expected.length} records, nothing said: ${r.stderr}`;
    };
    expect({
      'session scan': outcome(search('--no-index')),
      'full scan': outcome(search('--no-index', '--strict')),
      index: outcome(search('--index-dir', indexDir)),
    }).toEqual(want);
    // contid report reads the logs the same way and says the same
    if (want['full scan'] === SAID) {
      const report = contid(['report', '-if', log, ...trust, '--summary'], { env: state.env, maxBuffer: 64 << 20, timeout: 300_000 });
      expect(report.stderr).toMatch(/^contid: 3 record\(s\) not read with their event: more than 10,000 events were open at once/m);
    }
  });
});
