import * as fs from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuditSink, Tagger } from '@contid/core';
import { Spool, SpoolConsumer } from '@contid/oci';

/** Every directory listed through node:fs by the code under test (a module mock: the consumer imports readdirSync by name). */
const mockListed: string[] = [];
jest.mock('node:fs', () => {
  const real = jest.requireActual<typeof import('node:fs')>('node:fs');
  return { ...real, readdirSync: (...args: Parameters<typeof real.readdirSync>) => (mockListed.push(String(args[0])), real.readdirSync(...args)) };
});

class NullSink implements AuditSink {
  send(): void {}
  close(): void {}
}

/** The pid of a process that has exited and been reaped. */
const deadPid = (): number => spawnSync('/bin/true').pid!;

/**
 * `docker run --rm … true` drained late: by the time the agent reads the create entry, runc has
 * exited, the container has run and containerd has deleted its bundle (pid file and all); the
 * delete's end entry, later in the spool, names the init. The create is bound to that init.
 * Before, the consumer first looked for a live process of the entry's session by reading
 * /proc/PID/sessionid of every process on the host (a few hundred reads per such run, in about
 * half of the bench's runs at load), though a deleted container has none left.
 */
describe('a create drained after its container was deleted', () => {
  let dir: string;
  let tagger: Tagger;
  beforeEach(() => {
    dir = fs.mkdtempSync(join(tmpdir(), 'contid-late-'));
    fs.mkdirSync(join(dir, 'spool'), { mode: 0o700 });
    tagger = Tagger.open({ stateDir: join(dir, 'state'), writePath: 'session', failPolicy: 'closed', nodeName: 'late-test' }, { sink: new NullSink(), trustedCaller: true });
  });
  afterEach(() => {
    tagger.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('is bound to the init its delete named, without a walk over /proc', async () => {
    const [runc, init, runcDelete] = [deadPid(), deadPid(), deadPid()];
    fs.writeFileSync(
      join(dir, 'spool', `3000000001-create-${runc}.entry`),
      `contid-spool 1\nop=create\nsubcommand=create\nid=late1\nbundle=${dir}\npidfile=${join(dir, 'gone.pid')}\nwrapper-pid=${runc}\nsession=3000000001\n--- end\n`,
    );
    fs.writeFileSync(
      join(dir, 'spool', `3000000002-end-${runcDelete}.entry`),
      `contid-spool 1\nop=end\nsubcommand=delete\nid=late1\nwrapper-pid=${runcDelete}\nsession=3000000002\nold-session=3\ninit-pid=${init}\n--- end\n`,
    );
    mockListed.length = 0;
    const outcomes = await new SpoolConsumer({ tagger, spool: new Spool(join(dir, 'spool')) }).drain();
    expect(outcomes.map((o) => o.kind)).toEqual(['tagged', 'ended']);
    const row = tagger.containers.findByRuntimeId('late1')!;
    expect([row.initPid, row.state]).toEqual([init, 'ended']);
    expect(mockListed.filter((p) => p === '/proc')).toEqual([]);
  });

  it('a create whose runtime left no pid file and no delete: still quarantined after the walk', async () => {
    const runc = deadPid();
    fs.writeFileSync(
      join(dir, 'spool', `3000000001-create-${runc}.entry`),
      `contid-spool 1\nop=create\nsubcommand=create\nid=late2\nbundle=${dir}\npidfile=${join(dir, 'gone.pid')}\nwrapper-pid=${runc}\nsession=3000000001\n--- end\n`,
    );
    mockListed.length = 0;
    const outcomes = await new SpoolConsumer({ tagger, spool: new Spool(join(dir, 'spool')) }).drain();
    expect(mockListed).toContain('/proc');
    expect(outcomes).toEqual([expect.objectContaining({ kind: 'quarantined', why: expect.stringContaining('no delete of late2 recorded an init') })]);
  });
});
