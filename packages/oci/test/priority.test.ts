import { ChildProcess, spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { lowerCpuPriority } from '@contid/oci';

/** Each thread's niceness, from /proc/PID/task/TID/stat (field 19, counted after the command's closing parenthesis). */
function threadNiceness(pid: number): number[] {
  return readdirSync(`/proc/${pid}/task`).map((tid) => {
    const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
  });
}

/** A Node process (several threads: V8's platform workers) that waits to be killed, started at a given niceness. */
async function nodeChild(niceness: number): Promise<ChildProcess> {
  const child = spawn('nice', ['-n', String(niceness), process.execPath, '-e', 'process.stdout.write("up\\n"); setInterval(() => {}, 1000)'], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise((ready) => child.stdout!.once('data', ready));
  return child;
}

describe('the spool consumers drain at a lower CPU priority than the lifecycle they bind', () => {
  const children: ChildProcess[] = [];
  afterEach(() => {
    for (const c of children.splice(0)) c.kill('SIGKILL');
  });

  // Relative to the niceness the test runs at (a CI may run it niced).
  it('sets every thread of the process, not only the calling one', async () => {
    const child = await nodeChild(0);
    children.push(child);
    const before = threadNiceness(child.pid!);
    expect(before.length).toBeGreaterThan(1);
    expect(new Set(before).size).toBe(1);
    const target = Math.min(before[0] + 5, 19);
    expect(target).toBeGreaterThan(before[0]);
    expect(lowerCpuPriority(target, child.pid!)).toBe(before.length);
    expect(new Set(threadNiceness(child.pid!))).toEqual(new Set([target]));
  });

  it('never raises a priority the process was started below', async () => {
    const child = await nodeChild(15);
    children.push(child);
    const started = threadNiceness(child.pid!)[0];
    lowerCpuPriority(started - 5, child.pid!);
    expect(new Set(threadNiceness(child.pid!))).toEqual(new Set([started]));
  });
});
