import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { addExecveRule, deleteExecveRule } from '../helpers/audit';
import { tempStateDir } from '../helpers/cli';
import { sleep, startTail, until } from './live-helpers';

const key = `contid-tailbp-${randomBytes(4).toString('hex')}`;
const state = tempStateDir('tailbp');

/** Short processes under our rule for `ms` (the kernel's records arrive as fast as exec allows). */
async function flood(ms: number): Promise<void> {
  const loop = spawn('sh', ['-c', 'while :; do /bin/true; done'], { stdio: 'ignore' });
  await sleep(ms);
  loop.kill('SIGKILL');
}

beforeAll(() => addExecveRule(key));
afterAll(() => {
  deleteExecveRule(key);
  state.cleanup();
});

describe('contid tail under a slow consumer (real kernel records)', () => {
  test('stdout not read: records are dropped, counted and reported while running and at the end; memory stays bounded', async () => {
    const tail = await startTail(['--source', 'multicast', '--key', key, '--queue', '50', '--report-interval', '200'], state.env);
    tail.child.stdout!.pause(); // nobody reads: the pipe fills, then the queue
    await flood(3000);
    await until(() => /contid: dropped \d+ records \(\d+ since start\)/.test(tail.stderr()), 5000);
    const rss = Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${tail.child.pid}/status`, 'utf8'))![1]);
    tail.child.stdout!.resume();
    expect(await tail.stop()).toBe(0);
    expect(tail.stderr()).toMatch(/contid: dropped \d+ records \(\d+ since start\)/);
    const summary = /tail \(multicast\): received (\d+) records, dropped (\d+) \(queue full (\d+),/.exec(tail.stderr());
    expect(summary).not.toBeNull();
    expect(Number(summary![2])).toBeGreaterThan(0);
    expect(Number(summary![3])).toBe(Number(summary![2]));
    expect(rss).toBeLessThan(300 * 1024); // kB: bounded by the queue, not by the flood
  });

  test('--socket: clients get the stream; a stale socket file from a dead tail is replaced', async () => {
    const path = join(state.dir, 'live.sock');
    const first = await startTail(['--source', 'multicast', '--key', key, '--socket', path], state.env);
    first.child.kill('SIGKILL'); // leaves its socket file behind
    await until(() => first.child.exitCode !== null || first.child.signalCode !== null, 5000);
    const tail = await startTail(['--source', 'multicast', '--key', key, '--socket', path, '--format', 'json'], state.env);
    let got = '';
    const client = connect(path);
    client.setEncoding('utf8').on('data', (d: string) => (got += d));
    await new Promise<void>((r) => client.once('connect', () => r()));
    await sleep(100);
    await flood(300);
    await until(() => got.split('\n').filter(Boolean).length >= 3, 5000);
    await tail.stop();
    client.destroy();
    const events = got.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { records: { type: string; fields: Record<string, string> }[] });
    expect(events.length).toBeGreaterThanOrEqual(3);
    expect(events.every((e) => e.records.some((r) => r.type === 'SYSCALL' && r.fields.key === key))).toBe(true);
  });
});

describe('contid tail as an auditd plugin under a slow consumer', () => {
  test('the consumer stops reading: tail stops reading the pipe (auditd sees it full), and once the consumer reads again every record comes out, 0 lost', async () => {
    // A queue far smaller than the input: only pausing the pipe can keep every record.
    const tail = await startTail(['--source', 'plugin', '--queue', '100'], state.env, 'pipe');
    try {
      tail.child.stdout!.pause(); // nobody reads tail's output
      const stdin = tail.child.stdin!;
      const N = 100_000;
      // One-record user events (printed raw, one line each), as auditd writes them to the pipe.
      const record = (i: number): string => `type=USER msg=audit(1795896418.${String(i % 1000).padStart(3, '0')}:${i + 1}): pid=1 uid=0 auid=0 ses=4294967295 msg='n=${i}'\n`;
      const drained = (ms: number): Promise<boolean> =>
        new Promise((resolve) => {
          const timer = setTimeout(() => (stdin.off('drain', done), resolve(false)), ms);
          const done = (): void => (clearTimeout(timer), resolve(true));
          stdin.once('drain', done);
        });
      let sent = 0;
      let blocked = false;
      // Write like auditd: as fast as the pipe takes it, until it stays full.
      while (sent < N && !blocked) {
        let chunk = '';
        for (const end = Math.min(N, sent + 500); sent < end; sent++) chunk += record(sent);
        if (!stdin.write(chunk)) blocked = !(await drained(2000));
      }
      // tail stopped reading long before the input ended (it dropped nothing to keep up).
      expect(blocked).toBe(true);
      expect(sent).toBeLessThan(N);
      const rss = Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${tail.child.pid}/status`, 'utf8'))![1]);
      tail.child.stdout!.resume();
      while (sent < N) {
        let chunk = '';
        for (const end = Math.min(N, sent + 500); sent < end; sent++) chunk += record(sent);
        if (!stdin.write(chunk)) await drained(60_000);
      }
      stdin.end();
      const code = await new Promise<number | null>((r) => (tail.child.exitCode !== null ? r(tail.child.exitCode) : tail.child.once('exit', r)));
      expect(code).toBe(0);
      const out = tail.stdout().split('\n').filter(Boolean);
      expect(out.length).toBe(N);
      expect(out[0]).toBe(record(0).trimEnd());
      expect(out[N - 1]).toBe(record(N - 1).trimEnd());
      expect(tail.stderr()).toMatch(new RegExp(`tail \\(plugin\\): received ${N} records, dropped 0 `));
      expect(tail.stderr()).not.toMatch(/contid: dropped/);
      expect(rss).toBeLessThan(300 * 1024); // kB
    } finally {
      if (tail.child.exitCode === null) tail.child.kill('SIGKILL');
    }
  }, 120_000);
});
