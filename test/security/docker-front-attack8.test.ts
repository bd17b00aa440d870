import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RunResult, uniqueName } from '../helpers/cli';
import { waitFor } from '../helpers/wait';
import { FrontSuite } from '../docker/front-suite';
import type { LoginUser } from '../docker/login-user';

// Outside attack 8 on the front's allow-list, from the attacker's real position: mallory, a
// non-root login user in group docker, talking to the front of a real dockerd 20.10 whose default
// runtime is contid's. F1: a key given twice in one JSON object — JSON.parse keeps the last, Go's
// decoder (dockerd) decodes both into the same struct or map, so the first one's fields survive
// unjudged (a writable bind of / with the host's pids, a local volume binding /etc).
const suite = FrontSuite.withContidDefault(
  'fatk8',
  { name: 'local/busybox-fatk8:1', dirs: ['usr', 'etc'], links: { lib: 'usr/lib', lib64: 'usr/lib64', ...Object.fromEntries(['cat', 'sleep', 'echo', 'head', 'id'].map((a) => [`bin/${a}`, 'busybox'])) } },
);
const { engine, front, frontSock } = suite;
let mallory: LoginUser;
let alice: LoginUser;

/** A request with `body` sent byte for byte as written (a repeated key cannot be made with JSON.stringify). */
const raw = (user: LoginUser, method: string, path: string, body?: string, type = 'application/json'): RunResult =>
  user.run(['curl', '-sS', '--unix-socket', frontSock, '-X', method, '-H', `Content-Type: ${type}`, '-w', '\n%{http_code}', ...(body === undefined ? [] : ['--data-binary', body]), `http://x${path}`]);
/** Container `id`'s note as the front left it for the shim. */
const noteOf = (id: string): string => readFileSync(join(suite.requesters, `c-${id}`), 'utf8');
/**
 * Mallory's own attach client (as the attacker's): POST …/attach?QUERY with Upgrade, a form body
 * when given; after the answer's head it types LINE and hangs up. Prints the status line.
 */
const ATTACH = `const net = require('node:net');
const [sock, name, query, line, body] = process.argv.slice(1);
const s = net.connect(sock, () => s.write('POST /v1.41/containers/' + name + '/attach?' + query + ' HTTP/1.1\\r\\nHost: x\\r\\nUpgrade: tcp\\r\\nConnection: Upgrade\\r\\n' +
  (body ? 'Content-Type: application/x-www-form-urlencoded\\r\\nContent-Length: ' + body.length + '\\r\\n\\r\\n' + body : 'Content-Length: 0\\r\\n\\r\\n')));
let head = '';
s.on('data', (d) => { if (head) return; head = d.toString('latin1'); console.log(head.split('\\r\\n')[0]); s.write(line + '\\n'); setTimeout(() => s.destroy(), 1000); });
s.on('error', (e) => console.log('error ' + e.message));`;
const attach = (user: LoginUser, name: string, query: string, line: string, body = ''): string => user.run([process.execPath, '-e', ATTACH, frontSock, name, query, line, body]).stdout.trim();
const REPEATED = /^\{"message":"contid docker front: (container|volume) create is refused for users other than root: its body repeats the key \\"(HostConfig|hostconfig|DriverOpts|DriverConfig)\\" in one object[^\n]*"\}$/;

beforeAll(async () => {
  mallory = suite.loginUser('contid-f8-mallory');
  alice = suite.loginUser('contid-f8-alice');
  await suite.start();
}, 240_000);

afterAll(async () => {
  await suite.stop();
}, 120_000);

