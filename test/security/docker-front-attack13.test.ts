import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { uniqueName } from '../helpers/cli';
import { FrontSuite } from '../docker/front-suite';
import type { LoginUser } from '../docker/login-user';

// Outside attack 13, from the attacker's real position: mallory, a non-root login user in group
// docker, talking only to the front of a real dockerd 20.10 whose default runtime is contid's.
//  F2: `POST /images/create?fromImage=DECOY` with a url-encoded form body `fromImage=&fromSrc=…&
//      repo=ROOTS&tag=1`: dockerd's ParseForm puts the body's values ahead of the query's, so it
//      was an import onto root's existing tag, while the front judged a pull.
//  F3: `docker kill`/`docker stop` of root's `--rm` container (relayed unjudged): dockerd removed
//      it, the name was free for hers, and root's scripted `docker exec NAME` ran in her container.
//  F4: `docker network rm` / `network prune` of root's network (relayed unjudged): its name was hers to make.
//  F5: an exception while judging (a lone surrogate in a volume name the front looks up) relayed
//      the request unjudged: a create with root's bind-type volume of /etc was made.
//  F7: her container labelled with the keys contid's CRI path writes (io.kubernetes.pod.namespace,
//      contid.io/…) was listed by `contid ps --label` beside real pods.
const suite = FrontSuite.withContidDefault(
  'atk13fix-front',
  { name: 'local/busybox-atk13fix:1', dirs: ['usr', 'etc'], links: { lib: 'usr/lib', lib64: 'usr/lib64', ...Object.fromEntries(['sleep', 'echo', 'true', 'sh', 'kill'].map((a) => [`bin/${a}`, 'busybox'])) } },
);
const { engine } = suite;
let mallory: LoginUser;

beforeAll(async () => {
  mallory = suite.loginUser('contid-a13f-mallory');
  await suite.start();
}, 240_000);

afterAll(async () => {
  await suite.stop();
}, 120_000);

/** `curl` through the front as USER with a body of Content-Type TYPE (null: none sent): the status and body. */
function curl(user: LoginUser, method: string, path: string, args: string[]): { status: number; body: string } {
  return FrontSuite.answer(user.run(['curl', '-sS', '--unix-socket', suite.frontSock, '-X', method, '-w', '\n%{http_code}', ...args, `http://x${path}`]));
}

/** Her HTTP server (run as her) serving TAR at /x.tar on 127.0.0.1: its port, once it listens. */
async function herServer(tar: string): Promise<{ port: number; proc: ChildProcess }> {
  const portFile = join(mallory.home, `port-${process.pid}`);
  const script = `const fs = require('node:fs');
const s = require('node:http').createServer((q, r) => r.end(fs.readFileSync(${JSON.stringify(tar)})));
s.listen(0, '127.0.0.1', () => fs.writeFileSync(${JSON.stringify(portFile)}, String(s.address().port)));`;
  const proc = spawn('setpriv', ['--reuid', String(mallory.uid), '--regid', String(mallory.gid), '--clear-groups', process.execPath, '-e', script], { stdio: 'ignore' });
  for (const end = Date.now() + 10_000; !existsSync(portFile); ) {
    if (Date.now() > end) throw new Error('her server did not start');
    await new Promise((r) => setTimeout(r, 100));
  }
  return { port: Number(readFileSync(portFile, 'utf8')), proc };
}

