import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuditSink, ContidError, LifecycleRecord, Registry, Tagger, parseLifecycle, readSessionId, toContainerId } from '@contid/core';

/** The audit trail as the kernel would receive it: each record's signed text, in order. */
class RecordingSink implements AuditSink {
  readonly texts: string[] = [];
  send(_type: number, message: string): void {
    this.texts.push(message);
  }
  close(): void {}
  records(): LifecycleRecord[] {
    return this.texts.map((t) => parseLifecycle(new Map(t.split(' ').map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)])))!);
  }
}

/**
 * The core's operations as an adapter calls them. No root: the sessions are "handed over"
 * (as the spool does), so nothing renews this process's own session, and the records go to
 * a recording sink instead of the kernel.
 */
describe('Tagger operations: every registry write is an audit record first', () => {
  let dir: string;
  let sink: RecordingSink;
  let tagger: Tagger;
  // Fake handed-over sessions: far above this boot's real ones, never this process's own.
  let nextSession = 3_000_000_000;
  const target = () => ({ pid: process.pid, session: nextSession++ });

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'contid-ops-'));
    sink = new RecordingSink();
    tagger = Tagger.open({ stateDir: join(dir, 'state'), writePath: 'session', failPolicy: 'closed', nodeName: 'ops-test' }, { sink, trustedCaller: true });
  });
  afterEach(() => {
    tagger.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('create, setns, end: one record each, and the reads see them', () => {
    const { container } = tagger.create({ orchestrator: 'podman', name: 'web', runtimeId: 'abcd1234', parent: null, target: target() });
    const entered = tagger.setns({ contid: container.contid, target: target() });
    expect(tagger.containers.find('web')?.contid).toBe(container.contid);
    expect(tagger.containers.containerOfSession(entered.binding.session!)?.contid).toBe(container.contid);
    expect(tagger.boundSessions(container)).toEqual(tagger.containers.bindings(container.contid).map((b) => b.session));
    expect(tagger.end(container.contid, 'stopped').state).toBe('ended');
    expect(tagger.end(container.contid, 'stopped').state).toBe('ended'); // twice is harmless, and not recorded twice
    expect(sink.records().map((r) => [r.op, r.name, r.contid])).toEqual([
      ['create', 'web', container.contid],
      ['setns', 'web', container.contid],
      ['end', 'web', container.contid],
    ]);
  });

  it('replaceStale ends the open rows of that orchestrator the caller picks (op=end with the reason), and only those', () => {
    const old = tagger.create({ orchestrator: 'lxc', name: 'c1', runtimeId: 'c1', parent: null, target: target() }).container;
    const untagged = tagger.recordUntagged({ orchestrator: 'lxc', name: 'c1', runtimeId: 'c1', pid: process.pid }).container;
    const other = tagger.create({ orchestrator: 'lxc', name: 'c2', runtimeId: 'c2', parent: null, target: target() }).container;
    const sameIdOtherOrchestrator = tagger.create({ orchestrator: 'systemd', name: 'c1', runtimeId: 'c1', parent: null, target: target() }).container;
    sink.texts.length = 0;

    const ended = tagger.replaceStale('lxc', (c) => c.runtimeId === 'c1', 'found stopped');
    expect(ended.map((c) => c.contid).sort()).toEqual([old.contid, untagged.contid].sort());
    expect(sink.records().map((r) => [r.op, r.contid, r.reason])).toEqual(ended.map((c) => ['end', c.contid, 'found stopped']));
    expect(tagger.containers.get(other.contid)?.state).toBe('running');
    expect(tagger.containers.get(sameIdOtherOrchestrator.contid)?.state).toBe('running');
    expect(tagger.replaceStale('lxc', (c) => c.runtimeId === 'c1', 'again')).toEqual([]);
    expect(sink.texts).toHaveLength(2);
  });

  it('enrich: op=update with the new name first, labels merged into the row, never into the record; no change writes nothing', () => {
    const { container } = tagger.create({ orchestrator: 'docker', name: 'abcdef123456', runtimeId: 'abcdef123456ff', labels: { a: '1' }, parent: null, target: target() });
    sink.texts.length = 0;
    const renamed = tagger.enrich(container.contid, { name: 'web', image: 'nginx:1', labels: { b: '2' } });
    expect(renamed).toMatchObject({ name: 'web', image: 'nginx:1', labels: { a: '1', b: '2' } });
    expect(sink.records()).toEqual([expect.objectContaining({ op: 'update', name: 'web', runtimeId: 'abcdef123456ff', contid: container.contid })]);
    expect(sink.texts[0]).not.toContain('nginx');

    expect(tagger.enrich(container.contid, { name: 'web', labels: { a: '1' } })).toEqual(renamed);
    expect(sink.texts).toHaveLength(1);
  });

  it('enrich refuses a name that cannot fit a record, before writing anything', () => {
    const { container } = tagger.create({ orchestrator: 'docker', name: 'x', parent: null, target: target() });
    sink.texts.length = 0;
    expect(() => tagger.enrich(container.contid, { name: 'n'.repeat(300) })).toThrow(ContidError);
    expect(() => tagger.enrich(toContainerId(123n), { name: 'y' })).toThrow(/unknown container/);
    expect(sink.texts).toEqual([]);
    expect(tagger.containers.get(container.contid)?.name).toBe('x');
  });

  it('an audit record that cannot be written under fail-closed leaves the registry as it was', () => {
    const { container } = tagger.create({ orchestrator: 'docker', name: 'x', parent: null, target: target() });
    sink.send = () => {
      throw new ContidError('audit refused');
    };
    expect(() => tagger.enrich(container.contid, { name: 'y' })).toThrow('audit refused');
    expect(tagger.replaceStale('docker', (c) => c.name === 'nobody', 'gone')).toEqual([]); // nothing picked: nothing written
    expect(() => tagger.end(container.contid)).toThrow('audit refused');
    expect(tagger.containers.get(container.contid)).toMatchObject({ name: 'x', state: 'running' });
  });

  it('the queries a read-only Registry answers are the same', () => {
    const { container } = tagger.create({ orchestrator: 'podman', name: 'ro', runtimeId: 'rorororo', parent: null, target: target() });
    const ro = Registry.open(join(dir, 'state'), { readonly: true });
    try {
      expect(ro.findByRuntimeId('rorororo')?.contid).toBe(container.contid);
      expect(tagger.containers.findByRuntimeId('rorororo')?.contid).toBe(container.contid);
    } finally {
      ro.close();
    }
  });

  it('a process gone before it is bound (a probe that ended) is recorded without namespaces: none is read for its pid', () => {
    // A /proc where pid 4242 has no stat (it exited) but its ns links answer: a process that
    // took the pid since. Its namespaces are not the exec's.
    const proc = join(dir, 'proc');
    mkdirSync(join(proc, '4242', 'ns'), { recursive: true });
    for (const kind of ['ipc', 'mnt', 'net', 'pid', 'uts']) symlinkSync(`${kind}:[4026539999]`, join(proc, '4242', 'ns', kind));
    symlinkSync('/proc/self', join(proc, 'self'));
    const fake = Tagger.open({ stateDir: join(dir, 'state'), writePath: 'session', failPolicy: 'closed', nodeName: 'ops-test', procRoot: proc }, { sink, trustedCaller: true });
    try {
      const { container } = fake.create({ orchestrator: 'kubernetes', name: 'shop/web/app', runtimeId: 'gone4242', parent: null, target: target() });
      sink.texts.length = 0;
      fake.setns({ contid: container.contid, target: { pid: 4242, session: nextSession++ }, detail: { healthcheck: true, command: ['/bin/true'], probe: ['liveness'] } });
      expect(sink.records()).toEqual([expect.objectContaining({ op: 'setns', pid: 4242, namespaces: {} })]);
    } finally {
      fake.close();
    }
  });

  it('a process that exits between the reads of its start time and its ns links, its pid taken by another: recorded without the other’s namespaces', () => {
    // Each pid's stat says the bound process's start time (100) to the first read and its
    // successor's (200) to every later one; its ns links and session are the successor's. The
    // stat is a link to a FIFO: once the first read has opened it, its writer points the link at
    // a file saying 200, then answers that read with 100. No later read can find the FIFO (a
    // writer that served reads by turns once gave one read both answers and left the next
    // waiting for ever, in CI).
    const proc = join(dir, 'proc');
    mkdirSync(proc);
    symlinkSync('/proc/self', join(proc, 'self'));
    const writer = `const fs = require('fs'); const [link, later, line] = process.argv.slice(1);
      const fd = fs.openSync(link, 'w');
      fs.symlinkSync(later, link + '.next'); fs.renameSync(link + '.next', link);
      fs.writeSync(fd, line); fs.closeSync(fd);`;
    const writers: ReturnType<typeof spawn>[] = [];
    const exitsBetweenReads = (pid: number): number => {
      const at = join(proc, `${pid}`);
      mkdirSync(join(at, 'ns'), { recursive: true });
      for (const kind of ['ipc', 'mnt', 'net', 'pid', 'uts']) symlinkSync(`${kind}:[4026538888]`, join(at, 'ns', kind));
      writeFileSync(join(at, 'sessionid'), '77'); // the successor's session
      const line = (start: number) => `${pid} (sh) S ${'0 '.repeat(18)}${start} 0 0\n`;
      expect(spawnSync('mkfifo', [join(at, 'stat.first')]).status).toBe(0);
      writeFileSync(join(at, 'stat.later'), line(200));
      symlinkSync('stat.first', join(at, 'stat'));
      writers.push(spawn(process.execPath, ['-e', writer, join(at, 'stat'), 'stat.later', line(100)], { stdio: 'ignore' }));
      return pid;
    };
    const fake = Tagger.open({ stateDir: join(dir, 'state'), writePath: 'session', failPolicy: 'closed', nodeName: 'ops-test', procRoot: proc }, { sink, trustedCaller: true });
    try {
      // create, the hand-off having seen start time 100: recorded as seen, namespaces unknown
      const { container } = fake.create({ orchestrator: 'podman', name: 'reused', runtimeId: 'reused4343', parent: null, target: { pid: exitsBetweenReads(4343), session: nextSession++, start: 100 } });
      expect([container.initStart, container.namespaces]).toEqual([100, {}]);
      fake.setns({ contid: container.contid, target: { pid: exitsBetweenReads(4344), session: nextSession++ } });
      const init = fake.recordInit(container.contid, exitsBetweenReads(4345));
      expect([init.initStart, init.namespaces]).toEqual([100, {}]);
      // a running container found untagged: refused, not recorded with the successor's session 77
      expect(() => fake.recordUntagged({ orchestrator: 'docker', name: 'found', runtimeId: 'found4346', pid: exitsBetweenReads(4346) })).toThrow(/process 4346 exited while it was read/);
      expect(fake.containers.containerOfSession(77)).toBeUndefined();
      // before: each record carried the successor's five links (and the untagged one its session)
      expect(sink.records().map((r) => [r.op, r.pid, r.namespaces])).toEqual([
        ['create', 4343, {}],
        ['setns', 4344, {}],
        ['update', 4345, {}],
      ]);
    } finally {
      for (const w of writers) w.kill();
      fake.close();
    }
  });

  it('says where it reads and which write path a pid would get', () => {
    expect(tagger.stateDir).toBe(join(dir, 'state'));
    expect(tagger.procRoot).toBe('/proc');
    expect(tagger.writePathFor(process.pid)).toBe('session');
    expect(readSessionId('self', tagger.procRoot)).toBeGreaterThanOrEqual(0);
  });
});
