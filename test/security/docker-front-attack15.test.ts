import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { uniqueName } from '../helpers/cli';
import { FrontSuite } from '../docker/front-suite';
import type { LoginUser } from '../docker/login-user';

// Outside attack 15, from the attacker's real position: mallory, a non-root login user in group
// docker, talking only to the front of a real dockerd 20.10 whose default runtime is contid's.
//  F3: on one keep-alive connection dockerd reads a request only once it has answered the ones
//      before it, but the front judged each as it arrived: pipelined behind her `wait`, her
//      `DELETE /containers/NAME?force=1` (judged while NAME was hers) removed root's container made
//      under NAME meanwhile; her network connect joined root's container to her network; her tag
//      (judged before root's tag existed) re-pointed root's fresh tag at her image.
//  F2: the same for `volume create NAME`: root's volume made meanwhile was noted hers.
//  F5: a start pipelined after a `Connection: close` request was judged and noted, never read by
//      dockerd, never put back: dockerd's later restart of root's service ran with her loginuid.
//  F1: `docker restart` (routed as a start) and `docker start` of root's --rm container were judged
//      by the start policy only: a start she makes fail (she holds its published port) has dockerd
//      remove the container, and its name was hers.
const suite = FrontSuite.withContidDefault(
  'atk15fix-front',
  { name: 'local/busybox-atk15fix:1', dirs: ['usr', 'etc'], links: { lib: 'usr/lib', lib64: 'usr/lib64', ...Object.fromEntries(['sleep', 'echo', 'true', 'sh', 'cat'].map((a) => [`bin/${a}`, 'busybox'])) } },
);
const { engine } = suite;
let mallory: LoginUser;

beforeAll(async () => {
  mallory = suite.loginUser('contid-a15f-mallory');
  await suite.start();
}, 240_000);

afterAll(async () => {
  await suite.stop();
}, 120_000);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * REQUESTS (raw HTTP/1.1, one string) written at once on one connection to the front as her (her
 * login uid, her uid, group docker), as her own client would pipeline them: what came back, once
 * the front closed, or ANSWERS answers began (and a moment more), or after WAIT_MS.
 */
