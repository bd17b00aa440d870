import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { contid, tempStateDir } from '../helpers/cli';

/**
 * attack34b: the index files an event under the first ` ses=` after its stamp (sessionAfter,
 * LineHeads), while every decoded path takes the kernel's ses= as the split finds it
 * (kernelSession: a quoted value never shadows it). A line whose quoted text says ` ses=N`
 * before its own ses= (the kernel never writes one; a remote sender on a collector can) then
 * makes the indexed answer differ from the scan's:
 * (a) an event of session 77 saying `comm="a ses=1625"` first is printed by the indexed raw
 *     search of the container of 1625 (its range merged with that session's, containerOfRange
 *     reading the first record only), but not by the same index with --format json, nor a scan;
 * (b) an event of 1625 saying `comm="a ses=77"` first is missing from the indexed answer
 *     (raw and json), printed by the scan: dropped with nothing said.
 */
const FIX = join(__dirname, '../../packages/audit/test/fixtures');
const session = readFileSync(join(FIX, 'session-enriched.log'), 'latin1').split('\n').filter(Boolean);
const NAME = 'srch-t1';
const trust = ['--trust-unsigned-by-exe', '/usr/bin/node'];
const syscall = (serial: number, mid: string): string =>
  `type=SYSCALL msg=audit(1795927031.700:${serial}): arch=c000003e syscall=257 success=yes exit=3 a0=ffffff9c a1=1 a2=0 a3=0 items=0 ppid=1 pid=4242 auid=0 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none)${mid} exe="/usr/bin/cat" key=(null)`;

describe('the index and the scan agree on a line whose quoted text says ses=', () => {
  const state = tempStateDir('index-shadow');
  afterAll(() => state.cleanup());

  it.each([
    ['(a) another session quoting this one', syscall(900001, ' comm="a ses=1625" ses=77')],
    ['(b) this session quoting another', syscall(900002, ' comm="a ses=77" ses=1625')],
  ])('%s', (label, line) => {
    const dir = join(state.dir, label.slice(1, 2));
    const log = `${dir}.log`;
    writeFileSync(log, [...session.slice(0, 9), line, ...session.slice(9)].join('\n') + '\n', 'latin1');
    const built = contid(['index', '--input', log, '--index-dir', dir], { env: state.env });
    expect(built.status).toBe(0);
    const has = (...args: string[]): boolean => {
      const r = contid(['search', '-if', log, '-c', NAME, ...trust, ...args], { env: state.env });
      expect(r.status).toBe(0);
      return r.stdout.includes(line.slice(0, 60));
    };
    const scan = has('--no-index');
    expect({ 'full scan': has('--no-index', '--strict'), 'indexed raw': has('--index-dir', dir), 'indexed json': has('--index-dir', dir, '--format', 'json') }).toEqual({
      'full scan': scan,
      'indexed raw': scan,
      'indexed json': scan,
    });
  });
});
