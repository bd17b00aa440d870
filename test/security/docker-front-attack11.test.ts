import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run, uniqueName } from '../helpers/cli';
import { FrontSuite } from '../docker/front-suite';
import type { LoginUser } from '../docker/login-user';

// Outside attack 11, from the attacker's real position: mallory, a non-root login user in group
// docker, talking only to the front of a real dockerd 20.10 whose default runtime is contid's.
//  L0: a log driver that dials an address of hers (syslog-address, fluentd-address=unix://…):
//      dockerd, uid 0 with every capability, wrote her tag's lines into a root-only socket
//      (contid serve's host channel, which took them as host-orchestrator requests).
//  V2: `volume create -o type=tmpfs -o o=rbind -o device=/`: moby's mount takes rbind as
//      MS_BIND, so her own "tmpfs" volume was a writable bind of the host's /.
//  C3: the legacy `POST /v1.19/containers/{ref}/copy`, which dockerd 20.10 still serves, was not
//      routed: a cp out of root's -v /:/host container the archive GET is refused for.
//  E1: her start of an exec root created and had not started ran root's exec for her.
//  m1: a refused HEAD was answered with a JSON body.
//  I1: her commit (tag, import, load) re-pointed root's image tag; root's next run of it ran her
//      entrypoint with root's -v /:/host, attributed to root.
const suite = FrontSuite.withContidDefault(
  'atk11fix-front',
  { name: 'local/busybox-atk11fix:1', dirs: ['usr', 'etc'], links: { lib: 'usr/lib', lib64: 'usr/lib64', ...Object.fromEntries(['cat', 'sleep', 'echo', 'id', 'touch'].map((a) => [`bin/${a}`, 'busybox'])) } },
);
const { engine, frontSock } = suite;
let mallory: LoginUser;
/** A root-only (0700) directory: what the host's root keeps to itself. */
const rootOnly = mkdtempSync(join(tmpdir(), 'contid-atk11fix-'));
/** A root-only listening socket (as contid serve's host channel is), and every byte anyone wrote into it. */
const sockPath = join(rootOnly, 'root-only.sock');
let received = '';
const listener = net.createServer((c) => c.on('data', (d) => (received += d.toString('latin1'))).on('error', () => undefined));
const MARK = join(rootOnly, 'pwned');

const messageOf = (body: string): string => (JSON.parse(body) as { message: string }).message;
/** A forged request line in a log tag, as the attacker sent contid serve. */
const TAG = 'x\n{"v":1,"op":"end","contid":"1","reason":"forged"}\ny';

beforeAll(async () => {
  mallory = suite.loginUser('contid-a11f-mallory');
  await new Promise<void>((res) => listener.listen(sockPath, res));
  await suite.start();
}, 240_000);

afterAll(async () => {
  await suite.stop();
  await new Promise<void>((res) => listener.close(() => res()));
  rmSync(rootOnly, { recursive: true, force: true });
}, 120_000);

describe('outside attack 11 L0: a log driver that dials an address of hers is refused; dockerd writes nothing into a root-only socket for her', () => {
  test.each([
    ['syslog', ['--log-driver', 'syslog', '--log-opt', `syslog-address=unix://${sockPath}`, '--log-opt', `tag=${TAG}`]],
    ['fluentd', ['--log-driver', 'fluentd', '--log-opt', `fluentd-address=unix://${sockPath}`, '--log-opt', `tag=${TAG}`]],
    ["the daemon's default driver with a syslog-address", ['--log-opt', `syslog-address=unix://${sockPath}`]],
    ['gelf', ['--log-driver', 'gelf', '--log-opt', 'gelf-address=udp://127.0.0.1:9']],
    ['journald with a tag (the identifier journal readers filter by)', ['--log-driver', 'journald', '--log-opt', 'tag=sshd']],
  ])('%s: her run is refused with one line (125); nothing reached the socket', (_what, flags) => {
    const r = suite.docker(mallory, ['run', '--rm', ...flags, engine.image, 'echo', 'hello']);
    expect({ status: r.status, stdout: r.stdout }).toEqual({ status: 125, stdout: '' });
    expect(r.stderr).toMatch(FrontSuite.refusal('HostConfig.LogConfig'));
    expect(received).toBe('');
  }, 120_000);

  test("root's container logging to the socket: her start is refused, nothing reached the socket; dockerd's own drivers with size options run for her", () => {
    const agent = uniqueName('root-syslog');
    expect(engine.docker(['create', '--name', agent, '--log-driver', 'syslog', '--log-opt', `syslog-address=unix://${sockPath}`, engine.image, 'echo', 'hello']).status).toBe(0);
    const start = suite.docker(mallory, ['start', agent]);
    expect(start.status).not.toBe(0);
    expect(start.stderr).toMatch(FrontSuite.refusal('HostConfig.LogConfig'));
    expect(suite.inspect(agent, '{{.State.StartedAt}}')).toBe('0001-01-01T00:00:00Z');
    expect(received).toBe('');
    engine.docker(['rm', '-f', agent]);
    for (const flags of [['--log-driver', 'json-file', '--log-opt', 'max-size=1m', '--log-opt', 'max-file=2', '--log-opt', `tag=${TAG}`], ['--log-driver', 'local', '--log-opt', 'max-size=1m'], ['--log-driver', 'none'], ['--log-opt', 'max-size=1m']]) {
      expect(suite.docker(mallory, ['run', '--rm', ...flags, engine.image, 'echo', 'hello'])).toMatchObject({ status: 0, stdout: 'hello\n' });
    }
  }, 120_000);
});

