import { chownSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run, uniqueName } from '../helpers/cli';
import { waitFor } from '../helpers/wait';
import { FrontSuite } from '../docker/front-suite';
import type { LoginUser } from '../docker/login-user';

// Outside attack 7 on the front's policy, from the attacker's real position: mallory, a non-root
// login user in group docker, talking to the front of a real dockerd 20.10 whose default runtime
// is contid's. She hands dockerd a configuration the start-time check never saw (a /v1.23 start
// body), a privileged exec, namespaces shared with alice's container or the host, capabilities
// and security options past Docker's defaults, bind mounts of dockerd's or the front's sockets and
// contid's notes; and root in a container holding the front's socket passes for host root.
const suite = FrontSuite.withContidDefault(
  'fpol',
  { name: 'local/busybox-fpol:1', dirs: ['usr', 'etc'], links: { lib: 'usr/lib', lib64: 'usr/lib64', ...Object.fromEntries(['cat', 'sleep', 'echo', 'grep', 'id'].map((a) => [`bin/${a}`, 'busybox'])) } },
);
const { engine, front, frontSock } = suite;
let mallory: LoginUser;
let alice: LoginUser;
/** A root-owned 0755 directory holding one directory mallory owns (her own files, on a path she cannot redirect). */
const shared = mkdtempSync(join(tmpdir(), 'contid-fpol-files-'));
const hers = join(shared, 'hers');

const refused = (what: RegExp | string) => new RegExp(`contid docker front: ${typeof what === 'string' ? what.replace(/[.*+?^${}()|[\]\\]/g, '\\$&') : what.source}.* is refused for users other than root: `);
const LOGINUID = 'echo auid=$(cat /proc/self/loginuid)';
const ESCAPE = 'echo auid=$(cat /proc/self/loginuid); echo 4242 >/proc/self/loginuid && echo escaped=$(cat /proc/self/loginuid)';

beforeAll(async () => {
  mallory = suite.loginUser('contid-f7-mallory');
  alice = suite.loginUser('contid-f7-alice');
  suite.userDirectory(shared, mallory);
  await suite.start();
}, 240_000);

afterAll(async () => {
  await suite.stop();
}, 120_000);

