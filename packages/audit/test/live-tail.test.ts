import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, truncateSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { BoundedLineQueue } from '../src/live/bounded-queue';
import { LiveTail, type EventPipeline } from '../src/live/live-tail';
import { LivePipeline } from '../src/live/pipeline';
import { RotatingFileSink, SocketSink, StreamSink } from '../src/live/output-sink';
import type { LineSource, SourceLosses } from '../src/live/source';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A source that cannot wait, like the kernel: it offers and the queue drops what does not fit. */
class BurstSource implements LineSource {
  readonly name = 'burst';
  private finish!: () => void;
  readonly done = new Promise<void>((r) => (this.finish = r));
  constructor(private readonly lines: string[]) {}
  async start(queue: BoundedLineQueue): Promise<void> {
    setImmediate(() => {
      for (let i = 0; i < this.lines.length; i += 100) queue.offer(this.lines.slice(i, i + 100));
      this.finish();
    });
  }
  async stop(): Promise<void> {
    this.finish();
  }
  losses(): SourceLosses {
    return { readerDropped: 0, kernelOverruns: 0 };
  }
  failure(): string | null {
    return null;
  }
}

const passThrough: EventPipeline = { push: (lines) => lines.map((l) => l + '\n').join(''), expire: () => '', flush: () => '' };

describe('LiveTail back-pressure and bounds', () => {
  test('a slow consumer: the queue stays bounded, every drop is counted and reported', async () => {
    let written = 0;
    const slow = new Writable({
      highWaterMark: 1024,
      write(chunk: Buffer, _enc, done) {
        written += chunk.toString().split('\n').length - 1;
        setTimeout(done, 5);
      },
    });
    const reports: string[] = [];
    const lines = [...Array(20_000).keys()].map((i) => `line ${i}`);
    const tail = new LiveTail({ source: new BurstSource(lines), pipeline: passThrough, sink: new StreamSink(slow), queueCapacity: 500, reportIntervalMs: 20, report: (m) => reports.push(m) });
    await tail.start();
    await sleep(100);
    const s = await tail.finished();
    expect(s.droppedQueue).toBeGreaterThan(0);
    expect(s.received + s.droppedQueue).toBe(lines.length); // nothing vanished without a count
    expect(written).toBe(s.received);
    expect(reports.some((r) => /^dropped \d+ records \(\d+ since start\)$/.test(r))).toBe(true);
    expect(reports[reports.length - 1]).toMatch(new RegExp(`^tail \\(burst\\): received ${s.received} records, dropped ${s.droppedQueue} `));
  });

  test('events sent before their binding could come (held events at their bound) are counted and reported, while running and at the end', async () => {
    // Fresh sessions (a LOGIN each) whose events wait for a binding that never comes.
    const lines: string[] = [];
    for (let i = 0; i < 50; i++) {
      const stamp = `1795926138.739:${i + 1}`;
      lines.push(
        `type=LOGIN msg=audit(${stamp}): pid=30637 uid=0 old-auid=4294967295 auid=0 tty=(none) old-ses=4294967295 ses=${700 + i} res=1`,
        `type=SYSCALL msg=audit(${stamp}): arch=c000003e syscall=1 success=yes exit=1 a0=16 a1=7ffe95371a28 a2=1 a3=1b6 items=0 ppid=30630 pid=30637 auid=0 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=${700 + i} comm="node" exe="/usr/bin/node" key=(null)`,
        `type=EOE msg=audit(${stamp}): `,
      );
    }
    const pipeline = new LivePipeline({ format: 'raw', maxHeldBytes: 2000, bindingGraceMs: 60_000 });
    const chunks: string[] = [];
    const sink = new StreamSink(new Writable({ write: (c: Buffer, _e, done) => (chunks.push(c.toString()), done()) }));
    const reports: string[] = [];
    const tail = new LiveTail({ source: new BurstSource(lines), pipeline, sink, reportIntervalMs: 10, report: (m) => reports.push(m) });
    await tail.start();
    await sleep(100);
    const s = await tail.finished();
    expect(s.releasedEarly).toBe(pipeline.releasedEarly);
    expect(s.releasedEarly).toBeGreaterThan(0);
    expect(reports.some((r) => /^\d+ events went out before their binding could come \(held events at their bound\): they may lack their container$/.test(r))).toBe(true);
    expect(reports[reports.length - 1]).toMatch(new RegExp(`, sent before their binding could come ${s.releasedEarly}$`));
    expect(chunks.join('').split('\n').filter((l) => l.startsWith('type=SYSCALL'))).toHaveLength(50); // none dropped
  });

  test('a fast consumer loses nothing', async () => {
    const chunks: string[] = [];
    const sink = new StreamSink(new Writable({ write: (c: Buffer, _e, done) => (chunks.push(c.toString()), done()) }));
    const lines = [...Array(3000).keys()].map((i) => `line ${i}`);
    const tail = new LiveTail({ source: new BurstSource(lines), pipeline: passThrough, sink, queueCapacity: 10_000, report: () => undefined });
    await tail.start();
    const s = await tail.finished();
    expect(s.dropped).toBe(0);
    expect(chunks.join('')).toBe(lines.map((l) => l + '\n').join(''));
  });
});

