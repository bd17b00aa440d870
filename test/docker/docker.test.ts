import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ContainerRecord, Registry, Tagger, formatContainerId } from '@contid/core';
import { DockerAgent, Spool, SpoolConsumer } from '@contid/docker';
import { CONTID_MAIN, contid, tempStateDir, uniqueName } from '../helpers/cli';
import { addExecveRule, deleteExecveRule, field } from '../helpers/audit';
import { DockerEngine, IMAGE } from './engine';

// One engine for the file; the shim reads its settings from a conf file the tests rewrite.
const state = tempStateDir('docker');
const stateDir = join(state.dir, 'state');
const spoolDir = join(stateDir, 'spool');
const shimConf = join(state.dir, 'contid-runc.conf');
const engine = new DockerEngine({
  label: 'docker',
  env: { CONTID_STATE_DIR: stateDir, CONTID_RUNC_CONF: shimConf },
});
let tagger: Tagger;
let agent: DockerAgent;
const agentLog: string[] = [];

function setShim(conf: string): void {
  writeFileSync(shimConf, conf);
}

function sessionOf(pid: number | string): number {
  return Number(readFileSync(`/proc/${pid}/sessionid`, 'utf8').trim());
}

function inspectPid(name: string): number {
  return Number(engine.docker(['inspect', '-f', '{{.State.Pid}}', name]).stdout.trim());
}

function fullId(name: string): string {
  return engine.docker(['inspect', '-f', '{{.Id}}', name]).stdout.trim();
}

/** Every process of the container, as Docker lists them (host pids). */
function containerPids(name: string): number[] {
  const lines = engine.docker(['top', name, '-o', 'pid']).stdout.trim().split('\n').slice(1);
  return lines.map((l) => Number(l.trim())).filter((p) => p > 0);
}

interface KeyedEvent {
  serial: string;
  ses: number;
  proctitle: string;
}

/**
 * execve events, read straight from every log file (rotated ones too). Not by key: when several
 * rules match, the kernel names only the first rule's key, and other tests on this host add theirs.
 */
function execEvents(): KeyedEvent[] {
  const bySerial = new Map<string, { ses?: number; keyed?: boolean; proctitle?: string }>();
  const dir = '/var/log/audit';
  for (const f of readdirSync(dir).filter((n) => n.startsWith('audit.log'))) {
    let text: string;
    try {
      text = readFileSync(join(dir, f), 'latin1');
    } catch {
      continue; // rotated away meanwhile
    }
    for (const line of text.split('\n')) {
      const serial = /audit\([0-9.]+:(\d+)\)/.exec(line)?.[1];
      if (!serial) continue;
      const e = bySerial.get(serial) ?? {};
      if (line.startsWith('type=SYSCALL') && line.includes(' syscall=59 ')) {
        e.keyed = true;
        e.ses = Number(field(line, 'ses'));
      } else if (line.startsWith('type=PROCTITLE')) e.proctitle = field(line, 'proctitle');
      bySerial.set(serial, e);
    }
  }
  return [...bySerial.entries()].filter(([, e]) => e.keyed).map(([serial, e]) => ({ serial, ses: e.ses!, proctitle: e.proctitle ?? '' }));
}

/** ausearch over every log file (other tests on this host rotate audit.log), last 10 minutes; --input-logs, or it reads stdin. */
function ausearchAll(args: string[]): string[] {
  const r = spawnSync('ausearch', [...args, '--raw', '--input-logs', '-ts', 'recent'], { encoding: 'utf8', maxBuffer: 256 << 20 });
  return r.status === 0 ? r.stdout.split('\n').filter((l) => l && !l.startsWith('----')) : [];
}

async function waitForAudit(args: string[], predicate: (lines: string[]) => boolean): Promise<string[]> {
  return until(`ausearch ${args.join(' ')}`, () => {
    const l = ausearchAll(args);
    return predicate(l) && l;
  });
}