describe('outside attack 7: configuration dockerd takes past the start check', () => {
  test('F1: a /v1.23 start or restart with a body (dockerd applies it as HostConfig) is refused; one without a body starts hers', async () => {
    const name = uniqueName('startbody');
    expect(suite.docker(mallory, ['create', '--name', name, engine.image, 'sh', '-c', ESCAPE]).status).toBe(0);
    for (const body of [{ Runtime: 'runc', CapAdd: ['AUDIT_CONTROL'] }, { Privileged: true }, { CapAdd: ['AUDIT_CONTROL'] }]) {
      const r = suite.call(mallory, 'POST', `/v1.23/containers/${name}/start`, body);
      expect(r.status).toBe(403);
      expect(r.body).toMatch(refused('a start or restart with a body'));
    }
    expect(suite.call(mallory, 'POST', `/v1.23/containers/${name}/restart`, { Privileged: true }).status).toBe(403);
    const inspect = engine.docker(['inspect', '-f', '{{.State.Running}} {{.HostConfig.Privileged}} {{.HostConfig.Runtime}} {{.HostConfig.CapAdd}}', name]).stdout.trim();
    expect(inspect).toBe('false false contid []');
    await waitFor('the refusal logged', () => new RegExp(`refused POST /v1\\.23/containers/${name}/start from uid ${mallory.uid} \\(pid \\d+\\): a start or restart with a body`).test(front.log), 30_000);
    // Without a body the old API starts it, as hers.
    expect(suite.call(mallory, 'POST', `/v1.23/containers/${name}/start`).status).toBe(204);
    const logs = await waitFor('its output', () => engine.docker(['logs', name]).stdout || undefined, 30_000);
    expect(logs).toBe(`auid=${mallory.uid}\n`);
  }, 120_000);

  test('F6: a privileged exec is refused (docker exec --privileged and the API); a plain exec is hers', () => {
    const name = uniqueName('execpriv');
    expect(suite.docker(mallory, ['run', '-d', '--name', name, engine.image, 'sleep', '600']).status).toBe(0);
    const r = suite.docker(mallory, ['exec', '--privileged', name, 'sh', '-c', ESCAPE]);
    expect(r.status).not.toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/contid docker front: audit-control is refused for users other than root: a privileged exec .*--allow-unattributed audit-control/);
    // Go's JSON decoder matches keys case-insensitively: so does the front.
    for (const key of ['Privileged', 'privileged', 'PRIVILEGED']) {
      expect(suite.call(mallory, 'POST', `/v1.41/containers/${name}/exec`, { [key]: true, AttachStdout: true, Cmd: ['sh', '-c', ESCAPE] }).status).toBe(403);
    }
    expect(suite.docker(mallory, ['exec', name, 'sh', '-c', ESCAPE]).stdout).toBe(`auid=${mallory.uid}\n`);
    engine.docker(['rm', '-f', name]);
  }, 120_000);

  test('F6: her exec into a container root made with CAP_AUDIT_CONTROL or under runc is refused as her start of it would be', () => {
    const capped = uniqueName('root-capped');
    const runc = uniqueName('root-runc');
    const asRoot = (args: string[]) => run('docker', ['-H', `unix://${frontSock}`, ...args], { timeout: 120_000 });
    expect(asRoot(['run', '-d', '--name', capped, '--cap-add', 'AUDIT_CONTROL', engine.image, 'sleep', '600']).status).toBe(0);
    expect(asRoot(['run', '-d', '--name', runc, '--runtime', 'runc', engine.image, 'sleep', '600']).status).toBe(0);
    const e = suite.docker(mallory, ['exec', capped, 'sh', '-c', ESCAPE]);
    expect({ status: e.status, stdout: e.stdout }).toEqual({ status: 1, stdout: '' });
    expect(e.stderr).toMatch(/contid docker front: audit-control is refused for users other than root: /);
    expect(suite.docker(mallory, ['exec', runc, 'sh', '-c', ESCAPE]).stderr).toMatch(/contid docker front: runtime is refused for users other than root: /);
    // Root's own exec is root's choice.
    expect(asRoot(['exec', capped, 'echo', 'ok'])).toMatchObject({ status: 0, stdout: 'ok\n' });
    engine.docker(['rm', '-f', capped, runc]);
  }, 120_000);

  test('F4: root in a container holding the front\'s socket is not host root: its privileged or runc container is refused; host root\'s is not', async () => {
    const inner = uniqueName('inner');
    const create = (hostConfig: unknown) =>
      `/usr/bin/curl -sS -o /dev/null -w '%{http_code}\\n' --unix-socket /front.sock -X POST -H 'Content-Type: application/json' -d '${JSON.stringify({ Image: engine.image, Cmd: ['true'], HostConfig: hostConfig })}' http://x/v1.41/containers/create?name=${inner}`;
    // An admin's container with the usual -v /var/run/docker.sock (root may bind any path).
    const r = run('docker', ['-H', `unix://${frontSock}`, 'run', '--rm', '-v', '/usr:/usr:ro', '-v', `${frontSock}:/front.sock`, engine.image, 'sh', '-c', `${create({ Runtime: 'runc', CapAdd: ['AUDIT_CONTROL'] })}; ${create({ Privileged: true })}`], { timeout: 120_000 });
    expect(r.stdout).toBe('403\n403\n');
    expect(engine.docker(['inspect', inner]).status).not.toBe(0);
    await waitFor('the refusal logged', () => /refused POST \/v1\.41\/containers\/create\?name=\S+ from uid 0 \(not host root: another pid or user namespace\)/.test(front.log), 30_000);
    // Host root is unaffected.
    expect(suite.call(null, 'POST', `/v1.41/containers/create?name=${inner}`, { Image: engine.image, Cmd: ['true'], HostConfig: { Runtime: 'runc', Privileged: true } }).status).toBe(201);
    engine.docker(['rm', '-f', inner]);
  }, 120_000);
});