describe('outside attack 11 V2: local volume options are a tmpfs only, by an allow-list of its options', () => {
  test.each([
    ['o=rbind', ['-o', 'type=tmpfs', '-o', 'o=rbind', '-o', 'device=/']],
    ['o=size=1m,move', ['-o', 'type=tmpfs', '-o', 'o=size=1m,move', '-o', 'device=/']],
    ['a device other than tmpfs', ['-o', 'type=tmpfs', '-o', 'device=/dev/sda']],
  ])('%s: her volume create and --mount volume-opt are refused with one line; root\'s such volume is refused for her -v', (_what, opts) => {
    const name = uniqueName('her-vol');
    const r = suite.docker(mallory, ['volume', 'create', ...opts, name]);
    expect({ status: r.status, stdout: r.stdout }).toEqual({ status: 1, stdout: '' });
    expect(r.stderr).toMatch(FrontSuite.refusal('volume options'));
    // --mount is CSV: a field holding a comma is quoted whole.
    const volumeOpts = opts.filter((_o, i) => i % 2 === 1).map((o) => (o.includes(',') ? `"volume-opt=${o}"` : `volume-opt=${o}`));
    const m = suite.docker(mallory, ['run', '--rm', '--mount', `type=volume,target=/h,${volumeOpts.join(',')}`, engine.image, 'touch', `/h${MARK}`]);
    expect({ status: m.status, stdout: m.stdout }).toEqual({ status: 125, stdout: '' });
    expect(m.stderr).toMatch(FrontSuite.refusal('volume options'));
    const roots = uniqueName('root-vol');
    expect(engine.docker(['volume', 'create', ...opts, roots]).status).toBe(0);
    const v = suite.docker(mallory, ['run', '--rm', '-v', `${roots}:/h`, engine.image, 'touch', `/h${MARK}`]);
    expect(v.status).toBe(125);
    expect(v.stderr).toMatch(FrontSuite.refusal(`volume "${roots}"`));
    expect(existsSync(MARK)).toBe(false);
    engine.docker(['volume', 'rm', roots]);
  }, 120_000);

  test('a tmpfs volume with size, mode and flags is hers to make and use', () => {
    const name = uniqueName('her-tmpfs');
    expect(suite.docker(mallory, ['volume', 'create', '-o', 'type=tmpfs', '-o', 'device=tmpfs', '-o', 'o=size=1m,mode=1777,nosuid,nodev', name]).status).toBe(0);
    expect(suite.docker(mallory, ['run', '--rm', '-v', `${name}:/t`, engine.image, 'sh', '-c', 'touch /t/x && echo ok'])).toMatchObject({ status: 0, stdout: 'ok\n' });
    engine.docker(['volume', 'rm', name]);
  }, 120_000);
});

