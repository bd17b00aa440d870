import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { BoundedLineQueue } from '../src/live/bounded-queue';
import { MulticastSource } from '../src/live/multicast-source';

async function drain(q: BoundedLineQueue): Promise<string[]> {
  const out: string[] = [];
  for (let b = await q.take(4096); b; b = await q.take(4096)) for (const item of b) out.push(...(typeof item === 'string' ? [item] : item.strings()));
  return out;
}

describe('kernel audit multicast source (real kernel, beside the running auditd)', () => {
  test('receives user records in auditd log-line shape, in order', async () => {
    const tag = `contid-live-mc-${randomBytes(4).toString('hex')}`;
    const queue = new BoundedLineQueue(100_000);
    const source = new MulticastSource();
    await source.start(queue);
    for (let i = 0; i < 50; i++) execFileSync('auditctl', ['-m', `${tag} n=${i}`]);
    await new Promise((r) => setTimeout(r, 300));
    await source.stop();
    queue.close();
    const mine = (await drain(queue)).filter((l) => l.includes(tag));
    expect(mine).toHaveLength(50);
    expect(mine[0]).toMatch(/^type=USER msg=audit\(\d+\.\d{3}:\d+\): pid=\d+ uid=0 /);
    expect(mine.map((l) => Number(/ n=(\d+)/.exec(l)?.[1]))).toEqual([...Array(50).keys()]);
    expect(source.losses()).toEqual({ readerDropped: 0, kernelOverruns: 0 });
  });

  test('a full queue drops and counts, never silently', async () => {
    const tag = `contid-live-mcq-${randomBytes(4).toString('hex')}`;
    const queue = new BoundedLineQueue(5);
    const source = new MulticastSource();
    await source.start(queue);
    for (let i = 0; i < 30; i++) execFileSync('auditctl', ['-m', `${tag} n=${i}`]);
    await new Promise((r) => setTimeout(r, 300));
    await source.stop();
    queue.close();
    const kept = await drain(queue);
    expect(kept).toHaveLength(5);
    // every record that arrived was either kept or counted (other hosts' records count too)
    expect(queue.dropped + source.losses().readerDropped).toBeGreaterThanOrEqual(30 - 5);
  });
});
