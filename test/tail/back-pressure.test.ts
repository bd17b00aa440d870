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