describe("outside attack 13 F2: a form body is not relayed for her — dockerd would read the call's parameters from it, unseen by the front", () => {
  let rootTag: string;
  let rootImage: string;
  let server: { port: number; proc: ChildProcess };
  beforeAll(async () => {
    rootTag = `local/atk13fix-roottag-${process.pid}:1`;
    expect(engine.docker(['tag', engine.image, rootTag]).status).toBe(0);
    rootImage = suite.inspect(rootTag, '{{.Id}}');
    const root = join(mallory.home, 'rootfs');
    mkdirSync(root);
    writeFileSync(join(root, 'atk13-mallory-was-here'), 'hers\n');
    execFileSync('tar', ['-C', root, '-cf', join(mallory.home, 'x.tar'), '.']);
    execFileSync('chown', ['-R', `${mallory.uid}:${mallory.gid}`, mallory.home]);
    server = await herServer(join(mallory.home, 'x.tar'));
  }, 120_000);
  afterAll(() => {
    server?.proc.kill();
    engine.docker(['rmi', rootTag]);
  });

  test.each([
    ['url-encoded', ['-H', 'Content-Type: application/x-www-form-urlencoded']],
    ['url-encoded, other letter case and a parameter', ['-H', 'Content-Type: Application/X-WWW-Form-Urlencoded ; charset=utf-8']],
    ['url-encoded, chunked', ['-H', 'Content-Type: application/x-www-form-urlencoded', '-H', 'Transfer-Encoding: chunked']],
  ])("an import onto root's tag dressed as a pull, its body %s: refused with one line (400); root's tag names root's image", (_what, headers) => {
    const [repo, tag] = rootTag.split(':');
    const form = `fromImage=&fromSrc=http://127.0.0.1:${server.port}/x.tar&repo=${repo}&tag=${tag}`;
    const r = curl(mallory, 'POST', '/v1.41/images/create?fromImage=atk13fix-decoy', [...headers, '--data-binary', form]);
    expect(r.status).toBe(400);
    expect(r.body).toMatch(/^\{"message":"contid docker front: a request with a form body[^\n]*\}$/);
    expect(suite.inspect(rootTag, '{{.Id}}')).toBe(rootImage);
  }, 120_000);

  test('a multipart form body is refused too (r.FormValue reads it for keys the query lacks)', () => {
    const r = curl(mallory, 'POST', '/v1.41/images/create?fromImage=atk13fix-decoy', ['-F', `fromSrc=http://127.0.0.1:${server.port}/x.tar`, '-F', `repo=${rootTag.split(':')[0]}`]);
    expect(r.status).toBe(400);
    expect(r.body).toMatch(/contid docker front: a request with a form body/);
    expect(suite.inspect(rootTag, '{{.Id}}')).toBe(rootImage);
  }, 120_000);

  test('her own docker import (a tar body) onto a new tag still works', () => {
    const herTag = `local/atk13fix-hers-${process.pid}:1`;
    const r = mallory.run(['sh', '-c', `docker -H unix://${suite.frontSock} import - ${herTag} < ${join(mallory.home, 'x.tar')}`]);
    expect(r.status).toBe(0);
    expect(suite.inspect(herTag, '{{.Id}}')).not.toBe(rootImage);
    engine.docker(['rmi', herTag]);
  }, 120_000);
});

describe("outside attack 13 F3: root's --rm container is not hers to end (dockerd would remove it and free its name)", () => {
  let web: string;
  beforeAll(() => {
    web = uniqueName('root-web');
    expect(engine.docker(['run', '-d', '--rm', '--name', web, engine.image, 'sleep', '600']).status).toBe(0);
  }, 120_000);
  afterAll(() => {
    engine.docker(['rm', '-f', web]);
  }, 120_000);

  test.each([
    ['docker kill', ['kill']],
    ['docker kill -s HUP', ['kill', '-s', 'HUP']],
    ['docker stop', ['stop', '-t', '1']],
  ])("%s of root's --rm container: refused with one line; it still runs and her container cannot take its name", (_what, args) => {
    FrontSuite.refused(suite.docker(mallory, [...args, web]), `ending container "${web}"`);
    expect(suite.inspect(web, '{{.State.Running}}')).toBe('true');
    expect(suite.docker(mallory, ['run', '-d', '--name', web, engine.image, 'sleep', '600']).status).not.toBe(0);
    expect(suite.inspect(web, '{{.Config.Image}}')).toBe(engine.image);
  }, 120_000);

  test("her exec into root's --rm container (whose processes may end it: `kill 1`) and her docker update of it are refused", () => {
    FrontSuite.refused(suite.docker(mallory, ['exec', web, 'kill', '1']), `exec into container "${web}"`);
    FrontSuite.refused(suite.docker(mallory, ['update', '--memory', '8m', web]), `update of container "${web}"`);
    expect(suite.inspect(web, '{{.State.Running}}')).toBe('true');
  }, 120_000);

  test('her own --rm container: she may exec into it, stop and kill it', () => {
    const hers = uniqueName('her-rm');
    expect(suite.docker(mallory, ['run', '-d', '--rm', '--name', hers, engine.image, 'sleep', '600']).status).toBe(0);
    expect(suite.docker(mallory, ['exec', hers, 'echo', 'in'])).toMatchObject({ status: 0, stdout: 'in\n' });
    expect(suite.docker(mallory, ['stop', '-t', '1', hers]).status).toBe(0);
    const again = uniqueName('her-rm');
    expect(suite.docker(mallory, ['run', '-d', '--rm', '--name', again, engine.image, 'sleep', '600']).status).toBe(0);
    expect(suite.docker(mallory, ['kill', again]).status).toBe(0);
  }, 120_000);

  test("root's plain container (no --rm: ending it frees no name) she may still stop", () => {
    const plain = uniqueName('root-plain');
    expect(engine.docker(['run', '-d', '--name', plain, engine.image, 'sleep', '600']).status).toBe(0);
    expect(suite.docker(mallory, ['stop', '-t', '1', plain]).status).toBe(0);
    expect(suite.inspect(plain, '{{.Name}}')).toBe(`/${plain}`);
    engine.docker(['rm', '-f', plain]);
  }, 120_000);
});

describe("outside attack 13 F4: root's network is not hers to remove (its name would be hers to make)", () => {
  test("docker network rm (by name and by id) and network prune: refused with one line; root's network is the same one", () => {
    const rootNet = uniqueName('root-net');
    expect(engine.docker(['network', 'create', rootNet]).status).toBe(0);
    const id = suite.inspect(rootNet, '{{.Id}}');
    FrontSuite.refused(suite.docker(mallory, ['network', 'rm', rootNet]), `removal of network "${rootNet}"`);
    FrontSuite.refused(suite.docker(mallory, ['network', 'rm', id.slice(0, 12)]), `removal of network "${id.slice(0, 12)}"`);
    const prune = suite.docker(mallory, ['network', 'prune', '-f']);
    expect({ status: prune.status, stdout: prune.stdout }).toEqual({ status: 1, stdout: '' });
    expect(prune.stderr).toMatch(FrontSuite.refusal('docker network prune'));
    expect(suite.docker(mallory, ['network', 'create', rootNet]).status).not.toBe(0);
    expect(suite.inspect(rootNet, '{{.Id}}')).toBe(id);
    engine.docker(['network', 'rm', rootNet]);
  }, 120_000);

  test('her own network: she may remove it (by name or id prefix)', () => {
    const hers = uniqueName('her-net');
    expect(suite.docker(mallory, ['network', 'create', hers]).status).toBe(0);
    expect(suite.docker(mallory, ['network', 'rm', hers]).status).toBe(0);
    expect(suite.docker(mallory, ['network', 'create', hers]).status).toBe(0);
    expect(suite.docker(mallory, ['network', 'rm', suite.inspect(hers, '{{.Id}}').slice(0, 12)]).status).toBe(0);
    expect(engine.docker(['network', 'ls', '-q', '--filter', `name=^${hers}$`]).stdout).toBe('');
  }, 120_000);
});

describe('outside attack 13 F5: an error while judging refuses the request, never relays it', () => {
  test("a create whose judging throws (a lone surrogate in a volume name) is answered 500 by the front; no container is made", () => {
    const vol = uniqueName('root-bind');
    expect(engine.docker(['volume', 'create', '-o', 'type=none', '-o', 'o=bind', '-o', 'device=/etc', vol]).status).toBe(0);
    const name = uniqueName('her-throw');
    const r = suite.call(mallory, 'POST', `/v1.41/containers/create?name=${name}`, { Binds: ['\ud800x:/y'], Image: engine.image, Cmd: ['sleep', '600'], HostConfig: { Binds: [`${vol}:/host`] } });
    expect(r.status).toBe(500);
    expect(r.body).toMatch(/^\{"message":"contid docker front: cannot judge this request[^\n]*\}$/);
    expect(engine.docker(['ps', '-aq', '--filter', `name=^/${name}$`]).stdout).toBe('');
    engine.docker(['volume', 'rm', vol]);
  }, 120_000);
});

describe("outside attack 13 F7: her container cannot carry the label keys contid's CRI path writes", () => {
  test.each([
    ['io.kubernetes.pod.namespace=kube-system', 'io.kubernetes.pod.namespace'],
    ['io.kubernetes.pod.name=coredns', 'io.kubernetes.pod.name'],
    ['contid.io/container-type=container', 'contid.io/container-type'],
    ['Contid.IO/cri-runtime=containerd', 'Contid.IO/cri-runtime'],
  ])('--label %s: refused with one line; no container is made', (label, key) => {
    const name = uniqueName('her-label');
    FrontSuite.refused(suite.docker(mallory, ['create', '--name', name, '--label', label, engine.image, 'sleep', '600']), `container label ${JSON.stringify(key)}`);
    expect(engine.docker(['ps', '-aq', '--filter', `name=^/${name}$`]).stdout).toBe('');
  }, 120_000);

  test("an image of hers carrying such a label (her docker commit --change 'LABEL …'): her create of it is refused with one line", () => {
    const hers = uniqueName('her-base');
    const tag = `local/atk13fix-herlabel-${process.pid}:1`;
    expect(suite.docker(mallory, ['create', '--name', hers, engine.image, 'true']).status).toBe(0);
    expect(suite.docker(mallory, ['commit', '--change', 'LABEL io.kubernetes.pod.namespace=kube-system', hers, tag]).status).toBe(0);
    const name = uniqueName('her-label');
    FrontSuite.refused(suite.docker(mallory, ['create', '--name', name, tag, 'sleep', '600']), `image "${tag}" label "io.kubernetes.pod.namespace"`);
    expect(engine.docker(['ps', '-aq', '--filter', `name=^/${name}$`]).stdout).toBe('');
    engine.docker(['rm', '-f', hers]);
    engine.docker(['rmi', tag]);
  }, 120_000);

  test("docker-compose's labels and her own are hers to set", () => {
    const name = uniqueName('her-label');
    expect(suite.docker(mallory, ['run', '-d', '--name', name, '--label', 'com.docker.compose.project=p', '--label', 'com.docker.compose.service=db', '--label', 'team=web', engine.image, 'sleep', '600']).status).toBe(0);
    expect(suite.inspect(name, '{{index .Config.Labels "com.docker.compose.project"}}')).toBe('p');
    engine.docker(['rm', '-f', name]);
  }, 120_000);
});
