import { spawn } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';
import { Tagger } from '@contid/core';
import { DockerAgent, Spool, parseRequester } from '@contid/docker';
import { CONTID_MAIN, RunResult, contid, run, tempStateDir, uniqueName } from '../helpers/cli';
import { addExecveRule, deleteExecveRule, field, waitForAudit } from '../helpers/audit';
import { waitFor } from '../helpers/wait';
import { DockerEngine } from './engine';
import { FrontProcess } from './front-process';
import { LoginUser, createLoginUser } from './login-user';

// `contid docker front` between real docker clients and a real dockerd: every byte relayed
// (plain, streamed and hijacked calls), and the requester of each container and exec noted
// from the kernel's peer credentials.
const state = tempStateDir('docker-front');
const requesters = join(state.dir, 'requesters');
const engine = new DockerEngine({
  label: 'docker-front',
  env: { CONTID_STATE_DIR: join(state.dir, 'state'), CONTID_RUNC_CONF: join(state.dir, 'none.conf'), CONTID_REQUESTERS_DIR: requesters },
  image: { name: 'local/busybox-front:1', links: Object.fromEntries(['cat', 'wc', 'head', 'tr', 'tty', 'sleep'].map((a) => [`bin/${a}`, 'busybox'])) },
});
const frontSock = `${engine.execRoot}/front.sock`;
const upstream = `${engine.execRoot}/docker.sock`;
const front = new FrontProcess({ listen: frontSock, upstream, requesters });
const stateDir = join(state.dir, 'state');
let tagger: Tagger;
let agent: DockerAgent;

function viaFront(args: string[], opts: { input?: string; prefix?: string[]; env?: NodeJS.ProcessEnv } = {}): RunResult {
  const argv = [...(opts.prefix ?? []), 'docker', '-H', `unix://${frontSock}`, ...args];
  return run(argv[0]!, argv.slice(1), { input: opts.input, timeout: 120_000, env: opts.env ?? process.env, maxBuffer: 64 << 20 });
}

/** Writes `bytes` on one connection to the front and resolves with all it answered until it closed. */
function rawCall(bytes: string): Promise<string> {
  return new Promise((resolve) => {
    const sock = connect(frontSock);
    let got = '';
    sock.on('data', (d: Buffer) => (got += d.toString('latin1')));
    sock.on('close', () => resolve(got));
    sock.on('error', () => resolve(got)); // a reset is an answer too: what came before it
    sock.setTimeout(30_000, () => sock.destroy(new Error('no answer in 30 s')));
    sock.write(bytes);
  });
}

// A second login user in group docker, with a login session of their own (as sshd/login would give).
const USER = 'contid-alice';
let alice: LoginUser;
let uid = 0;

/** Runs ARGV as alice in a fresh login session. */
function asAlice(argv: string[], input?: string): RunResult {
  return alice.run(argv, { input });
}

beforeAll(async () => {
  alice = createLoginUser(USER);
  uid = alice.uid;
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  await engine.start();
  await front.start();
  tagger = Tagger.open({ stateDir, failPolicy: 'open' });
  agent = new DockerAgent({ docker: engine.api, tagger, spool: new Spool(join(stateDir, 'spool')), scanMs: 500 });
  await agent.start();
}, 180_000);

afterAll(async () => {
  await agent?.stop();
  tagger?.close();
  await front.stop();
  await engine.stop();
  alice?.remove();
  state.cleanup();
}, 120_000);