describe('outside attack 7: an allow-list for what a container of hers may reach', () => {
  let alices: string;
  beforeAll(() => {
    alices = uniqueName('alice-web');
    expect(suite.docker(alice, ['run', '-d', '--name', alices, engine.image, 'sleep', '600']).status).toBe(0);
  }, 120_000);

  const runRefused = (flags: string[], what: RegExp | string) => {
    const r = suite.docker(mallory, ['run', '--rm', ...flags, engine.image, 'sh', '-c', ESCAPE]);
    expect({ status: r.status, stdout: r.stdout }).toEqual({ status: 125, stdout: '' });
    expect(r.stderr).toMatch(refused(what));
  };

  test.each([
    ['--pid container:<alice\'s>', () => ['--pid', `container:${alices}`], 'HostConfig.PidMode'],
    ['--pid host', () => ['--pid', 'host'], 'HostConfig.PidMode "host"'],
    ['--ipc container:<alice\'s>', () => ['--ipc', `container:${alices}`], 'HostConfig.IpcMode'],
    ['--ipc host', () => ['--ipc', 'host'], 'HostConfig.IpcMode "host"'],
    ['--network container:<alice\'s>', () => ['--network', `container:${alices}`], 'HostConfig.NetworkMode'],
    ['--network host', () => ['--network', 'host'], 'HostConfig.NetworkMode "host"'],
    ['--volumes-from <alice\'s>', () => ['--volumes-from', alices], 'HostConfig.VolumesFrom'],
    ['--uts host', () => ['--uts', 'host'], 'HostConfig.UTSMode "host"'],
    ['--userns host', () => ['--userns', 'host'], 'HostConfig.UsernsMode "host"'],
    ['--cgroupns host', () => ['--cgroupns', 'host'], 'HostConfig.CgroupnsMode "host"'],
  ])('F2: %s is refused', (_what, flags, what) => runRefused(flags(), what), 120_000);

  test.each([
    // The client sends them as CAP_…, upper-cased.
    ['--cap-add SYS_ADMIN', ['--cap-add', 'SYS_ADMIN'], '--cap-add "CAP_SYS_ADMIN"'],
    ['--cap-add sys_ptrace', ['--cap-add', 'sys_ptrace'], '--cap-add "CAP_SYS_PTRACE"'],
    ['--cap-add NET_ADMIN', ['--cap-add', 'NET_ADMIN'], '--cap-add "CAP_NET_ADMIN"'],
    ['--device /dev/null', ['--device', '/dev/null'], 'HostConfig.Devices'],
    ['--device-cgroup-rule', ['--device-cgroup-rule', 'c 1:3 rwm'], 'HostConfig.DeviceCgroupRules'],
    ['--security-opt systempaths=unconfined', ['--security-opt', 'systempaths=unconfined'], 'HostConfig.MaskedPaths []'],
    ['--security-opt seccomp=unconfined', ['--security-opt', 'seccomp=unconfined'], '--security-opt "seccomp=unconfined"'],
    ['--security-opt apparmor=unconfined', ['--security-opt', 'apparmor=unconfined'], '--security-opt "apparmor=unconfined"'],
    ['--security-opt label=disable', ['--security-opt', 'label=disable'], '--security-opt "label=disable"'],
    ['--cgroup-parent', ['--cgroup-parent', 'system.slice'], 'HostConfig.CgroupParent'],
  ])('F7: %s is refused', (_what, flags, what) => runRefused(flags, what), 120_000);

  test('F7: Docker\'s default capabilities and no-new-privileges stay allowed, and the run is hers', () => {
    const r = suite.docker(mallory, ['run', '--rm', '--cap-add', 'CHOWN', '--cap-add', 'cap_net_bind_service', '--security-opt', 'no-new-privileges', '--cap-drop', 'NET_RAW', engine.image, 'sh', '-c', LOGINUID]);
    expect(r).toMatchObject({ status: 0, stdout: `auid=${mallory.uid}\n` });
  }, 120_000);

  test('top-level HostConfig fields (old clients, read by dockerd when there is no HostConfig) and folded keys are judged too', () => {
    for (const body of [
      { Image: engine.image, Cmd: ['true'], Privileged: true },
      { Image: engine.image, Cmd: ['true'], pidmode: 'host' },
      { Image: engine.image, Cmd: ['true'], HostConfig: { capadd: ['SYS_ADMIN'] } },
      { Image: engine.image, Cmd: ['true'], HostConfig: { \u017fecurityOpt: ['seccomp=unconfined'] } },
      { Image: engine.image, Cmd: ['true'], HostConfig: { NotAField: true } },
    ]) {
      const r = suite.call(mallory, 'POST', '/v1.41/containers/create', body);
      expect({ body, status: r.status }).toEqual({ body, status: 403 });
    }
  }, 120_000);

  afterAll(() => {
    engine.docker(['rm', '-f', alices]);
  });
});

