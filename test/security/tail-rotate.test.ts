import { chmodSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { run, tempStateDir } from '../helpers/cli';
import { sleep, startTail, until } from '../tail/live-helpers';
import { AS_NOBODY } from './harness';

/**
 * `contid tail --output FILE --rotate-size N` runs as root and takes FILE, FILE.1 … FILE.keep by
 * name at every rotation. An unprivileged user who may create files in FILE's directory (a
 * sticky, world-writable one such as /tmp: openOutputFile's checks let a single FILE be written
 * there) takes those names. Before (237f65f): her own FILE, created right after a rotation
 * renamed root's away, was refused at each batch and every later event dropped (360 of 400,
 * one warning, the tail running on); her directory FILE.1 beside a dangling link FILE.2 failed
 * every rotation (ENOTDIR) and FILE grew past any size (138 KB at --rotate-size 16K). Real CLI,
 * the plugin source fed auditd-shaped records; she acts through setpriv as uid 65534.
 */
describe('tail --output --rotate-size in a directory others may create files in (real CLI, uid 65534)', () => {
  const state = tempStateDir('sec-rotate');
  const dir = mkdtempSync(join(tmpdir(), 'contid-sec-rotate-'));
  const record = (i: number): string => `type=USER msg=audit(1795896418.${String(i % 1000).padStart(3, '0')}:${i + 1}): pid=1 uid=0 auid=0 ses=4294967295 msg='n=${i} ${'x'.repeat(40)}'\n`;
  const asNobody = (script: string, cwd: string): void => {
    const r = run(AS_NOBODY[0], [...AS_NOBODY.slice(1), 'sh', '-c', script], { cwd });
    expect([script, r.status, r.stderr]).toEqual([script, 0, '']);
  };
  // Her loop: create FILE (exclusively, her own) whenever it is not there, for `ms`.
  const claimLoop = `const fs = require('fs'); const end = Date.now() + Number(process.argv[3]); while (Date.now() < end) { try { fs.closeSync(fs.openSync(process.argv[2], 'wx', 0o644)); } catch {} }`;

  beforeAll(() => chmodSync(dir, 0o755));
  afterAll(() => {
    state.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Runs the tail on FILE with N records fed in batches; its exit code, stderr and the directory after. */
  async function rotateIn(sub: string, prepare: (d: string) => void, during?: (out: string) => Promise<void>): Promise<{ code: number | null; stderr: string; dropped: number | null; largest: number }> {
    const d = join(dir, sub);
    mkdirSync(d);
    chmodSync(d, 0o1777);
    prepare(d);
    const out = join(d, 'out.jsonl');
    let tail;
    try {
      tail = await startTail(['--source', 'plugin', '--format', 'json', '--output', out, '--rotate-size', '16K', '--rotate-keep', '20'], state.env, 'pipe');
    } catch (e) {
      return { code: -1, stderr: (e as Error).message, dropped: null, largest: 0 };
    }
    const attack = during?.(out);
    for (let i = 0; i < 400; i += 10) {
      tail.child.stdin!.write(Array.from({ length: 10 }, (_, k) => record(i + k)).join(''));
      await sleep(20);
    }
    tail.child.stdin!.end();
    await until(() => tail.child.exitCode !== null, 15_000);
    await attack;
    const files = readdirSync(d).map((f) => lstatSync(join(d, f)));
    const dropped = /received 400 records, dropped (\d+) /.exec(tail.stderr())?.[1];
    return { code: tail.child.exitCode, stderr: tail.stderr(), dropped: dropped === undefined ? null : Number(dropped), largest: Math.max(0, ...files.filter((s) => s.isFile()).map((s) => s.size)) };
  }

  test('she takes FILE each time a rotation renames it away: refused at start with one line, instead of every later event dropped', async () => {
    const r = await rotateIn('claim', () => undefined, async (out) => {
      const loop = join(dir, 'claim.js');
      writeFileSync(loop, claimLoop, { mode: 0o644 });
      const her = spawn(AS_NOBODY[0], [...AS_NOBODY.slice(1), process.execPath, loop, out, '3000'], { stdio: 'ignore' });
      await new Promise((resolve) => her.on('exit', resolve));
    });
    expect([r.code, r.dropped]).toEqual([-1, null]);
    expect(r.stderr).toMatch(/^tail exited \(\d+\) before it was ready: contid: refusing to rotate .*\/claim\/out\.jsonl: others may create files in its directory \(mode 1777\); .*\n$/);
  });

  test('her directory FILE.1 beside a dangling link FILE.2: refused at start with one line, instead of FILE growing past its size', async () => {
    const r = await rotateIn('block', (d) => asNobody('mkdir out.jsonl.1 && ln -s nowhere out.jsonl.2', d));
    expect([r.code, r.largest]).toEqual([-1, 0]);
    expect(r.stderr).toMatch(/^tail exited \(\d+\) before it was ready: contid: refusing to rotate .*\/block\/out\.jsonl: others may create files in its directory \(mode 1777\); .*\n$/);
  });

  test('a directory only root may write: rotated at its size, nothing dropped', async () => {
    const r = await rotateIn('own', (d) => chmodSync(d, 0o755));
    expect([r.code, r.dropped]).toEqual([0, 0]);
    expect(r.largest).toBeLessThanOrEqual(16 * 1024);
  });
});
