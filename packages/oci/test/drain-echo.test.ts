import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuditSink, Tagger } from '@contid/core';
import { Spool, SpoolConsumer, SpoolDrainer } from '@contid/oci';

class NullSink implements AuditSink {
  send(): void {}
  close(): void {}
}

/**
 * A create waiting for its runtime's pid file was given back to the spool. The give-back is a
 * rename the spool's watcher sees: the drain woke itself, claimed the entry, gave it back, and
 * spun the CPU until runc wrote the pid file (`pnpm bench docker`: ≈ 70 ms of agent CPU per
 * `docker run`). Only news wakes the drain now, and a waiting entry is looked at before it is
 * claimed, so it is not renamed at all; it is looked at again by a timer.
 */
describe('the spool watch wakes the drain only for news', () => {
  let dir: string;
  let tagger: Tagger;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'contid-echo-'));
    mkdirSync(join(dir, 'spool'), { mode: 0o700 });
    tagger = Tagger.open({ stateDir: join(dir, 'state'), writePath: 'session', failPolicy: 'closed', nodeName: 'echo-test' }, { sink: new NullSink(), trustedCaller: true });
  });
  afterEach(() => {
    tagger.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** A create entry whose runtime (this process: alive) has not written its pid file yet. */
  const waitingCreate = (name: string) =>
    writeFileSync(
      join(dir, 'spool', name),
      `contid-spool 1\nop=create\nsubcommand=create\nid=echo1\nbundle=${dir}\npidfile=${join(dir, 'no-pid-yet')}\nwrapper-pid=${process.pid}\nsession=3000000001\n--- end\n`,
    );

  it('a waiting entry is left where it is (no claim, no give-back, no echo); its own claims are echoes, a write by someone else is not', async () => {
    const spool = new Spool(join(dir, 'spool'));
    const consumer = new SpoolConsumer({ tagger, spool });
    waitingCreate('3000000001-create-1.entry');
    expect(await consumer.drain()).toEqual([expect.objectContaining({ kind: 'deferred', why: 'the runtime has not written its pid file yet' })]);
    expect(readdirSync(join(dir, 'spool'))).toEqual(['3000000001-create-1.entry']);
    // Nothing was renamed: the next event for that name is news.
    expect(consumer.isOwnEcho('3000000001-create-1.entry')).toBe(false);
    expect(consumer.isOwnEcho(`.claimed-${process.pid}-3000000001-create-1.entry`)).toBe(true);
    expect(consumer.isOwnEcho('.claimed-1-3000000001-create-1.entry')).toBe(false);
    expect(consumer.isOwnEcho('3000000002-setns-9.entry')).toBe(false);
    expect(consumer.isOwnEcho(null)).toBe(false);
  });

  it('a create waiting for its pid file for a second costs a few passes, not a spin', async () => {
    const spool = new Spool(join(dir, 'spool'));
    const drainer = new SpoolDrainer({ tagger, spool, scanMs: 60_000 });
    let passes = 0;
    const drain = drainer.consumer.drain.bind(drainer.consumer);
    drainer.consumer.drain = () => {
      passes++;
      return drain();
    };
    await drainer.start();
    waitingCreate('3000000001-create-1.entry');
    await new Promise((r) => setTimeout(r, 1000));
    await drainer.stop();
    // The retry looks every 50 ms: at most about 20 passes, plus the write's own events.
    expect(passes).toBeGreaterThanOrEqual(2);
    expect(passes).toBeLessThan(60);
  });
});