describe('contid docker front: transparent to the docker CLI', () => {
  const name = uniqueName('front');

  test('the front socket is root:docker 0660 as dockerd\'s was; dockerd\'s own is root-only while the front runs', () => {
    const a = lstatSync(frontSock);
    const b = lstatSync(upstream);
    const docker = Number(run('getent', ['group', 'docker']).stdout.split(':')[2]);
    expect([a.uid, a.gid, a.mode & 0o777]).toEqual([0, docker, 0o660]);
    expect([b.uid, b.gid, b.mode & 0o777]).toEqual([0, 0, 0o600]);
  });

  test('version, run --rm with output and exit status, run -d, ps, inspect, logs, top', () => {
    expect(viaFront(['version', '--format', '{{.Server.Version}}']).stdout).toMatch(/^\d+\./);
    const once = viaFront(['run', '--rm', '--runtime', 'contid', engine.image, 'sh', '-c', 'echo out; echo err >&2; exit 3']);
    expect([once.status, once.stdout, once.stderr]).toEqual([3, 'out\n', 'err\n']);
    expect(viaFront(['run', '-d', '--runtime', 'contid', '--name', name, engine.image, 'sh', '-c', 'echo started; sleep 600']).status).toBe(0);
    expect(viaFront(['ps', '--format', '{{.Names}}']).stdout.split('\n')).toContain(name);
    expect(viaFront(['inspect', '-f', '{{.HostConfig.Runtime}}', name]).stdout).toBe('contid\n');
    expect(viaFront(['logs', name]).stdout).toBe('started\n');
    expect(viaFront(['top', name]).status).toBe(0);
  });

  test('exec: output, exit status, stdin through the hijacked stream with half-close, a large transfer, a tty', () => {
    expect(viaFront(['exec', name, 'sh', '-c', 'echo a; exit 5'])).toMatchObject({ status: 5, stdout: 'a\n' });
    expect(viaFront(['exec', '-i', name, 'cat'], { input: 'hello\nworld\n' }).stdout).toBe('hello\nworld\n');
    const big = 'x'.repeat(1 << 20) + '\n';
    expect(viaFront(['exec', '-i', name, 'wc', '-c'], { input: big }).stdout.trim()).toBe(String(big.length));
    expect(viaFront(['exec', name, 'sh', '-c', 'head -c 3000000 /dev/zero | tr "\\0" y']).stdout.length).toBe(3_000_000);
    // A tty through `script` (a pseudo-terminal on the client side, as a person has).
    const tty = run('script', ['-qec', `docker -H unix://${frontSock} exec -it ${name} sh -c 'tty >/dev/null && echo is-a-tty'`, '/dev/null'], { timeout: 60_000 });
    expect(tty.stdout).toContain('is-a-tty');
  });

  test('streams: logs -f and events are relayed as they happen', async () => {
    const child = spawn('docker', ['-H', `unix://${frontSock}`, 'logs', '-f', '--since', '0s', name], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const marker = uniqueName('mark');
    await new Promise((r) => setTimeout(r, 1000));
    viaFront(['exec', name, 'sh', '-c', `echo ${marker} >/proc/1/fd/1`]);
    await waitFor('the marker in logs -f', () => out.includes(marker), 20_000).finally(() => child.kill());
    const ev = viaFront(['events', '--since', '60s', '--until', '0s', '--filter', `container=${name}`, '--format', '{{.Action}}']);
    expect(ev.stdout.split('\n')).toContain('start');
  });

  test('an answer dockerd writes at once reaches the client in one write (a chunked inspect: not one per head, chunk line, data and last chunk)', async () => {
    const id = viaFront(['run', '-d', engine.image, 'sleep', '600']).stdout.trim();
    const keepAlive = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const inspect = (): Promise<{ status: number; chunked: boolean; id: unknown }> =>
      new Promise((resolve, reject) => {
        http
          .get({ socketPath: frontSock, path: `/v1.41/containers/${id}/json`, agent: keepAlive }, (res) => {
            let body = '';
            res.on('data', (d: Buffer) => (body += d.toString()));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, chunked: res.headers['transfer-encoding'] === 'chunked', id: (JSON.parse(body) as { Id?: unknown }).Id }));
          })
          .on('error', reject);
      });
    // The front's write system calls (write, writev), all sockets: /proc/PID/io counts them.
    const writes = (): number => Number(/^syscw: (\d+)$/m.exec(readFileSync(`/proc/${front.pid}/io`, 'utf8'))![1]);
    try {
      await inspect(); // the connection and the front's connection to dockerd are made
      const before = writes();
      const calls = 20;
      for (let i = 0; i < calls; i++) expect(await inspect()).toEqual({ status: 200, chunked: true, id });
      // Each call: its request to dockerd and dockerd's answer to the client, one write each when
      // the answer came in one read (an inspect does). Written per framed segment, the answer
      // was several: its head, each chunk's size line, data and CRLF, the last chunk.
      expect((writes() - before) / calls).toBeLessThan(3);
    } finally {
      keepAlive.destroy();
      viaFront(['rm', '-f', id]);
    }
  });

  test('cp both ways, build with the legacy builder, stop, start by name, restart, rm', () => {
    const f = join(state.dir, 'payload.txt');
    writeFileSync(f, 'payload\n');
    expect(viaFront(['cp', f, `${name}:/payload.txt`]).status).toBe(0);
    expect(viaFront(['exec', name, 'cat', '/payload.txt']).stdout).toBe('payload\n');
    const back = join(state.dir, 'back.txt');
    expect(viaFront(['cp', `${name}:/payload.txt`, back]).status).toBe(0);
    expect(readFileSync(back, 'utf8')).toBe('payload\n');
    const ctx = join(state.dir, 'ctx');
    mkdirSync(ctx, { recursive: true });
    writeFileSync(join(ctx, 'Dockerfile'), `FROM ${engine.image}\nCOPY payload.txt /p\n`);
    writeFileSync(join(ctx, 'payload.txt'), 'built\n');
    const tag = `local/front-built:${process.pid}`;
    const build = viaFront(['build', '-q', '-t', tag, ctx], { env: { ...process.env, DOCKER_BUILDKIT: '0' } });
    expect(build.status).toBe(0);
    expect(build.stdout).toMatch(/^sha256:[0-9a-f]{64}\n$/);
    expect(viaFront(['run', '--rm', tag, 'cat', '/p']).stdout).toBe('built\n');
    expect(viaFront(['rmi', tag]).status).toBe(0);
    expect(viaFront(['stop', '-t', '1', name]).status).toBe(0);
    expect(viaFront(['start', name]).status).toBe(0);
    expect(viaFront(['restart', '-t', '1', name]).status).toBe(0);
    expect(viaFront(['inspect', '-f', '{{.State.Running}}', name]).stdout).toBe('true\n');
  });
});