function pipelined(requests: string, answers: number, waitMs = 40_000): Promise<string> {
  const dockerGid = Number(spawnSync('getent', ['group', 'docker'], { encoding: 'utf8' }).stdout.split(':')[2]);
  const script = `const s = require('node:net').connect(${JSON.stringify(suite.frontSock)}, () => s.write(${JSON.stringify(requests)}));
let got = ''; s.on('error', () => undefined);
const done = () => { process.stdout.write(got); process.exit(0); };
s.on('data', (c) => { got += c; if ((got.match(/^HTTP\\/1\\.[01] \\d{3}/gm) ?? []).length >= ${answers}) setTimeout(done, 500); });
s.on('close', done); setTimeout(done, ${waitMs});`;
  const child = spawn('sh', ['-c', `echo ${mallory.uid} >/proc/self/loginuid && exec setpriv --reuid ${mallory.uid} --regid ${mallory.gid} --groups ${dockerGid} --inh-caps -all -- "$@"`, 'sh', process.execPath, '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString('latin1')));
  return new Promise((resolve) => child.on('close', () => resolve(out)));
}

/** The status codes of the answers in TEXT, in order. */
const statuses = (text: string): number[] => [...text.matchAll(/^HTTP\/1\.[01] (\d{3})/gm)].map((m) => Number(m[1]));

/** Her container that runs `sleep SECONDS`: what her pipelined call waits behind. */
function herWaiter(seconds: number): string {
  const name = uniqueName('her-wait');
  expect(suite.docker(mallory, ['run', '-d', '--name', name, engine.image, 'sleep', String(seconds)]).status).toBe(0);
  return name;
}

const waitOn = (name: string): string => `POST /v1.41/containers/${name}/wait HTTP/1.1\r\nHost: d\r\nContent-Length: 0\r\n\r\n`;

describe('outside attack 15 F3, F2: a call pipelined behind her long one is judged when dockerd would read it, not when it arrives', () => {
  test("her pipelined `DELETE /containers/NAME?force=1` of her own NAME, renamed away before root makes NAME: root's container survives (judged as root's: 403)", async () => {
    const name = uniqueName('svc');
    expect(suite.docker(mallory, ['run', '-d', '--name', name, engine.image, 'sleep', '600']).status).toBe(0);
    const wait = herWaiter(8);
    const answers = pipelined(`${waitOn(wait)}DELETE /v1.41/containers/${name}?force=1 HTTP/1.1\r\nHost: d\r\n\r\n`, 2);
    await sleep(1500);
    expect(suite.docker(mallory, ['rename', name, `${name}-old`]).status).toBe(0);
    expect(suite.docker(null, ['run', '-d', '--name', name, engine.image, 'sleep', '600']).status).toBe(0);
    const root = suite.inspect(name, '{{.Id}}');
    const text = await answers;
    expect(statuses(text)).toEqual([200, 403]);
    expect(text).toContain(`contid docker front: removal of container \\"${name}\\" is refused`);
    expect(suite.inspect(name, '{{.Id}} {{.State.Running}}')).toBe(`${root} true`);
    engine.docker(['rm', '-f', name, `${name}-old`, wait]);
  }, 120_000);

  test('her own pipelined removal behind her wait still goes on once the wait is answered (200, then 204)', async () => {
    const name = uniqueName('her-gone');
    expect(suite.docker(mallory, ['create', '--name', name, engine.image, 'true']).status).toBe(0);
    const wait = herWaiter(3);
    const text = await pipelined(`${waitOn(wait)}DELETE /v1.41/containers/${name} HTTP/1.1\r\nHost: d\r\n\r\n`, 2, 15_000);
    expect(statuses(text)).toEqual([200, 204]);
    expect(engine.docker(['ps', '-aq', '--filter', `name=^/${name}$`]).stdout).toBe('');
    engine.docker(['rm', '-f', wait]);
  }, 120_000);

  test("her pipelined network connect naming her container, renamed away before root makes one under its name: root's container is not on her network", async () => {
    const net = uniqueName('her-net');
    expect(suite.docker(mallory, ['network', 'create', net]).status).toBe(0);
    const name = uniqueName('cx');
    expect(suite.docker(mallory, ['create', '--name', name, engine.image, 'sleep', '600']).status).toBe(0);
    const wait = herWaiter(8);
    const body = JSON.stringify({ Container: name });
    const answers = pipelined(`${waitOn(wait)}POST /v1.41/networks/${net}/connect HTTP/1.1\r\nHost: d\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`, 2);
    await sleep(1500);
    expect(suite.docker(mallory, ['rename', name, `${name}-old`]).status).toBe(0);
    expect(suite.docker(null, ['run', '-d', '--name', name, engine.image, 'sleep', '600']).status).toBe(0);
    const text = await answers;
    expect(statuses(text)).toEqual([200, 403]);
    expect(suite.inspect(name, '{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}').trim()).toBe('bridge');
    engine.docker(['rm', '-f', name, `${name}-old`, wait]);
    engine.docker(['network', 'rm', net]);
  }, 120_000);

  test('her own network connect and disconnect (relayed naming her container by full id) still work, chunked too', () => {
    const net = uniqueName('her-net');
    expect(suite.docker(mallory, ['network', 'create', net]).status).toBe(0);
    const name = uniqueName('her-cx');
    expect(suite.docker(mallory, ['create', '--name', name, engine.image, 'sleep', '600']).status).toBe(0);
    expect(suite.docker(mallory, ['network', 'connect', '--alias', 'a1', net, name]).status).toBe(0);
    expect(suite.inspect(name, `{{(index .NetworkSettings.Networks "${net}").Aliases}}`)).toMatch(/a1/);
    const r = FrontSuite.answer(mallory.run(['curl', '-sS', '--unix-socket', suite.frontSock, '-X', 'POST', '-H', 'Content-Type: application/json', '-H', 'Transfer-Encoding: chunked', '-w', '\n%{http_code}', '-d', JSON.stringify({ Container: name }), `http://x/v1.41/networks/${net}/disconnect`]));
    expect(r.status).toBe(200);
    expect(suite.inspect(name, '{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}').trim()).toBe('bridge');
    engine.docker(['rm', '-f', name]);
    engine.docker(['network', 'rm', net]);
  }, 120_000);

  test("her pipelined tag onto a tag root makes meanwhile (root pulled first, as advised): root's tag still names root's image", async () => {
    const herImage = `local/atk15fix-hers-${process.pid}:1`;
    const rootTag = `local/atk15fix-root-${process.pid}`;
    const maker = uniqueName('her-img');
    expect(suite.docker(mallory, ['create', '--name', maker, engine.image, 'true']).status).toBe(0);
    expect(suite.docker(mallory, ['commit', maker, herImage]).status).toBe(0);
    const wait = herWaiter(8);
    const answers = pipelined(`${waitOn(wait)}POST /v1.41/images/${herImage}/tag?repo=${rootTag}&tag=2 HTTP/1.1\r\nHost: d\r\nContent-Length: 0\r\n\r\n`, 2);
    await sleep(1500);
    expect(engine.docker(['tag', engine.image, `${rootTag}:2`]).status).toBe(0);
    const text = await answers;
    expect(statuses(text)).toEqual([200, 403]);
    expect(suite.inspect(`${rootTag}:2`, '{{.Id}}')).toBe(suite.inspect(engine.image, '{{.Id}}'));
    engine.docker(['rm', '-f', maker, wait]);
    engine.docker(['rmi', `${rootTag}:2`, herImage]);
  }, 120_000);

  test("her pipelined `volume create NAME` while root makes NAME: not answered with root's volume, not hers to remove", async () => {
    const vol = uniqueName('dbdata');
    const wait = herWaiter(8);
    const body = JSON.stringify({ Name: vol });
    const answers = pipelined(`${waitOn(wait)}POST /v1.41/volumes/create HTTP/1.1\r\nHost: d\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`, 2);
    await sleep(1500);
    expect(suite.docker(null, ['volume', 'create', vol]).status).toBe(0);
    const text = await answers;
    expect(statuses(text)).toEqual([200, 403]);
    FrontSuite.refused(suite.docker(mallory, ['volume', 'rm', vol]), `removal of volume "${vol}"`);
    expect(engine.docker(['volume', 'ls', '-q', '--filter', `name=^${vol}$`]).stdout.trim()).toBe(vol);
    engine.docker(['rm', '-f', wait]);
    engine.docker(['volume', 'rm', vol]);
  }, 120_000);
});

describe('outside attack 15 F5: nothing after a request that closes the connection is judged or relayed', () => {
  test.each([
    ['`Connection: close`', 'GET /_ping HTTP/1.1\r\nHost: d\r\nConnection: close\r\n\r\n'],
    ['HTTP/1.0 without keep-alive', 'GET /_ping HTTP/1.0\r\nHost: d\r\n\r\n'],
  ])("a start of root's service pipelined after a ping that says %s: root's note stays root's", async (_what, ping) => {
    const svc = uniqueName('rsvc');
    expect(suite.docker(null, ['run', '-d', '--restart', 'always', '--name', svc, engine.image, 'sleep', '600']).status).toBe(0);
    const id = suite.inspect(svc, '{{.Id}}');
    const note = (): string => readFileSync(join(suite.requesters, `c-${id}`), 'utf8');
    expect(note()).toMatch(/^uid=0$/m);
    const text = await pipelined(`${ping}POST /v1.41/containers/${svc}/start HTTP/1.1\r\nHost: d\r\nContent-Length: 0\r\n\r\n`, 2, 10_000);
    expect(note()).not.toMatch(new RegExp(`^(a?uid)=${mallory.uid}$`, 'm'));
    expect(note()).toMatch(/^uid=0$/m);
    expect(statuses(text)).toEqual([200]);
    engine.docker(['rm', '-f', svc]);
  }, 120_000);
});

describe("outside attack 15 F1: root's --rm container is not hers to start or restart (a start she makes fail has dockerd remove it)", () => {
  test("her docker restart of root's running --rm container: refused with one line; the same container still runs", () => {
    const web = uniqueName('root-web');
    expect(suite.docker(null, ['run', '-d', '--rm', '--name', web, engine.image, 'sleep', '600']).status).toBe(0);
    const id = suite.inspect(web, '{{.Id}}');
    const started = suite.inspect(web, '{{.State.StartedAt}}');
    FrontSuite.refused(suite.docker(mallory, ['restart', '-t', '1', web]), `start or restart of container "${web}"`);
    expect(suite.inspect(web, '{{.Id}} {{.State.Running}} {{.State.StartedAt}}')).toBe(`${id} true ${started}`);
    engine.docker(['rm', '-f', web]);
  }, 120_000);

  test("her docker start of root's created --rm job: refused with one line; the job is still there, its name root's", () => {
    const job = uniqueName('root-job');
    expect(suite.docker(null, ['create', '--rm', '--name', job, engine.image, 'sleep', '600']).status).toBe(0);
    const id = suite.inspect(job, '{{.Id}}');
    FrontSuite.refused(suite.docker(mallory, ['start', job]), `start or restart of container "${job}"`);
    expect(suite.inspect(job, '{{.Id}} {{.State.Status}}')).toBe(`${id} created`);
    expect(suite.docker(mallory, ['create', '--name', job, engine.image, 'true']).status).not.toBe(0);
    engine.docker(['rm', '-f', job]);
  }, 120_000);

  test('her own --rm container: she may restart it; her own created --rm job she may start', () => {
    const hers = uniqueName('her-rm');
    expect(suite.docker(mallory, ['run', '-d', '--rm', '--name', hers, engine.image, 'sleep', '600']).status).toBe(0);
    expect(suite.docker(mallory, ['restart', '-t', '1', hers]).status).toBe(0);
    expect(suite.inspect(hers, '{{.State.Running}}')).toBe('true');
    const job = uniqueName('her-job');
    expect(suite.docker(mallory, ['create', '--rm', '--name', job, engine.image, 'sleep', '600']).status).toBe(0);
    expect(suite.docker(mallory, ['start', job]).status).toBe(0);
    expect(suite.inspect(job, '{{.State.Running}}')).toBe('true');
    engine.docker(['rm', '-f', hers, job]);
  }, 120_000);
});
