import { appendFileSync, mkdtempSync, renameSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { BoundedLineQueue } from '../src/live/bounded-queue';
import { FileFollower } from '../src/live/file-follower';
import { StreamSource } from '../src/live/stream-source';
import { waitFor } from '../../../test/helpers/wait';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const line = (i: number) => `type=USER msg=audit(1795896418.${String(i % 1000).padStart(3, '0')}:${i}): pid=1 uid=0 msg='n=${i}'`;

async function collect(queue: BoundedLineQueue, into: string[]): Promise<void> {
  for (let b = await queue.take(1000); b; b = await queue.take(1000)) for (const item of b) into.push(...(typeof item === 'string' ? [item] : item.strings()));
}

describe('file follower (real files, renamed and truncated while followed)', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'contid-live-follow-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  test('rotation by rename loses nothing and keeps order, even with a small queue', async () => {
    const path = join(dir, 'audit.log');
    writeFileSync(path, 'old line that came before tail started\n');
    const queue = new BoundedLineQueue(7); // forces back-pressure on the follower
    const follower = new FileFollower(path, { pollMs: 20 });
    await follower.start(queue);
    const got: string[] = [];
    const collecting = collect(queue, got);
    let n = 0;
    for (let round = 0; round < 3; round++) {
      for (let k = 0; k < 200; k++) appendFileSync(path, line(n++) + '\n');
      appendFileSync(path, line(n++)); // a partial last line, finished only by rotation
      renameSync(path, `${path}.${round + 1}`);
      appendFileSync(`${path}.${round + 1}`, '\n' + line(n++) + '\n'); // the writer finishes the old file
      writeFileSync(path, '');
      // A follower polls: two renames inside one poll are one rotation to it (as to tail -F).
      // Wait for it to see this one, so a loaded machine does not merge rounds.
      await waitFor(`rotation ${round + 1}`, () => follower.rotations === round + 1);
    }
    for (let k = 0; k < 100; k++) appendFileSync(path, line(n++) + '\n');
    await sleep(200);
    await follower.stop();
    queue.close();
    await collecting;
    expect(follower.rotations).toBe(3);
    expect(got).toEqual([...Array(n).keys()].map(line));
  });

  test('truncation (copytruncate) restarts at the beginning', async () => {
    const path = join(dir, 'audit.log');
    writeFileSync(path, '');
    const queue = new BoundedLineQueue(1000);
    const follower = new FileFollower(path, { pollMs: 20 });
    await follower.start(queue);
    appendFileSync(path, line(1) + '\n' + line(2) + '\n');
    await sleep(100);
    truncateSync(path, 0);
    await sleep(100);
    appendFileSync(path, line(3) + '\n');
    await sleep(100);
    await follower.stop();
    queue.close();
    const got: string[] = [];
    await collect(queue, got);
    expect(follower.truncations).toBe(1);
    expect(got).toEqual([line(1), line(2), line(3)]);
  });

  test('a missing file is one clear error', async () => {
    await expect(new FileFollower(join(dir, 'nope.log')).start(new BoundedLineQueue(1))).rejects.toThrow(
      /cannot follow .*nope\.log: ENOENT/,
    );
  });
});

describe('stream source (auditd plugin pipe)', () => {
  test('splits chunks into lines, waits for room instead of dropping, ends with the stream', async () => {
    const input = new PassThrough();
    const queue = new BoundedLineQueue(3);
    const source = new StreamSource(input);
    await source.start(queue);
    const got: string[] = [];
    const collecting = collect(queue, got);
    const text = [...Array(500).keys()].map(line).join('\n');
    for (let i = 0; i < text.length; i += 97) input.write(text.slice(i, i + 97));
    input.end();
    await source.done;
    queue.close();
    await collecting;
    expect(got).toEqual([...Array(500).keys()].map(line));
    expect(queue.dropped).toBe(0);
  });

  test('as an auditd plugin it stops reading while the consumer is behind, and loses nothing', async () => {
    const input = new PassThrough({ highWaterMark: 1024 });
    const queue = new BoundedLineQueue(10);
    const source = new StreamSource(input);
    await source.start(queue);
    const lines = [...Array(2000).keys()].map(line);
    // The writer (auditd) sees a full pipe: write() says stop once its buffer is full.
    let accepted = true;
    for (let i = 0; i < lines.length; i += 50) accepted = input.write(lines.slice(i, i + 50).join('\n') + '\n') && accepted;
    input.end();
    await sleep(50);
    expect(accepted).toBe(false);
    expect(input.isPaused()).toBe(true);
    expect(queue.length).toBeLessThanOrEqual(10);
    const got: string[] = [];
    const collecting = collect(queue, got);
    await source.done;
    queue.close();
    await collecting;
    expect(got).toEqual(lines);
    expect(queue.dropped).toBe(0);
  });
});