async function until<T>(what: string, f: () => T | undefined | false, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; agent log:\n${[...agentLog.filter((l) => !l.startsWith('create ') && !l.startsWith('setns ')), ...agentLog.slice(-5)].join('\n')}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function row(runtimeId: string): ContainerRecord | undefined {
  return tagger.containers.findByRuntimeId(runtimeId);
}

beforeAll(async () => {
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  setShim('');
  await engine.start();
  tagger = Tagger.open({ stateDir, failPolicy: 'open' });
  agent = new DockerAgent({ docker: engine.api, tagger, spool: new Spool(spoolDir), log: (l) => agentLog.push(l), scanMs: 500 });
  await agent.start();
}, 180_000);

afterAll(async () => {
  await agent?.stop();
  tagger?.close();
  await engine.stop();
  state.cleanup();
}, 120_000);

describe('docker run through contid-runc (real dockerd, real kernel audit)', () => {
  const name = uniqueName('dk-run');
  let id: string;
  let c: ContainerRecord;

  test('run: the container gets a contid bound to a fresh session carried by every process', async () => {
    const r = engine.docker(['run', '-d', '--runtime', 'contid', '--name', name, '--label', 'com.docker.compose.project=shop', '--label', 'com.docker.compose.service=web', IMAGE, 'sh', '-c', 'sleep 600 & sleep 600']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    id = fullId(name);
    c = await until('the create binding', () => row(id));
    expect(c).toMatchObject({ orchestrator: 'docker', name, image: IMAGE, state: 'running', runtimeId: id });
    expect(c.labels).toMatchObject({ 'com.docker.compose.project': 'shop', 'com.docker.compose.service': 'web' });
    const init = inspectPid(name);
    expect(c.initPid).toBe(init);
    expect(c.session).toBe(sessionOf(init));
    expect(c.session).not.toBe(sessionOf('self'));
    const pids = await until('both sleeps', () => {
      const p = containerPids(name);
      return p.length >= 2 && p;
    });
    for (const pid of pids) expect(sessionOf(pid)).toBe(c.session);
    // The kernel logged the renewal, and contid its op=create record, both with that session.
    const login = await waitForAudit(['-m', 'LOGIN', '--session', String(c.session)], (l) => l.length > 0);
    expect(login.length).toBeGreaterThan(0);
    const created = await waitForAudit(['-m', 'VIRT_CONTROL', '--uuid', id], (l) => l.some((x) => x.includes('op=create')));
    const rec = created.find((x) => x.includes('op=create'))!;
    expect(field(rec, 'vm-ses')).toBe(String(c.session));
    expect(field(rec, 'contid')).toBe(formatContainerId(c.contid));
  });

  test('exec twice: each docker exec gets its own fresh session, bound to the same contid with its exec id', async () => {
    const since = String(Math.floor(Date.now() / 1000) - 1);
    const sessions: number[] = [];
    for (let i = 0; i < 2; i++) {
      const r = engine.docker(['exec', name, 'sh', '-c', 'cat /proc/self/sessionid']);
      expect(r.status).toBe(0);
      sessions.push(Number(r.stdout.trim()));
    }
    expect(new Set([...sessions, c.session]).size).toBe(3);
    // Docker forgets finished execs; its event log still names them.
    const events = ['events', '--since', since, '--until', String(Math.ceil(Date.now() / 1000) + 1), '--filter', `container=${name}`, '--filter', 'event=exec_create'];
    const execIds = engine.docker([...events, '--format', '{{.Actor.Attributes.execID}}']).stdout.trim().split('\n');
    expect(execIds).toHaveLength(2);
    const bindings = await until('two setns bindings', () => {
      const b = tagger.containers.bindings(c.contid).filter((x) => x.op === 'setns');
      return b.length === 2 && b;
    });
    expect(bindings.map((b) => b.session).sort()).toEqual([...sessions].sort());
    for (const b of bindings) {
      expect(b.detail.command).toEqual(['sh', '-c', 'cat /proc/self/sessionid']);
      expect(execIds).toContain(String(b.detail.execId));
    }
    expect(new Set(bindings.map((b) => b.detail.execId)).size).toBe(2);
    expect(tagger.containers.containerOfSession(sessions[1])?.contid).toBe(c.contid);
  });

  test('a detached exec still running when it is bound: its binding names the exec\'s own process (looked for among the container\'s cgroup), not runc', async () => {
    const secs = String(7000 + (process.pid % 1000));
    const argv = ['sh', '-c', `sleep ${secs}; true`];
    const r = engine.docker(['exec', '-d', name, ...argv]);
    expect([r.status, r.stderr]).toEqual([0, '']);
    const b = await until('the detached exec\'s binding', () => tagger.containers.bindings(c.contid).find((x) => x.op === 'setns' && JSON.stringify(x.detail.command) === JSON.stringify(argv)));
    // The host's view of that process: the one in the binding's session running the exec's command.
    expect(readFileSync(`/proc/${b.pid}/cmdline`, 'utf8')).toBe(`${argv.join('\0')}\0`);
    expect(sessionOf(b.pid)).toBe(b.session);
    process.kill(b.pid, 'SIGKILL');
  });

  test('a process in the container cannot renew its own session (default capabilities)', () => {
    const r = engine.docker(['exec', name, 'sh', '-c', 'before=$(cat /proc/self/sessionid); echo 0 > /proc/self/loginuid; echo "rc=$? $before $(cat /proc/self/sessionid)"']);
    const m = /rc=(\d+) (\d+) (\d+)/.exec(r.stdout);
    expect(m).not.toBeNull();
    expect(m![1]).not.toBe('0');
    expect(m![2]).toBe(m![3]);
    // The init's session, untouched by anything inside.
    expect(sessionOf(inspectPid(name))).toBe(c.session);
  });

  test('stop ends the contid; start again gives a new contid with the same name; rm leaves it ended', async () => {
    expect(engine.docker(['stop', '-t', '1', name]).status).toBe(0);
    await until('end on die', () => tagger.containers.get(c.contid)?.state === 'ended');
    expect(engine.docker(['start', name]).status).toBe(0);
    const again = await until('a second contid', () => {
      const r = row(id);
      return r && r.contid !== c.contid && r.state === 'running' && r;
    });
    expect(again.name).toBe(name);
    expect(again.session).toBe(sessionOf(inspectPid(name)));
    expect(again.session).not.toBe(c.session);
    expect(engine.docker(['restart', '-t', '1', name]).status).toBe(0);
    const third = await until('a third contid after restart', () => {
      const r = row(id);
      return r && r.contid !== again.contid && r.state === 'running' && r;
    });
    expect(tagger.containers.get(again.contid)?.state).toBe('ended');
    expect(engine.docker(['rm', '-f', name]).status).toBe(0);
    await until('end on rm', () => tagger.containers.get(third.contid)?.state === 'ended');
    expect(readdirSync(spoolDir).filter((n) => n.endsWith('.entry'))).toEqual([]);
  });
});

describe('many containers', () => {
  test('20 concurrent docker run: 20 contids, 20 distinct sessions, each init carries its own', async () => {
    const names = Array.from({ length: 20 }, (_, i) => uniqueName(`dk-par${i}`));
    const runs = await Promise.all(names.map((n) => engine.dockerAsync(['run', '-d', '--runtime', 'contid', '--name', n, IMAGE, 'sh', '-c', 'sleep 600'])));
    for (const r of runs) expect(r.status).toBe(0);
    const rows = await until('20 bindings', () => {
      const all = names.map((n) => row(fullId(n)));
      return all.every((x) => x && x.state === 'running') && (all as ContainerRecord[]);
    }, 60_000);
    expect(new Set(rows.map((r) => r.session)).size).toBe(20);
    expect(new Set(rows.map((r) => r.contid)).size).toBe(20);
    for (const [i, r] of rows.entries()) {
      expect(r.name).toBe(names[i]);
      expect(sessionOf(inspectPid(names[i]))).toBe(r.session);
    }
    engine.docker(['rm', '-f', ...names]);
  }, 180_000);

  test('execve events of a container are found by its session, and no other container’s are', async () => {
    const key = uniqueName('contid-dk');
    const a = uniqueName('dk-a');
    const b = uniqueName('dk-b');
    const startedAt = Date.now();
    addExecveRule(key);
    try {
      for (const n of [a, b]) expect(engine.docker(['run', '-d', '--runtime', 'contid', '--name', n, IMAGE, 'sh', '-c', 'sleep 600']).status).toBe(0);
      const [ra, rb] = await until('both rows', () => {
        const x = [row(fullId(a)), row(fullId(b))];
        return x.every(Boolean) && (x as ContainerRecord[]);
      });
      engine.docker(['exec', a, 'sh', '-c', `echo marker-${a}-exec; /bin/busybox true marker-${a}`]);
      engine.docker(['exec', b, 'sh', '-c', `/bin/busybox true marker-${b}`]);
      // A docker exec is a setns binding of the same contid: its sessions belong to A too.
      const sessionsA = await until('A’s exec binding', () => {
        const s = tagger.containers.bindings(ra.contid).map((x) => x.session);
        return s.length === 2 && s;
      });
      const hex = (t: string) => Buffer.from(t).toString('hex').toUpperCase();
      // Oracle: the raw log itself, grouped by event serial (ausearch mis-groups records
      // under the execve floods of other tests sharing this host).
      const events = await until('both markers in the log', () => {
        const ev = execEvents();
        const all = ev.map((e) => e.proctitle).join('\n');
        return all.includes(hex(`marker-${a}`)) && all.includes(hex(`marker-${b}`)) && ev;
      });
      const ofA = events.filter((e) => sessionsA.includes(e.ses));
      expect(ofA.some((e) => e.proctitle.includes(hex(`marker-${a}`)))).toBe(true);
      expect(ofA.some((e) => e.proctitle.includes(hex(`marker-${b}`)))).toBe(false);
      const sessionsB = await until('B’s exec binding', () => {
        const x = tagger.containers.bindings(rb.contid).map((y) => y.session);
        return x.length === 2 && x;
      });
      expect(events.filter((e) => sessionsB.includes(e.ses)).some((e) => e.proctitle.includes(hex(`marker-${b}`)))).toBe(true);
      // contid search --container A: A's execve events (init and docker exec), none of B's.
      const window = ['--start', `@${Math.floor(startedAt / 1000) - 1}`];
      const search = contid(['search', '--container', a, ...window], { env: { ...process.env, CONTID_STATE_DIR: stateDir } });
      // (stderr may count other tests' binding records on this shared log as untrusted)
      expect(search.status).toBe(0);
      expect(search.stdout).toContain(hex(`marker-${a}`));
      expect(search.stdout).not.toContain(hex(`marker-${b}`));
      const found = search.stdout.split('\n').filter((l) => l.startsWith('type=SYSCALL') && l.includes(' syscall=59 '));
      expect(found.length).toBeGreaterThan(0);
      for (const l of found) expect(sessionsA).toContain(Number(field(l, 'ses')));
      // Exactly the oracle's events of A's sessions: nothing missing, nothing extra.
      const serialOf = (l: string) => /audit\([0-9.]+:(\d+)\)/.exec(l)![1];
      expect(new Set(found.map(serialOf))).toEqual(new Set(execEvents().filter((e) => sessionsA.includes(e.ses)).map((e) => e.serial)));
      // and the same for B, the other way round
      const searchB = contid(['search', '--container', b, ...window], { env: { ...process.env, CONTID_STATE_DIR: stateDir } });
      expect(searchB.stdout).toContain(hex(`marker-${b}`));
      expect(searchB.stdout).not.toContain(hex(`marker-${a}`));
    } finally {
      deleteExecveRule(key);
      engine.docker(['rm', '-f', a, b]);
    }
  }, 120_000);
});

describe('fail policy inside docker run', () => {
  afterEach(() => setShim(''));

  test('closed: an unusable spool stops docker run with the shim’s one line in docker’s error', () => {
    const n = uniqueName('dk-closed');
    setShim('CONTID_FAIL_POLICY=closed\nCONTID_SPOOL_DIR=/proc/contid-no-such-dir/spool\n');
    const r = engine.docker(['run', '-d', '--runtime', 'contid', '--name', n, IMAGE, 'sh', '-c', 'sleep 600']);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('contid-runc: cannot create the spool /proc/contid-no-such-dir/spool (CONTID_FAIL_POLICY=closed: not starting create)');
    expect(engine.docker(['inspect', '-f', '{{.State.Running}}', n]).stdout.trim()).toBe('false');
    engine.docker(['rm', '-f', n]);
  });

  test('open: the same failure lets the container start, and the agent records it untagged (op=untagged in the log)', async () => {
    const n = uniqueName('dk-open');
    setShim('CONTID_FAIL_POLICY=open\nCONTID_SPOOL_DIR=/proc/contid-no-such-dir/spool\n');
    const r = engine.docker(['run', '-d', '--runtime', 'contid', '--name', n, IMAGE, 'sh', '-c', 'sleep 600']);
    expect(r.status).toBe(0);
    const id = fullId(n);
    const c = await until('the untagged row', () => row(id));
    expect(c).toMatchObject({ state: 'untagged', name: n, initPid: inspectPid(n) });
    const lines = await waitForAudit(['-m', 'VIRT_CONTROL', '--uuid', id], (l) => l.some((x) => x.includes('op=untagged')));
    expect(lines.some((x) => x.includes('op=untagged'))).toBe(true);
    engine.docker(['rm', '-f', n]);
  });
});

describe('the Node side killed during 20 starts', () => {
  test('no binding is lost: the spool holds them until the restarted agent drains it, without duplicates', async () => {
    // A registry and spool of this test's own, drained only by the CLI agent.
    const state2 = join(state.dir, 'state2');
    mkdirSync(state2, { recursive: true, mode: 0o700 });
    setShim(`CONTID_SPOOL_DIR=${join(state2, 'spool')}\n`);
    const env = { ...process.env, CONTID_STATE_DIR: state2 };
    const startAgent = async (): Promise<ChildProcess> => {
      const child = spawn(process.execPath, [CONTID_MAIN, 'docker', 'agent', '--host', engine.host], { env, stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
      await until('the agent to watch', () => err.includes('watching') || (child.exitCode !== null && (() => { throw new Error(err); })()));
      return child;
    };
    const rowsOf = (ids: string[]) => {
      const reg = Registry.open(state2, { readonly: true });
      try {
        return ids.map((id) => reg.list().filter((c) => c.runtimeId === id));
      } finally {
        reg.close();
      }
    };
    try {
      let agentProc = await startAgent();
      const names = Array.from({ length: 20 }, (_, i) => uniqueName(`dk-kill${i}`));
      const runs = Promise.all(names.map((n) => engine.dockerAsync(['run', '-d', '--runtime', 'contid', '--name', n, IMAGE, 'sh', '-c', 'sleep 600'])));
      // Kill it as soon as the first hand-off reached the spool or the registry.
      const anyRow = () => {
        const reg = Registry.open(state2, { readonly: true });
        try {
          return reg.list().length > 0;
        } finally {
          reg.close();
        }
      };
      await until('a first hand-off', () => readdirSync(join(state2, 'spool')).some((f) => f.endsWith('.entry')) || anyRow(), 30_000);
      agentProc.kill('SIGKILL');
      for (const r of await runs) expect(r.status).toBe(0);
      const ids = names.map(fullId);
      const before = rowsOf(ids).filter((r) => r.length > 0).length;
      agentProc = await startAgent();
      const rows = await until('20 rows', () => {
        const all = rowsOf(ids);
        return all.every((r) => r.length >= 1) && all;
      }, 60_000);
      expect(before).toBeLessThan(20); // the kill really interrupted the hand-off
      expect(rows.map((r) => r.length)).toEqual(Array(20).fill(1)); // no duplicates
      rows.forEach(([c], i) => {
        expect(c).toMatchObject({ state: 'running', name: names[i], orchestrator: 'docker' });
        expect(c.session).toBe(sessionOf(inspectPid(names[i])));
      });
      expect(readdirSync(join(state2, 'spool')).filter((f) => f.endsWith('.entry'))).toEqual([]);
      const stopped = new Promise<number | null>((r) => agentProc.once('exit', (code) => r(code)));
      agentProc.kill('SIGTERM');
      expect(await stopped).toBe(0);
      engine.docker(['rm', '-f', ...names]);
    } finally {
      setShim('');
    }
  }, 240_000);
});

describe('idempotent hand-off', () => {
  test('an entry processed again (crash after the commit, before the delete) is recognised, never doubled', async () => {
    const spool3 = join(state.dir, 'spool3');
    setShim(`CONTID_SPOOL_DIR=${spool3}\n`);
    const n = uniqueName('dk-idem');
    try {
      expect(engine.docker(['run', '-d', '--runtime', 'contid', '--name', n, IMAGE, 'sh', '-c', 'sleep 600']).status).toBe(0);
      expect(engine.docker(['exec', n, 'sh', '-c', 'true']).status).toBe(0);
      const spool = new Spool(spool3);
      const names = spool.names();
      expect(names.map((x) => x.replace(/^\d+-|-\d+\.entry$/g, ''))).toEqual(['create', 'setns']);
      const saved = names.map((x) => [x, readFileSync(join(spool3, x))] as const);
      // A registry of its own: the file's agent (on another registry) must not touch these rows.
      const own = Tagger.open({ stateDir: join(state.dir, 'state3'), failPolicy: 'open' });
      const consumer = new SpoolConsumer({ tagger: own, spool, pidFileWaitMs: 5000 });
      const first = await consumer.drain();
      expect(first.map((o) => o.kind)).toEqual(['tagged', 'tagged']);
      for (const [x, data] of saved) writeFileSync(join(spool3, x), data);
      const second = await consumer.drain();
      expect(second.map((o) => o.kind)).toEqual(['already', 'already']);
      expect(spool.names()).toEqual([]);
      const id = fullId(n);
      const rows = own.containers.list().filter((c) => c.runtimeId === id);
      expect(rows).toHaveLength(1);
      expect(own.containers.bindings(rows[0].contid).map((b) => b.op)).toEqual(['create', 'setns']);
      own.close();
    } finally {
      setShim('');
      engine.docker(['rm', '-f', n]);
    }
  });
});

describe('contid docker sync', () => {
  test('one pass: drains the spool, records a container started without the shim as untagged, ends what stopped', async () => {
    const state4 = join(state.dir, 'state4');
    mkdirSync(state4, { recursive: true, mode: 0o700 });
    setShim(`CONTID_SPOOL_DIR=${join(state4, 'spool')}\n`);
    const env = { ...process.env, CONTID_STATE_DIR: state4 };
    const tagged = uniqueName('dk-sync');
    const plain = uniqueName('dk-plain');
    try {
      expect(engine.docker(['run', '-d', '--runtime', 'contid', '--name', tagged, IMAGE, 'sh', '-c', 'sleep 600']).status).toBe(0);
      expect(engine.docker(['run', '-d', '--runtime', 'runc', '--name', plain, IMAGE, 'sh', '-c', 'sleep 600']).status).toBe(0);
      const r = contid(['docker', 'sync', '--host', engine.host], { env });
      expect(r.stderr).toMatch(/^(contid docker: create \S+ -> contid \d+\n)$/);
      expect(r.stdout).toMatch(/^spool: 1 tagged, 0 ended, 0 already done, 0 still pending, 0 quarantined; docker: 1 tagged, 1 recorded untagged, 0 ended\n$/);
      const reg = Registry.open(state4);
      try {
        expect(reg.findByRuntimeId(fullId(tagged))).toMatchObject({ state: 'running', name: tagged, session: sessionOf(inspectPid(tagged)) });
        expect(reg.findByRuntimeId(fullId(plain))).toMatchObject({ state: 'untagged', name: plain, initPid: inspectPid(plain) });
      } finally {
        reg.close();
      }
      const ids = [fullId(tagged), fullId(plain)];
      engine.docker(['rm', '-f', tagged, plain]);
      const again = contid(['docker', 'sync', '--host', engine.host], { env });
      // The shim's own delete entry ends the tagged one; Docker's list ends the one without the shim.
      expect(again.stdout).toMatch(/^spool: 0 tagged, 1 ended, \d+ already done, 0 still pending, 0 quarantined; docker: 0 tagged, 0 recorded untagged, 1 ended\n$/);
      const after = Registry.open(state4);
      try {
        expect(ids.map((id) => after.findByRuntimeId(id)?.state)).toEqual(['ended', 'ended']);
      } finally {
        after.close();
      }
      expect(contid(['docker', 'sync', '--host', 'unix:///nonexistent.sock'], { env }).stderr).toMatch(/^contid: cannot reach docker: .*\n$/);
    } finally {
      setShim('');
      engine.docker(['rm', '-f', tagged, plain]);
    }
  });
});
