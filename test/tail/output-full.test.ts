import { closeSync, existsSync, fstatSync, mkdirSync, mkdtempSync, openSync, readFileSync, renameSync, rmSync, rmdirSync, statfsSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run, tempStateDir } from '../helpers/cli';
import { sleep, startTail, until } from './live-helpers';
import { writeAllSync, writtenBefore } from '../../packages/audit/src/write-all';

const state = tempStateDir('tailfull');
afterAll(() => state.cleanup());

/** One-record user events, as auditd writes them to a plugin's stdin. */
const record = (i: number): string => `type=USER msg=audit(1795896418.${String(i % 1000).padStart(3, '0')}:${i + 1}): pid=1 uid=0 auid=0 ses=4294967295 msg='n=${i} ${'x'.repeat(40)}'\n`;

const parses = (line: string): boolean => {
  try {
    JSON.parse(line);
    return true;
  } catch {
    return false;
  }
};

/**
 * `contid tail --source plugin --format json ARGS` fed N one-record events ten at a time (so
 * that its output is written as several batches), `between(i)` after each ten: its summary,
 * once it has exited 0 without a stack trace.
 */
async function tailEvents(args: string[], N: number, between: (i: number) => void = () => undefined): Promise<{ received: number; dropped: number; stderr: string }> {
  const tail = await startTail(['--source', 'plugin', '--format', 'json', ...args], state.env, 'pipe');
  for (let i = 0; i < N; i += 10) {
    tail.child.stdin!.write(Array.from({ length: 10 }, (_, k) => record(i + k)).join(''));
    await sleep(20);
    between(i);
  }
  tail.child.stdin!.end();
  await until(() => tail.child.exitCode !== null, 15_000);
  expect([tail.child.exitCode, tail.stderr()]).toEqual([0, expect.not.stringMatching(/\n\s+at /)]);
  const summary = /tail \(plugin\): received (\d+) records, dropped (\d+) /.exec(tail.stderr());
  expect(summary).not.toBeNull();
  return { received: Number(summary![1]), dropped: Number(summary![2]), stderr: tail.stderr() };
}

/** The lines of `files` that exist, each file ending in a newline and each line one whole JSON document. */
function wholeLines(...files: string[]): string[] {
  return files
    .filter((f) => existsSync(f))
    .flatMap((f) => {
      const lines = readFileSync(f, 'utf8').split('\n');
      expect(lines.pop()).toBe('');
      expect(lines.filter((l) => !parses(l))).toEqual([]);
      return lines;
    });
}

/** A real tmpfs mounted with `options` for `use`, unmounted afterwards. */
async function onTmpfs(label: string, options: string, use: (mnt: string) => Promise<void>): Promise<void> {
  const mnt = mkdtempSync(join(tmpdir(), `contid-${label}-`));
  expect(run('mount', ['-t', 'tmpfs', '-o', options, `contid-${label}`, mnt]).status).toBe(0);
  try {
    await use(mnt);
  } finally {
    run('umount', [mnt]);
    rmdirSync(mnt);
  }
}

describe('contid tail --output on a file system that fills up (real tmpfs)', () => {
  test('every line of the file stays one whole JSON document: a batch the disk refused is cut back and counted as dropped, and the summary adds up (outside attack 17, F1)', async () => {
    await onTmpfs('tailfull', 'size=64k', async (mnt) => {
      // 14 of the 16 pages taken: about 8 KB left for the output, far less than it will write.
      writeFileSync(join(mnt, 'filler'), Buffer.alloc(56 * 1024));
      const out = join(mnt, 'out.jsonl');
      // In pieces, so that the output is written as several batches: some whole, then refused.
      const N = 600;
      const { received, dropped } = await tailEvents(['--output', out], N);
      const lines = wholeLines(out);
      expect([received, lines.length > 0, dropped > 0, lines.length + dropped]).toEqual([N, true, true, N]);
    });
  });
});