describe('output sinks', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'contid-live-sink-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  test('a rotating file keeps every line across rotations, at most `keep` old files', async () => {
    const path = join(dir, 'sub', 'live.log');
    const sink = new RotatingFileSink(path, 1000, 3);
    const lines = [...Array(400).keys()].map((i) => `event ${String(i).padStart(4, '0')} ${'x'.repeat(20)}\n`);
    for (const l of lines) await sink.write(l);
    await sink.close();
    expect(readdirSync(join(dir, 'sub')).sort()).toEqual(['live.log', 'live.log.1', 'live.log.2', 'live.log.3']);
    const kept = ['live.log.3', 'live.log.2', 'live.log.1', 'live.log'].map((f) => readFileSync(join(dir, 'sub', f), 'utf8')).join('');
    expect(lines.join('').endsWith(kept)).toBe(true);
    for (const f of readdirSync(join(dir, 'sub'))) expect(readFileSync(join(dir, 'sub', f)).length).toBeLessThanOrEqual(1000);
  });

  test('a rotating file removed meanwhile (an operator, a logrotate): the next rotation starts a fresh one, and no later event goes to the removed file', async () => {
    const path = join(dir, 'live.log');
    const sink = new RotatingFileSink(path, 100, 3);
    const line = (i: number) => `event ${String(i).padStart(4, '0')} ${'x'.repeat(16)}\n`; // 28 bytes: three a file
    for (let i = 0; i < 9; i++) await sink.write(line(i));
    rmSync(path);
    for (let i = 9; i < 20; i++) await sink.write(line(i));
    await sink.close();
    // before: every later rotation failed (ENOENT) after shifting the old files up once more,
    // and events 9-19 went to the removed file; now a fresh file holds them, rotated as ever
    const kept = ['live.log.3', 'live.log.2', 'live.log.1', 'live.log'].map((f) => readFileSync(join(dir, f), 'utf8')).join('');
    expect(kept).toBe([...Array(11).keys()].map((k) => line(9 + k)).join(''));
    expect(sink.dropped()).toBe(0);
  });

  test('a rotating file emptied from outside (`: >FILE`, copytruncate) is rotated by its length, not by what the sink counted', async () => {
    const path = join(dir, 'live.log');
    const sink = new RotatingFileSink(path, 100, 3);
    const line = (i: number) => `event ${String(i).padStart(4, '0')} ${'x'.repeat(16)}\n`; // 28 bytes: three a file
    for (let i = 0; i < 3; i++) await sink.write(line(i));
    truncateSync(path, 0);
    for (let i = 3; i < 7; i++) await sink.write(line(i));
    await sink.close();
    // before: the next write rotated by the 84 bytes counted: the emptied file became live.log.1
    // (an empty old file, the oldest kept one pushed out), and every later rotation came early
    expect(readdirSync(dir).sort()).toEqual(['live.log', 'live.log.1']);
    expect([readFileSync(join(dir, 'live.log.1'), 'utf8'), readFileSync(path, 'utf8')]).toEqual([[3, 4, 5].map(line).join(''), line(6)]);
    expect(sink.dropped()).toBe(0);
  });

  test('a unix socket serves every client; a stale socket file is replaced; a live one is refused', async () => {
    const path = join(dir, 'live.sock');
    // a socket file left behind by a process that died
    spawnSync(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(path)}, () => process.exit(0))`]);
    expect(existsSync(path)).toBe(true);
    const sink = await SocketSink.listen(path);
    await expect(SocketSink.listen(path)).rejects.toThrow(/is in use by another process/);
    const received = [0, 1].map(() => '');
    const clients = [0, 1].map((i) => {
      const c = connect(path);
      c.setEncoding('utf8').on('data', (d: string) => (received[i] += d));
      return new Promise<void>((r) => c.once('connect', () => r()));
    });
    await Promise.all(clients);
    await sleep(50);
    await sink.write('one\n');
    await sink.write('two\n');
    await sleep(50);
    await sink.close();
    expect(received).toEqual(['one\ntwo\n', 'one\ntwo\n']);
    expect(sink.dropped()).toBe(0);
  });

  test('a socket client that does not read is cut off from new events (counted), others keep going', async () => {
    const path = join(dir, 'slow.sock');
    const sink = await SocketSink.listen(path, 64 * 1024);
    const stuck = connect(path);
    stuck.pause();
    await new Promise<void>((r) => stuck.once('connect', () => r()));
    await sleep(50);
    const line = 'y'.repeat(1023) + '\n';
    for (let i = 0; i < 4000; i++) await sink.write(line);
    expect(sink.dropped()).toBeGreaterThan(0);
    stuck.destroy();
    await sink.close();
  });
});
