import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuditSink, Tagger } from '@contid/core';
import { SpooledLine, bindSpooledLine, recordSpooledMainPid } from '../src';

/** Records nothing: these tests read the registry. */
class NullSink implements AuditSink {
  send(): void {}
  close(): void {}
}

/**
 * contid serve's half of `contid-systemd bind` when $MAINPID has exited before serve reached
 * its entry (a short confined run, serve down or behind): what the binder saw — the main
 * process's cgroup, read between two reads of one start time — stands in for the live check,
 * and a live process is still checked live. An emulated /proc (a directory per pid), no root.
 */
describe('recordSpooledMainPid: a $MAINPID gone before serve reads its entry', () => {
  const UNIT = 'web.service';
  const CGROUP = `/system.slice/${UNIT}`;
  const INVOCATION = 'b'.repeat(32);
  let dir: string;
  let proc: string;
  let tagger: Tagger;
  // Handed-over sessions far above this boot's real ones.
  let nextSession = 3_100_000_000;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'contid-spooled-main-'));
    proc = join(dir, 'proc');
    // serve's own session (the unset one), read when a create's parent is resolved.
    mkdirSync(join(proc, 'self'), { recursive: true });
    writeFileSync(join(proc, 'self', 'sessionid'), '4294967295');
    tagger = Tagger.open({ stateDir: join(dir, 'state'), writePath: 'session', failPolicy: 'closed', nodeName: 'spooled-test', procRoot: proc }, { sink: new NullSink(), trustedCaller: true });
  });
  afterEach(() => {
    tagger.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** A live process in the emulated /proc: its start time and cgroup. */
  const live = (pid: number, start: number, cgroup: string): void => {
    mkdirSync(join(proc, String(pid)));
    writeFileSync(join(proc, String(pid), 'stat'), `${pid} (sleep) S ${Array.from({ length: 18 }, () => '0').join(' ')} ${start} 0 0\n`);
    writeFileSync(join(proc, String(pid), 'cgroup'), `0::${cgroup}\n`);
  };

  /** The entry contid-systemd bind writes (init-cgroup: what it saw; omitted as an older writer did). */
  const bindEntry = (pid: number, session: number, start: number, initCgroup?: string): SpooledLine => ({
    name: `${session}-init-1.entry`,
    id: INVOCATION,
    containerName: UNIT,
    wrapperPid: 1,
    session,
    oldSession: 4_000_000_000,
    fields: { cgroup: CGROUP, pid: String(pid), 'init-session': String(session), 'init-start': String(start), ...(initCgroup === undefined ? {} : { 'init-cgroup': initCgroup }) },
  });

  it('a confined main process seen in the unit cgroup is bound (create) though it has exited', () => {
    const session = nextSession++;
    const outcome = recordSpooledMainPid(bindEntry(4242, session, 777, CGROUP), tagger);
    expect(outcome).toMatchObject({ kind: 'tagged', op: 'create' });
    expect(tagger.containers.findByRuntimeId(INVOCATION)).toMatchObject({ name: UNIT, state: 'running', session });
  });

  it('accepts what the binder saw below the unit cgroup (Delegate=), with the binder in .control', () => {
    const entry = bindEntry(4243, nextSession++, 778, `${CGROUP}/payload`);
    expect(recordSpooledMainPid({ ...entry, fields: { ...entry.fields, cgroup: `${CGROUP}/.control` } }, tagger)).toMatchObject({ kind: 'tagged', op: 'create' });
  });

  it.each([
    ['without what the binder saw (an older writer)', undefined],
    ['seen in another unit', '/system.slice/db.service'],
    ['seen in a login session', '/user.slice/user-0.slice/session-3.scope'],
    ['seen in a unit whose name only starts like it', `${CGROUP}2`],
  ])('a gone main process %s is refused, and nothing is bound', (_what, initCgroup) => {
    expect(() => recordSpooledMainPid(bindEntry(4244, nextSession++, 779, initCgroup), tagger)).toThrow(`${UNIT}: MAINPID 4244 exited before contid serve recorded it`);
    expect(tagger.containers.findByRuntimeId(INVOCATION)).toBeUndefined();
  });

  it("a live process is checked live: another unit's process is refused whatever the entry says it saw", () => {
    live(4245, 780, '/user.slice/user-0.slice/session-3.scope');
    expect(() => recordSpooledMainPid(bindEntry(4245, nextSession++, 780, CGROUP), tagger)).toThrow(/^\$MAINPID 4245 is not a process of web\.service \(cgroup \/user\.slice\/user-0\.slice\/session-3\.scope, not in \/system\.slice\/web\.service\); not binding its session$/);
    expect(tagger.containers.findByRuntimeId(INVOCATION)).toBeUndefined();
  });

  it('a pid now held by another process (another start time) counts as gone: the binder saw, not the new process', () => {
    live(4246, 999, '/user.slice/user-0.slice/session-3.scope');
    expect(recordSpooledMainPid(bindEntry(4246, nextSession++, 781, CGROUP), tagger)).toMatchObject({ kind: 'tagged', op: 'create' });
    expect(tagger.containers.findByRuntimeId(INVOCATION)).toMatchObject({ initPid: 4246, initStart: 781, namespaces: {} });
  });

  it("a forking unit's daemon that exited is recorded as its init as the binder saw it (op=init, its start time)", () => {
    const session = nextSession++;
    // The ExecStart= line's entry: the daemon was forked in its session.
    bindSpooledLine({ name: `${session}-create-1.entry`, id: INVOCATION, containerName: UNIT, wrapperPid: 4000, session, oldSession: null, fields: { cgroup: CGROUP } }, tagger);
    const outcome = recordSpooledMainPid(bindEntry(4247, session, 782, CGROUP), tagger);
    expect(outcome).toMatchObject({ kind: 'tagged', op: 'init' });
    expect(tagger.containers.findByRuntimeId(INVOCATION)).toMatchObject({ initPid: 4247, initStart: 782 });
    // Read again (a crash after commit): nothing more.
    expect(recordSpooledMainPid(bindEntry(4247, session, 782, CGROUP), tagger)).toMatchObject({ kind: 'already' });
  });
});