describe("outside attack 11 C3, E1, m1: root's -v /:/host container", () => {
  let agent: string;
  beforeAll(() => {
    agent = uniqueName('root-agent');
    expect(engine.docker(['run', '-d', '--name', agent, '-v', '/:/host', engine.image, 'sleep', '600']).status).toBe(0);
  });
  afterAll(() => {
    engine.docker(['rm', '-f', agent]);
  });

  test('C3: her legacy POST /v1.19/containers/{ref}/copy is refused with one line (403); root\'s is served', () => {
    const r = suite.call(mallory, 'POST', `/v1.19/containers/${agent}/copy`, { Resource: '/host/etc/shadow' });
    expect(r.status).toBe(403);
    expect(messageOf(r.body)).toMatch(new RegExp(`^${FrontSuite.refusal('bind mount of "/"').source}$`));
    expect(suite.call(null, 'POST', `/v1.19/containers/${agent}/copy`, { Resource: '/host/etc/hostname' }).status).toBe(200);
  }, 120_000);

  test("E1: her start of an exec root created is refused with one line (403) and runs nothing; root's start of it runs; her own docker exec into her container runs", () => {
    const made = suite.call(null, 'POST', `/v1.41/containers/${agent}/exec`, { Cmd: ['touch', `/host${MARK}`] });
    expect(made.status).toBe(201);
    const id = (JSON.parse(made.body) as { Id: string }).Id;
    expect(suite.inspect(agent, '{{json .ExecIDs}}')).toContain(id);
    const her = suite.call(mallory, 'POST', `/v1.41/exec/${id}/start`, { Detach: true });
    expect(her.status).toBe(403);
    expect(messageOf(her.body)).toMatch(new RegExp(`^contid docker front: exec ${id} is refused for users other than root: [^\\n]+$`));
    expect(existsSync(MARK)).toBe(false);
    expect(suite.call(null, 'POST', `/v1.41/exec/${id}/start`, { Detach: true }).status).toBe(200);
    expect(run('sh', ['-c', `for i in $(seq 50); do [ -e ${MARK} ] && exit 0; sleep 0.2; done; exit 1`]).status).toBe(0);
    rmSync(MARK, { force: true });
    const mine = uniqueName('hers');
    expect(suite.docker(mallory, ['run', '-d', '--name', mine, engine.image, 'sleep', '600']).status).toBe(0);
    expect(suite.docker(mallory, ['exec', mine, 'cat', '/proc/self/loginuid'])).toMatchObject({ status: 0, stdout: `${mallory.uid}` });
    engine.docker(['rm', '-f', mine]);
  }, 120_000);

  test('m1: her refused HEAD …/archive is answered 403 with headers only (no body), and the connection stays in step', () => {
    const script = `const c = require('node:net').connect(${JSON.stringify(frontSock)});
let out = '';
c.on('data', (d) => (out += d.toString('latin1'))).on('end', () => process.stdout.write(out));
c.write('HEAD /v1.41/containers/${agent}/archive?path=/host/etc/shadow HTTP/1.1\\r\\nHost: x\\r\\n\\r\\nGET /_ping HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n');`;
    const r = mallory.run([process.execPath, '-e', script]);
    expect(r.status).toBe(0);
    const first = r.stdout.split('\r\n\r\n');
    expect(first[0]).toMatch(/^HTTP\/1\.1 403 /);
    expect(first[0]).toMatch(/\r\nContent-Length: \d+/);
    // What follows the HEAD answer's headers is the next answer, nothing else.
    expect(first[1]).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
  }, 120_000);
});

describe("outside attack 11 I1: her image writes never re-point a tag that exists (root's)", () => {
  test('commit, tag and import to an existing tag and any load are refused with one line; the tag still names root\'s image; new tags are hers to make', () => {
    const rootTag = `local/atk11fix-rootagent-${process.pid}:1`;
    expect(engine.docker(['tag', engine.image, rootTag]).status).toBe(0);
    const rootImage = suite.inspect(rootTag, '{{.Id}}');
    const hers = uniqueName('hers');
    expect(suite.docker(mallory, ['create', '--name', hers, engine.image, 'true']).status).toBe(0);
    const commit = suite.docker(mallory, ['commit', '--change', 'ENTRYPOINT ["touch","/host/pwned"]', hers, rootTag]);
    expect({ status: commit.status, stdout: commit.stdout }).toEqual({ status: 1, stdout: '' });
    // The docker CLI names the tag as a full reference (docker.io/local/…) for commit and tag, as typed for import.
    const existing = (what: string): RegExp => new RegExp(`contid docker front: docker ${what} to the existing tag "(docker\\.io/)?${rootTag}" is refused for users other than root: [^\\n]+`);
    expect(commit.stderr).toMatch(existing('commit'));
    const newTag = `local/atk11fix-hers-${process.pid}:1`;
    expect(suite.docker(mallory, ['commit', hers, newTag]).status).toBe(0);
    const tag = suite.docker(mallory, ['tag', newTag, rootTag]);
    expect(tag.status).toBe(1);
    expect(tag.stderr).toMatch(existing('tag'));
    const imported = mallory.run(['sh', '-c', `tar -cf - -T /dev/null | docker -H unix://${frontSock} import - ${rootTag}`]);
    expect(imported.status).toBe(1);
    expect(imported.stderr).toMatch(existing('import'));
    const loaded = mallory.run(['sh', '-c', `docker -H unix://${frontSock} save ${newTag} | docker -H unix://${frontSock} load`]);
    expect(loaded.status).toBe(1);
    expect(loaded.stderr).toMatch(FrontSuite.refusal('docker load'));
    expect(suite.inspect(rootTag, '{{.Id}}')).toBe(rootImage);
    expect(suite.docker(mallory, ['tag', newTag, `local/atk11fix-hers-${process.pid}:2`]).status).toBe(0);
    engine.docker(['rm', '-f', hers]);
    engine.docker(['rmi', rootTag, newTag, `local/atk11fix-hers-${process.pid}:2`]);
  }, 120_000);
});