describe('outside attack 8 F1: a key repeated in one JSON object is refused, not merged by dockerd unjudged', () => {
  test('A1b: HostConfig twice (writable bind of /, the host\'s pids) is refused; HostConfig once is hers', async () => {
    const name = uniqueName('dup-hostconfig');
    const cmd = ['sh', '-c', 'id -u; head -c 5 /host/etc/shadow'];
    const bad = JSON.stringify({ Image: engine.image, Cmd: cmd, HostConfig: { Binds: ['/:/host'], PidMode: 'host' } });
    for (const second of [',"HostConfig":{}}', ',"Host\\u0043onfig":{}}', ',"hostconfig":null}']) {
      const r = FrontSuite.answer(raw(mallory, 'POST', `/v1.41/containers/create?name=${name}`, bad.replace(/}$/, second)));
      expect(r.status).toBe(403);
      expect(r.body).toMatch(REPEATED);
      expect(engine.docker(['inspect', name]).status).not.toBe(0);
    }
    await waitFor('the refusal logged', () => new RegExp(`refused POST /v1\\.41/containers/create\\?name=${name} from uid ${mallory.uid} \\(pid \\d+\\): container create: its body repeats the key "HostConfig"`).test(front.log), 30_000);
    // The same body with one HostConfig: judged (the bind refused), and a harmless one created.
    expect(FrontSuite.answer(raw(mallory, 'POST', `/v1.41/containers/create?name=${name}`, bad)).status).toBe(403);
    const ok = FrontSuite.answer(raw(mallory, 'POST', `/v1.41/containers/create?name=${name}`, JSON.stringify({ Image: engine.image, Cmd: ['true'], HostConfig: { CapDrop: ['ALL'] } })));
    expect(ok.status).toBe(201);
    engine.docker(['rm', '-f', name]);
  }, 120_000);

  test('A2: POST /volumes/create with DriverOpts twice (a bind of /etc, then a tmpfs) is refused; no volume is made', () => {
    const volume = uniqueName('dupvol');
    const r = FrontSuite.answer(raw(mallory, 'POST', '/v1.41/volumes/create', `{"Name":"${volume}","DriverOpts":{"type":"none","o":"bind","device":"/etc"},"DriverOpts":{"type":"tmpfs"}}`));
    expect(r.status).toBe(403);
    expect(r.body).toMatch(REPEATED);
    expect(engine.docker(['volume', 'inspect', volume]).status).not.toBe(0);
    // A tmpfs volume given once is hers.
    expect(FrontSuite.answer(raw(mallory, 'POST', '/v1.41/volumes/create', `{"Name":"${volume}","DriverOpts":{"type":"tmpfs","device":"tmpfs"}}`)).status).toBe(201);
    engine.docker(['volume', 'rm', '-f', volume]);
  }, 120_000);

  test('A3: a --mount of type volume whose VolumeOptions give DriverConfig twice (a bind of /etc, then none) is refused', () => {
    const name = uniqueName('dup-mount');
    const volume = uniqueName('dupmountvol');
    const body = JSON.stringify({ Image: engine.image, Cmd: ['head', '-c', '5', '/h/shadow'], HostConfig: { Mounts: [{ Type: 'volume', Source: volume, Target: '/h', VolumeOptions: { DriverConfig: { Name: 'local', Options: { type: 'none', o: 'bind', device: '/etc' } } } }] } }).replace(
      /("DriverConfig":\{[^}]*\}\})/,
      '$1,"DriverConfig":{"Options":{}}',
    );
    expect(body).toContain('"DriverConfig":{"Options":{}}');
    const r = FrontSuite.answer(raw(mallory, 'POST', `/v1.41/containers/create?name=${name}`, body));
    expect(r.status).toBe(403);
    expect(r.body).toMatch(REPEATED);
    expect(engine.docker(['inspect', name]).status).not.toBe(0);
    expect(engine.docker(['volume', 'inspect', volume]).status).not.toBe(0);
  }, 120_000);
});

