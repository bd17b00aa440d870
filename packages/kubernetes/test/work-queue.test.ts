import { KeyedWorkQueue } from '../src/work-queue';

const tick = (ms = 5) => new Promise((r) => setTimeout(r, ms));

describe('KeyedWorkQueue', () => {
  test('a key queued many times runs once; never twice at once; again if re-queued while running', async () => {
    const runs: string[] = [];
    let concurrentSameKey = false;
    const active = new Set<string>();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const q = new KeyedWorkQueue(async (key) => {
      if (active.has(key)) concurrentSameKey = true;
      active.add(key);
      runs.push(key);
      if (runs.length === 1) await gate;
      active.delete(key);
    }, 4);
    q.add('a');
    q.add('a'); // running: marks it for one more run
    q.add('a'); // still one more run, not two
    q.add('b');
    q.add('b'); // b started at once (concurrency 4) and is still running: one more run
    await tick();
    release();
    await tick(20);
    expect(concurrentSameKey).toBe(false);
    expect(runs.filter((k) => k === 'a')).toHaveLength(2);
    expect(runs.filter((k) => k === 'b')).toHaveLength(2);
    await q.close();
  });

  test('at most `concurrency` keys run in parallel; close waits for running work and drops the rest', async () => {
    let running = 0;
    let peak = 0;
    let done = 0;
    const q = new KeyedWorkQueue(async () => {
      running++;
      peak = Math.max(peak, running);
      await tick(10);
      running--;
      done++;
    }, 3);
    for (let i = 0; i < 10; i++) q.add(`k${i}`);
    await tick(2);
    await q.close();
    expect(peak).toBe(3);
    expect(running).toBe(0);
    expect(done).toBe(3); // the three that had started finished; the queued seven were dropped
    q.add('late');
    await tick(20);
    expect(done).toBe(3);
  });

  test('a failing job does not stop the queue', async () => {
    const seen: string[] = [];
    const q = new KeyedWorkQueue(async (key) => {
      seen.push(key);
      if (key === 'bad') throw new Error('boom');
    }, 1);
    q.add('bad');
    q.add('good');
    await tick(10);
    expect(seen).toEqual(['bad', 'good']);
    await q.close();
  });
});
