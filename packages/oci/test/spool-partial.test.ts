import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { AuditSink, Tagger } from '@contid/core';
import { EntryOutcome, Spool, SpoolDrainer, parseSpoolEntry } from '@contid/oci';

const LIBRARY = resolve(__dirname, '../../../integrations/bin/contid-tag.sh');

class NullSink implements AuditSink {
  send(): void {}
  close(): void {}
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The sh writer copies a large file (config.json) with `cat`, so its entry takes several
 * writes, made in place under the entry's own name (no temporary name and no `mv`: one fork
 * less on every create). The last line, `--- end`, is the commit point: a consumer that meets
 * an entry without it leaves it where it is, and the write that completes it wakes a pass.
 * Here the writer is held mid-entry for real: the file it copies is a FIFO the test has not
 * written yet.
 */
describe('a consumer never takes a half-written spool entry', () => {
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

  it('a writer held in the middle of an entry: the drain leaves it, and takes it once its last line is written', async () => {
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
    const name = `4000000001-end-${writer.pid}.entry`;
    try {
      // The writer has written the entry's head and waits in cat for the FIFO's writer.
      for (let i = 0; i < 250 && !spool.names().includes(name); i++) await sleep(20);
      expect(spool.names()).toEqual([name]);
      await sleep(200);
      await drainer.kick();
      expect(outcomes.filter((o) => o.kind !== 'deferred')).toEqual([]);
      expect(outcomes).toContainEqual({ kind: 'deferred', why: 'being written', unfinished: true });
      expect(readdirSync(spool.dir)).toEqual([name]);
      // The write that completes it is news; a write into an entry nobody waits for is not.
      expect(drainer.consumer.isNews('change', name)).toBe(true);
      expect(drainer.consumer.isNews('change', '4000000009-end-1.entry')).toBe(false);
      // Opening the FIFO for writing (off the event loop: it waits for cat) lets cat go on.
      await writeFile(fifo, '{"ociVersion":"1.0.2"}\n');
      expect(await exited).toBe(0);
    } finally {
      // Its own process group: a cat still waiting on the FIFO goes too.
      if (writer.exitCode === null) process.kill(-writer.pid!, 'SIGKILL');
    }
    for (let i = 0; i < 100 && !outcomes.some((o) => o.kind !== 'deferred'); i++) await sleep(20);
    await drainer.stop();
    expect(outcomes.filter((o) => o.kind !== 'deferred')).toEqual([{ kind: 'already', contid: null }]);
    expect(readdirSync(spool.dir).filter((n) => n !== 'failed')).toEqual([]);
    expect(spool.failed()).toEqual([]);
  });

  it('a create entry copies config.json with cat as its one external command (no mv)', () => {
    const spool = join(dir, 'spool');
    const bin = join(dir, 'bin');
    mkdirSync(bin);
    const cat = spawnSync('sh', ['-c', 'command -v cat'], { encoding: 'utf8' }).stdout.trim();
    symlinkSync(cat, join(bin, 'cat'));
    const config = join(dir, 'config.json');
    writeFileSync(config, '{"ociVersion":"1.0.2"}\n');
    const script = '. "$0"; contid_settings; contid_spool=$SPOOL; contid_spool_write 4000000003 create subcommand=create id=cat1 --cat "config.json=$1" || { printf %s "$contid_write_error"; exit 1; }';
    const r = spawnSync('/bin/sh', ['-c', script, LIBRARY, config], { env: { PATH: bin, SPOOL: spool }, encoding: 'utf8' });
    expect(r.stdout).toBe('');
    expect(r.status).toBe(0);
    const [name] = readdirSync(spool);
    expect(parseSpoolEntry(name!, readFileSync(join(spool, name!), 'utf8'))).toMatchObject({ op: 'create', id: 'cat1', configText: '{"ociVersion":"1.0.2"}\n' });
  });

  it('each entry wakes one drain pass, whether written in one write or in pieces in place', async () => {
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
    // A pass that found an entry empty or incomplete adds one for each write after it (a cat's, the end's).
    const retries = outcomes.filter((o) => o.kind === 'deferred').length;
    expect(passes).toBeLessThanOrEqual(ENTRIES + 2 * retries + 2);
  });

  it('a writer that died mid-entry leaves its entry without a last line, quarantined with a reason at once: never bound, never dropped', async () => {
    const spool = new Spool(join(dir, 'spool'));
    // pid 2^22+1 is above any pid_max default: no process has it. Written just now.
    writeFileSync(join(spool.dir, '4000000004-create-4194305.entry'), 'contid-spool 1\nop=create\nid=half\n--- config.json\n{"oci');
    const drainer = new SpoolDrainer({ tagger, spool, scanMs: 60_000 });
    await drainer.start();
    await drainer.stop();
    expect(readdirSync(spool.dir).sort()).toEqual(['failed']);
    expect(readdirSync(join(spool.dir, 'failed')).sort()).toEqual(['4000000004-create-4194305.entry', '4000000004-create-4194305.entry.reason']);
    expect(readFileSync(join(spool.dir, 'failed', '4000000004-create-4194305.entry.reason'), 'utf8')).toMatch(/its writer \(pid 4194305\) exited/);
  });

  it('a temporary .writing- file left by an older shim whose writer died is quarantined with a reason', async () => {
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