// logrotate (without copytruncate) moves the file away, then signals the writer in its
// postrotate. Before, SIGHUP was ignored: every later event went on into the moved file and FILE
// was never made again (stop 33's note); a removed FILE took them all into an unlinked inode.
describe('contid tail --output, the file moved away then SIGHUP (logrotate)', () => {
  test.each([
    ['moved away', (out: string) => renameSync(out, `${out}.1`), true],
    ['removed', (out: string) => rmSync(out), false],
  ])('%s: the events before it stay where they went, every later one is in a fresh FILE', async (_n, rotate, kept) => {
    const dir = mkdtempSync(join(tmpdir(), 'contid-tailhup-'));
    const out = join(dir, 'live.jsonl');
    try {
      const tail = await startTail(['--source', 'plugin', '--format', 'json', '--output', out], state.env, 'pipe');
      const feed = async (from: number, to: number) => {
        for (let i = from; i < to; i += 10) {
          tail.child.stdin!.write(Array.from({ length: 10 }, (_, k) => record(i + k)).join(''));
          await sleep(20);
        }
      };
      await feed(0, 100);
      await until(() => existsSync(out) && wholeLines(out).length === 100, 10_000);
      rotate(out);
      tail.child.kill('SIGHUP');
      await sleep(200);
      await feed(100, 200);
      tail.child.stdin!.end();
      await until(() => tail.child.exitCode !== null, 15_000);
      expect([tail.child.exitCode, tail.stderr()]).toEqual([0, expect.stringMatching(/received 200 records, dropped 0 /)]);
      const serials = (f: string) => wholeLines(f).map((l) => (JSON.parse(l) as { serial: number }).serial);
      expect(serials(out)).toEqual(Array.from({ length: 100 }, (_, i) => 101 + i));
      if (kept) expect(serials(`${out}.1`)).toEqual(Array.from({ length: 100 }, (_, i) => 1 + i));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

// How much of a refused batch (or of a half line's rest) went in is what the write says, not an
// fstat afterwards: one that failed left the rest to be written again from its start, its
// prefix twice in the file (review33).
test('a write the full disk refused part-way says how many of its bytes went in (real tmpfs)', async () => {
  await onTmpfs('tailpart', 'size=64k', async (mnt) => {
    const file = join(mnt, 'out');
    const fd = openSync(file, 'a');
    try {
      writeAllSync(fd, Buffer.alloc(1000, 0x61));
      let error: unknown = null;
      try {
        writeAllSync(fd, Buffer.alloc(256 * 1024, 0x62));
      } catch (e) {
        error = e;
      }
      expect((error as NodeJS.ErrnoException).code).toBe('ENOSPC');
      const written = writtenBefore(error);
      expect(written).toBeGreaterThan(0);
      expect(written).toBe(fstatSync(fd).size - 1000);
    } finally {
      closeSync(fd);
    }
  });
});

// The output file emptied under the tail (an operator's `: >FILE`, logrotate's copytruncate): its
// next write goes in at the new end (O_APPEND), below the length the sink last knew. A batch
// the full disk then refused part-way was "cut back" to that old length, which grew the file
// instead: a run of NUL bytes up to it, the half line left in front of them, and the next line
// appended to both (attack34).
test('a write refused part-way after the file was emptied under the tail: cut back to where the write began, no NUL bytes, no half line (real tmpfs)', async () => {
  await onTmpfs('tailtrunc', 'size=64k', async (mnt) => {
    const out = join(mnt, 'out.jsonl');
    const filler = join(mnt, 'filler');
    const N = 300;
    const { received, dropped } = await tailEvents(['--output', out], N, (i) => {
      if (i === 100) {
        truncateSync(out, 0);
        // the disk full but for a page: the next batches are refused part-way
        const { bavail, bsize } = statfsSync(mnt);
        writeFileSync(filler, Buffer.alloc(Math.max(0, bavail * bsize - 4096)));
      }
      if (i === 200) rmSync(filler);
    });
    const bytes = readFileSync(out);
    expect(bytes.indexOf(0)).toBe(-1);
    const lines = wholeLines(out);
    expect([received, dropped > 0]).toEqual([N, true]);
    expect(lines.some((l) => l.includes(`n=${N - 1} `))).toBe(true);
  });
});

describe('contid tail --output --rotate-size on a file system out of inodes (real tmpfs)', () => {
  test('a rotation whose fresh file cannot be created neither ends the tail nor loses a line uncounted; output resumes once it can', async () => {
    // Inodes for the root and the output file: the first rotation renames it to out.1, and the
    // fresh out cannot be created (ENOSPC) until out.1 is removed.
    await onTmpfs('tailinodes', 'size=4m,nr_inodes=2,mode=755', async (mnt) => {
      const out = join(mnt, 'out.jsonl');
      const N = 400;
      // Half-way, an inode is freed: the tail must start writing again.
      const { received, dropped, stderr } = await tailEvents(['--output', out, '--rotate-size', '4K', '--rotate-keep', '1'], N, (i) => i === 200 && rmSync(`${out}.1`, { force: true }));
      const kept = wholeLines(`${out}.1`, out);
      expect([received, dropped > 0]).toEqual([N, true]);
      // events after the inode came back were written (and rotated away again: two inodes)
      expect(kept.some((l) => Number(/n=(\d+) /.exec(l)?.[1]) > 200)).toBe(true);
      expect(stderr).toMatch(/contid tail: .*out\.jsonl.*ENOSPC/);
    });
  });
});

describe('contid tail --output into an append-only file on a file system that fills up (real ext4, chattr +a)', () => {
  test('a batch the disk refused part-way, which an append-only file cannot cut back: its half line is finished once there is room, and the tail writes on (attack33)', async () => {
    const work = mkdtempSync(join(tmpdir(), 'contid-tailappend-'));
    const image = join(work, 'fs.img');
    const mnt = join(work, 'mnt');
    mkdirSync(mnt);
    expect(run('truncate', ['-s', '4M', image]).status).toBe(0);
    expect(run('mkfs.ext4', ['-q', '-F', image]).status).toBe(0);
    expect(run('mount', ['-o', 'loop', image, mnt]).status).toBe(0);
    const out = join(mnt, 'out.jsonl');
    try {
      writeFileSync(out, '');
      expect(run('chattr', ['+a', out]).status).toBe(0);
      // the file system full but for a few blocks: the output fills them part-way through a batch
      const filler = join(mnt, 'filler');
      writeFileSync(join(mnt, 'room'), Buffer.alloc(6 * 1024));
      run('dd', ['if=/dev/zero', `of=${filler}`, 'bs=4k'], { timeout: 30_000 });
      run('rm', ['-f', join(mnt, 'room')]);
      const N = 400;
      // half-way, room again
      const { received, dropped } = await tailEvents(['--output', out], N, (i) => i === 200 && rmSync(filler));
      const lines = wholeLines(out);
      // some refused, every other one written, and the last ones after the room came back
      expect([received, dropped > 0, lines.length + dropped]).toEqual([N, true, N]);
      expect(lines.some((l) => l.includes(`n=${N - 1} `))).toBe(true);
    } finally {
      run('chattr', ['-a', out]);
      run('umount', [mnt]);
      rmSync(work, { recursive: true, force: true });
    }
  });
});
