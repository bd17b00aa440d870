import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { AuditSink, Tagger } from '@contid/core';
import { EntryOutcome, Spool, SpoolDrainer } from '@contid/oci';

const LIBRARY = resolve(__dirname, '../../../integrations/bin/contid-tag.sh');

class NullSink implements AuditSink {
  send(): void {}
  close(): void {}
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The sh writer copies a large file (config.json) with `cat`, so its entry takes several
 * writes. It writes them under a temporary name (a dot-name, which no consumer reads) and
 * renames the whole entry into place: a consumer never finds a half-written entry under an
 * entry name, so it needs no wait for the writes to settle. Here the writer is held mid-entry
 * for real: the file it copies is a FIFO the test has not written yet.
 */
describe('a consumer never sees a half-written spool entry', () => {
  let dir: string;
  let tagger: Tagger;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'contid-partial-'));
    mkdirSync(join(dir, 'spool'), { mode: 0o700 });
    tagger = Tagger.open({ stateDir: join(dir, 'state'), writePath: 'session', failPolicy: 'closed', nodeName: 'partial-test' }, { sink: new NullSink(), trustedCaller: true });
  });
  afterEach(() => {
    tagger.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a writer held in the middle of an entry leaves no entry name; the drain sees it only whole', async () => {
    const spool = new Spool(join(dir, 'spool'));
    const outcomes: EntryOutcome[] = [];
    const drainer = new SpoolDrainer({ tagger, spool, scanMs: 60_000 });
    const drain = drainer.consumer.drain.bind(drainer.consumer);
    drainer.consumer.drain = async () => {
      const got = await drain();
      outcomes.push(...got);
      return got;
    };
    await drainer.start();
    const fifo = join(dir, 'config.fifo');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    // An end entry (nothing to wait for: a container contid never saw) with a section copied by cat.
    const script = '. "$0"; contid_settings; contid_spool=$SPOOL; contid_spool_write 4000000001 end subcommand=delete id=partial1 --cat "config.json=$1" || exit 1';
    const writer = spawn('sh', ['-c', script, LIBRARY, fifo], { env: { PATH: process.env.PATH, SPOOL: spool.dir }, stdio: 'ignore', detached: true });
    const exited = new Promise<number | null>((r) => writer.on('exit', (code) => r(code)));
    try {
      // The writer has written the entry's head and waits in cat for the FIFO's writer.
      for (let i = 0; i < 250 && readdirSync(spool.dir).length === 0; i++) await sleep(20);
      expect(readdirSync(spool.dir)).toHaveLength(1);
      await sleep(200);
      await drainer.kick();
      expect(spool.names()).toEqual([]);
      expect(outcomes.filter((o) => o.kind === 'deferred')).toEqual([]);
      // Opening the FIFO for writing (off the event loop: it waits for cat) lets cat go on.
      await writeFile(fifo, '{"ociVersion":"1.0.2"}\n');
      expect(await exited).toBe(0);
    } finally {
      // Its own process group: a cat still waiting on the FIFO goes too.
      if (writer.exitCode === null) process.kill(-writer.pid!, 'SIGKILL');
    }
    for (let i = 0; i < 100 && !outcomes.some((o) => o.kind !== 'deferred'); i++) await sleep(20);
    await drainer.stop();
    expect(outcomes.filter((o) => o.kind === 'deferred')).toEqual([]);
    expect(outcomes).toEqual([{ kind: 'already', contid: null }]);
    expect(readdirSync(spool.dir).filter((n) => n !== 'failed')).toEqual([]);
  });

  it('each entry wakes one drain pass, whether written in one write or renamed into place', async () => {
    const spool = new Spool(join(dir, 'spool'));
    const drainer = new SpoolDrainer({ tagger, spool, scanMs: 60_000 });
    let passes = 0;
    const outcomes: EntryOutcome[] = [];
    const drain = drainer.consumer.drain.bind(drainer.consumer);
    drainer.consumer.drain = async () => {
      passes++;
      const got = await drain();
      outcomes.push(...got);
      return got;
    };
    await drainer.start();
    passes = 0;
    const ENTRIES = 20;
    // End entries of containers contid never saw: nothing to wait for. Half are one write, half copy a file by cat.
    for (let i = 0; i < ENTRIES; i++) {
      const copy = i % 2 ? `--cat "config.json=$0"` : '';
      const w = spawnSync('sh', ['-c', `. "$0"; contid_settings; contid_spool=$SPOOL; contid_spool_write ${4000000100 + i} end subcommand=delete id=one${i} ${copy}`, LIBRARY], {
        env: { PATH: process.env.PATH, SPOOL: spool.dir },
      });
      expect(w.status).toBe(0);
      await sleep(30);
    }
    for (let i = 0; i < 250 && outcomes.length < ENTRIES; i++) await sleep(20);
    await drainer.stop();
    expect(outcomes.filter((o) => o.kind === 'already')).toHaveLength(ENTRIES);
    // Before, a one-write entry woke two passes (its creation, then its write): 1.5 per entry.
    // A pass that found an entry still empty (its writer between open and write) adds a retry.
    const retries = outcomes.filter((o) => o.kind === 'deferred').length;
    expect(passes).toBeLessThanOrEqual(ENTRIES + 2 * retries + 2);
  });

  it('a writer that died mid-entry leaves its temporary file, which is quarantined with a reason once its writer is gone', async () => {
    const spool = new Spool(join(dir, 'spool'));
    // pid 2^22+1 is above any pid_max default: no process has it.
    const temp = join(spool.dir, '.writing-4000000002-create-4194305.entry');
    writeFileSync(temp, 'contid-spool 1\nop=create\nid=half\n--- config.json\n{"oci');
    const old = (Date.now() - 120_000) / 1000;
    utimesSync(temp, old, old);
    const drainer = new SpoolDrainer({ tagger, spool, scanMs: 60_000 });
    await drainer.start();
    await drainer.stop();
    expect(readdirSync(spool.dir).sort()).toEqual(['failed']);
    expect(readdirSync(join(spool.dir, 'failed')).sort()).toEqual(['4000000002-create-4194305.entry', '4000000002-create-4194305.entry.reason']);
  });
});