describe('outside attack 8 F4: a change dockerd refuses is not kept on the container\'s note', () => {
  test('C1: mallory\'s cp into alice\'s container to a path that is not there (404) leaves no changed=cp; her cp that dockerd does leaves one', () => {
    const name = uniqueName('refusedcp');
    const run = suite.docker(alice, ['run', '-d', '--name', name, engine.image, 'sleep', '600']);
    expect(run.status).toBe(0);
    const id = run.stdout.trim();
    const before = noteOf(id);
    expect(before).toMatch(new RegExp(`^uid=${alice.uid}\n`));
    for (const path of ['/no/such/dir', '/etc/hostname/x']) {
      const r = FrontSuite.answer(mallory.run(['curl', '-sS', '--unix-socket', frontSock, '-X', 'PUT', '-H', 'Content-Type: application/x-tar', '--data-binary', '', '-w', '\n%{http_code}', `http://x/v1.41/containers/${name}/archive?path=${encodeURIComponent(path)}`]));
      expect(r.status).toBeGreaterThanOrEqual(400);
    }
    // A refused update (a restart policy dockerd will not take) is taken back too.
    expect(FrontSuite.answer(raw(mallory, 'POST', `/v1.41/containers/${name}/update`, '{"RestartPolicy":{"Name":"no-such-policy"}}')).status).toBeGreaterThanOrEqual(400);
    expect(noteOf(id)).toBe(before);
    // The control: a cp dockerd does is noted.
    const payload = join(mallory.home, 'payload');
    writeFileSync(payload, 'mallory was here\n');
    chmodSync(payload, 0o644);
    expect(suite.docker(mallory, ['cp', payload, `${name}:/payload`])).toMatchObject({ status: 0 });
    expect(noteOf(id)).toMatch(new RegExp(`^${before.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}changed=cp,${mallory.uid},${mallory.uid},\\d+,\\d+,\\S+\n$`));
    engine.docker(['rm', '-f', name]);
  }, 120_000);
});

describe('outside attack 8 F2: an attach that types into alice\'s container is noted as dockerd reads stdin', () => {
  test('B1: stdin=yes and stdin=1&stdin=0 (dockerd: the first value, anything but ""/0/no/false/none) are noted; stdin=0&stdin=yes is not, and reaches nothing; a form body is refused', async () => {
    const name = uniqueName('attachstdin');
    const run = suite.docker(alice, ['run', '-d', '-i', '--name', name, engine.image, 'cat']);
    expect(run.status).toBe(0);
    const id = run.stdout.trim();
    const attaches = () => (noteOf(id).match(/^changed=attach,.*$/gm) ?? []).filter((l) => l.startsWith(`changed=attach,${mallory.uid},`)).length;
    // Not stdin to dockerd: nothing typed reaches cat, nothing is noted.
    expect(attach(mallory, name, 'stdin=0&stdin=yes&stream=1', 'typed-first-false')).toMatch(/^HTTP\/1\.1 101 /);
    // A form body with stdin=1 (dockerd reads it ahead of the query): refused by the front, one line.
    expect(attach(mallory, name, 'stream=1', 'typed-form-body', 'stdin=1')).toMatch(/^HTTP\/1\.1 400 /);
    expect(attaches()).toBe(0);
    // Stdin to dockerd: each noted.
    for (const [query, line] of [['stdin=yes&stream=1', 'typed-yes'], ['stdin=1&stdin=0&stream=1', 'typed-first-true'], ['stdin=1&stream=1', 'typed-control']] as const) {
      expect(attach(mallory, name, query, line)).toMatch(/^HTTP\/1\.1 101 /);
    }
    const logs = await waitFor('the typed lines', () => {
      const out = engine.docker(['logs', name]).stdout;
      return out.includes('typed-control') ? out : undefined;
    }, 30_000);
    expect(logs.split('\n').filter(Boolean).sort()).toEqual(['typed-control', 'typed-first-true', 'typed-yes']);
    expect(attaches()).toBe(3);
    expect(front.log).not.toMatch(/typed-/);
    engine.docker(['rm', '-f', name]);
  }, 120_000);
});