describe('contid docker front: the requester of every container and exec, from the kernel', () => {
  const name = uniqueName('alice');

  test('alice\'s run, start and exec are noted with her uid, login uid, session, pid and exe; root\'s with root\'s', async () => {
    const r = asAlice(['docker', '-H', `unix://${frontSock}`, 'run', '-d', '--runtime', 'contid', '--name', name, engine.image, 'sh', '-c', 'sleep 600']);
    expect(r.stderr).toBe('');
    const id = r.stdout.trim();
    const note = parseRequester(readFileSync(join(requesters, `c-${id}`), 'utf8'))!;
    expect(note).toMatchObject({ uid, auid: uid, exe: expect.stringMatching(/\/docker$/) });
    expect(note.session).not.toBe(4294967295);
    const exec = asAlice(['docker', '-H', `unix://${frontSock}`, 'exec', '-d', name, 'sleep', '1']);
    expect(exec.status).toBe(0);
    // Exec ids are not printed by the CLI: the noted files are matched by the container's ExecIDs.
    const execIds = JSON.parse(viaFront(['inspect', '-f', '{{json .ExecIDs}}', name]).stdout) as string[];
    expect(execIds.length).toBeGreaterThan(0);
    for (const e of execIds) expect(parseRequester(readFileSync(join(requesters, `e-${e}`), 'utf8'))).toMatchObject({ uid, auid: uid });
    // The agent runs in this process, so it binds only while the test awaits (a deployed agent
    // is a process of its own and binds at once): let it bind her create and exec while the
    // container exists, as it would, so they carry its name.
    const bound = (op: string, requesterUid: number) => () =>
      tagger.containers.list({ orchestrator: 'docker' }).some((c) => c.runtimeId === id && c.name === name && tagger.containers.bindings(c.contid).some((b) => b.op === op && (b.detail.requester as { uid?: number } | undefined)?.uid === requesterUid));
    await waitFor('alice\'s create bound', bound('create', uid), 60_000);
    await waitFor('alice\'s exec bound', bound('setns', uid), 60_000);
    // root starts it again by name: the note now names root.
    viaFront(['stop', '-t', '1', name]);
    expect(viaFront(['start', name]).status).toBe(0);
    expect(parseRequester(readFileSync(join(requesters, `c-${id}`), 'utf8'))).toMatchObject({ uid: 0 });
    await waitFor('root\'s start bound', bound('create', 0), 60_000);
    expect(viaFront(['rm', '-f', id]).status).toBe(0);
    expect(existsSync(join(requesters, `c-${id}`))).toBe(false);
  });

  test('an API client pipelining calls on one keep-alive connection: each answered in order, the create among them noted before its answer', async () => {
    const body = JSON.stringify({ Image: engine.image, Cmd: ['true'], HostConfig: { Runtime: 'contid' } });
    const calls =
      'GET /_ping HTTP/1.1\r\nHost: docker\r\n\r\n' +
      `POST /v1.41/containers/create HTTP/1.1\r\nHost: docker\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}` +
      'GET /v1.41/version HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n';
    const answer = await rawCall(calls);
    expect([...answer.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => m[1])).toEqual(['200', '201', '200']);
    const id = /"Id":"([0-9a-f]{64})"/.exec(answer)![1]!;
    expect(parseRequester(readFileSync(join(requesters, `c-${id}`), 'utf8'))).toMatchObject({ uid: 0, pid: process.pid });
    expect(answer).toMatch(/"ApiVersion"/);
    expect(viaFront(['rm', id]).status).toBe(0);
  });

  test('a request head the front cannot read exactly (a folded header) closes the connection, as dockerd would answer 400 and close', async () => {
    const answer = await rawCall('POST /v1.41/containers/create HTTP/1.1\r\nHost: docker\r\nX-A: 1\r\n folded\r\nContent-Length: 2\r\n\r\n{}');
    expect(answer).not.toMatch(/201 Created/);
    expect(viaFront(['version', '--format', '{{.Server.Version}}']).status).toBe(0);
  });

  test('requesters are kept root-only', () => {
    expect(lstatSync(requesters).mode & 0o777).toBe(0o700);
  });
});