describe('outside attack 7: bind mounts only of her own files', () => {
  test.each([
    ["dockerd's own socket", () => [`${suite.upstream}:/up.sock`]],
    ["the front's socket", () => [`${frontSock}:/front.sock`]],
    ["the front's requesters directory", () => [`${suite.requesters}:/req`]],
    ["contid's state directory", () => [`${suite.stateDir}:/state:ro`]],
    ['/', () => ['/:/host:ro']],
    ['/etc read-only', () => ['/etc:/etc2:ro']],
    ['/proc', () => ['/proc:/p:ro']],
    ['her own directory, writable', () => [`${hers}:/mine`]],
    ['her own directory through ..', () => [`${hers}/../hers:/mine:ro`]],
  ])('F3/F5: -v %s is refused', (_what, spec) => {
    const r = suite.docker(mallory, ['run', '--rm', '-v', spec()[0]!, engine.image, 'true']);
    expect(r.status).toBe(125);
    expect(r.stderr).toMatch(refused('bind mount of'));
  }, 120_000);

  test('F3: --mount type=bind of dockerd\'s socket, and local volumes with o=bind / device= (create and --mount volume-opt), are refused', () => {
    expect(suite.docker(mallory, ['run', '--rm', '--mount', `type=bind,source=${suite.upstream},target=/up.sock,readonly`, engine.image, 'true']).stderr).toMatch(refused('bind mount of'));
    const vol = uniqueName('bindvol');
    const created = suite.docker(mallory, ['volume', 'create', '-o', 'type=none', '-o', 'o=bind', '-o', `device=${suite.requesters}`, vol]);
    expect(created.status).not.toBe(0);
    expect(created.stderr).toMatch(refused('volume options'));
    expect(engine.docker(['volume', 'inspect', vol]).status).not.toBe(0);
    expect(suite.docker(mallory, ['volume', 'create', '-o', 'type=ext4', '-o', 'device=/dev/sda1', vol]).stderr).toMatch(refused('volume options'));
    expect(suite.docker(mallory, ['run', '--rm', '--mount', `type=volume,source=${vol},target=/v,volume-opt=type=none,volume-opt=o=bind,volume-opt=device=/`, engine.image, 'true']).stderr).toMatch(refused('volume options'));
    expect(engine.docker(['volume', 'inspect', vol]).status).not.toBe(0);
  }, 120_000);

  test('her own directory read-only, a named volume and a tmpfs volume are allowed', () => {
    writeFileSync(join(hers, 'note'), 'mine\n');
    chownSync(join(hers, 'note'), mallory.uid, mallory.uid);
    expect(suite.docker(mallory, ['run', '--rm', '-v', `${hers}:/mine:ro`, engine.image, 'cat', '/mine/note'])).toMatchObject({ status: 0, stdout: 'mine\n' });
    expect(suite.docker(mallory, ['run', '--rm', '--mount', `type=bind,source=${hers},target=/mine,readonly`, engine.image, 'cat', '/mine/note'])).toMatchObject({ status: 0, stdout: 'mine\n' });
    const vol = uniqueName('tmpvol');
    expect(suite.docker(mallory, ['volume', 'create', '-o', 'type=tmpfs', '-o', 'device=tmpfs', '-o', 'o=size=1m', vol]).status).toBe(0);
    expect(suite.docker(mallory, ['run', '--rm', '-v', `${vol}:/v`, '-v', 'plain-fpol:/w', engine.image, 'sh', '-c', 'echo x > /v/x && echo x > /w/x && cat /v/x /w/x'])).toMatchObject({ status: 0, stdout: 'x\nx\n' });
  }, 120_000);

  test('the refusal is logged with her strings escaped', async () => {
    const odd = `${hers}/\u001b[31mred`;
    expect(suite.docker(mallory, ['run', '--rm', '-v', `${odd}:/x:ro`, engine.image, 'true']).status).toBe(125);
    await waitFor('the escaped refusal', () => front.log.includes('[31mred'), 30_000);
    expect(front.log).not.toContain('\u001b[31m');
  }, 120_000);
});