describe('the requester\'s login uid, carried by the kernel (front + contid-runc)', () => {
  const name = uniqueName('alice-k');
  const key = uniqueName('front-exec');
  const alice = (args: string[]) => asAlice(['docker', '-H', `unix://${frontSock}`, ...args]);
  // What the test process itself would be stamped with: its auid, or 0 when it has none.
  const ownAuid = (() => {
    const v = Number(readFileSync('/proc/self/loginuid', 'utf8'));
    return v === 4294967295 ? 0 : v;
  })();

  beforeAll(() => addExecveRule(key));
  afterAll(() => deleteExecveRule(key));

  test('a container alice runs and an exec she asks for run with auid=alice; root\'s exec in her container with root\'s', () => {
    expect(alice(['run', '-d', '--runtime', 'contid', '--name', name, '--label', 'com.docker.compose.project=shop', engine.image, 'sh', '-c', 'sleep 600']).status).toBe(0);
    expect(viaFront(['exec', name, 'cat', '/proc/1/loginuid']).stdout).toBe(String(uid));
    expect(alice(['exec', name, 'cat', '/proc/self/loginuid']).stdout).toBe(String(uid));
    expect(viaFront(['exec', name, 'cat', '/proc/self/loginuid']).stdout).toBe(String(ownAuid));
  });

  let aliceSession = 0;
  let rootSession = 0;
  const startedAt = Math.floor(Date.now() / 1000) - 1;

  test('every audit record of alice\'s exec carries her uid as auid, and its session is new', async () => {
    const marker = uniqueName('mark');
    const r = alice(['exec', name, 'sh', '-c', `cat /proc/self/sessionid; echo; tty >/dev/null; head -c 1 /dev/zero >/dev/null; echo ${marker} >/dev/null`]);
    expect(r.status).toBe(0);
    aliceSession = Number(r.stdout.split('\n')[0]);
    expect(aliceSession).toBeGreaterThan(0);
    const lines = await waitForAudit(['--session', String(aliceSession)], (l) => l.filter((x) => x.startsWith('type=SYSCALL')).length >= 4);
    const syscalls = lines.filter((l) => l.startsWith('type=SYSCALL'));
    expect(syscalls.length).toBeGreaterThanOrEqual(4); // sh, cat, tty, head
    for (const l of syscalls) expect(field(l, 'auid')).toBe(String(uid));
    rootSession = Number(viaFront(['exec', name, 'cat', '/proc/self/sessionid']).stdout);
  });

  test('contid search --requested-by alice (and --auid) finds her exec\'s events, not root\'s exec in her container; JSON and ECS name the requester and the labels', async () => {
    // The agent binds both exec sessions to the container (signed VIRT_CONTROL records in the log).
    await waitFor('both exec sessions bound', () => tagger.containers.list({ orchestrator: 'docker' }).some((c) => c.name === name && tagger.containers.bindings(c.contid).some((b) => b.session === rootSession)), 60_000);
    // The bindings record who asked: alice for the create and her exec, root for root's exec.
    const row = tagger.containers.list({ orchestrator: 'docker' }).find((c) => c.name === name)!;
    const bindings = tagger.containers.bindings(row.contid);
    const requesterOf = (b: (typeof bindings)[number]) => b.detail.requester as { uid: number; auid: number; session: number; pid: number; exe: string } | undefined;
    expect(requesterOf(bindings.find((b) => b.op === 'create')!)).toMatchObject({ uid, auid: uid, exe: expect.stringMatching(/docker$/) });
    expect(requesterOf(bindings.find((b) => b.session === aliceSession)!)).toMatchObject({ uid, auid: uid });
    expect(requesterOf(bindings.find((b) => b.session === rootSession)!)).toMatchObject({ uid: 0 });
    const env = { ...process.env, CONTID_STATE_DIR: stateDir };
    const search = (args: string[]) => contid(['search', '--start', `@${startedAt}`, '--format', 'json', ...args], { env, maxBuffer: 256 << 20 });
    const events = (r: RunResult) => r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { container: { name: string; labels: Record<string, string> } | null; records: { fields: Record<string, string> }[] });
    const sessionsOf = (evs: ReturnType<typeof events>) => new Set(evs.flatMap((e) => e.records.map((x) => x.fields.ses)).filter(Boolean));
    const byName = search(['--requested-by', USER]);
    expect(byName.status).toBe(0);
    const mine = events(byName);
    expect(mine.length).toBeGreaterThanOrEqual(4);
    for (const e of mine) expect(e.records.some((x) => x.fields.auid === String(uid))).toBe(true);
    expect(sessionsOf(mine).has(String(aliceSession))).toBe(true);
    expect(sessionsOf(mine).has(String(rootSession))).toBe(false);
    // Only containers alice asked for (her earlier one too, where another suite's execve rule on this host recorded it).
    expect(mine.filter((e) => !e.container?.name.startsWith('alice-')).map((e) => e.container?.name ?? null)).toEqual([]);
    expect(mine.find((e) => e.container?.name === name)!.container!.labels).toMatchObject({ 'com.docker.compose.project': 'shop' });
    // The same by number, and by the compose project.
    expect(events(search(['--requested-by', String(uid)])).length).toBe(mine.length);
    expect(sessionsOf(events(search(['--project', 'shop', '--auid', String(uid)]))).has(String(aliceSession))).toBe(true);
    expect(events(search(['--project', 'no-such-project']))).toEqual([]);
    const ecs = contid(['search', '--start', `@${startedAt}`, '--format', 'ecs', '--requested-by', USER], { env, maxBuffer: 256 << 20 });
    const docs = ecs.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { user: { audit: { id: string; name?: string } }; container: { name: string; labels?: Record<string, string> } });
    for (const d of docs) expect(d.user.audit.id).toBe(String(uid));
    const doc = docs.find((d) => d.container.name === name)!;
    expect(doc.user.audit.id).toBe(String(uid));
    expect(doc.container.labels).toMatchObject({ 'com.docker.compose.project': 'shop' });
    const unknown = search(['--requested-by', 'no-such-user-xyz']);
    expect([unknown.status, unknown.stderr]).toEqual([2, 'contid: --requested-by: no user called "no-such-user-xyz" in /etc/passwd\n']);
    expect(viaFront(['rm', '-f', name]).status).toBe(0);
  });
});

describe('contid docker front: fails open', () => {
  test('when the front stops, its socket leads straight to dockerd', async () => {
    await front.stop();
    expect(readlinkSync(frontSock)).toBe(upstream);
    expect(viaFront(['version', '--format', '{{.Server.Version}}']).status).toBe(0);
    await front.start();
    expect(lstatSync(frontSock).isSocket()).toBe(true);
  });

  test('a killed front (kill -9) is failed open by --restore, what the unit runs as ExecStopPost', async () => {
    await front.stop('SIGKILL');
    expect(viaFront(['version', '--format', '{{.Server.Version}}']).status).not.toBe(0); // a dead socket: refused
    const restored = run(process.execPath, [CONTID_MAIN, 'docker', 'front', '--restore', '--listen', frontSock, '--upstream', upstream]);
    expect(restored.stdout).toBe(`${frontSock} -> ${upstream}\n`);
    expect(viaFront(['version', '--format', '{{.Server.Version}}']).status).toBe(0);
    await front.start();
    expect(viaFront(['version', '--format', '{{.Server.Version}}']).status).toBe(0);
  });
});
