import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { uniqueName } from '../helpers/cli';
import { waitFor } from '../helpers/wait';
import { FrontSuite } from '../docker/front-suite';
import type { LoginUser } from '../docker/login-user';

// Outside attack 9 F3, from the attacker's real position: mallory, a non-root login user in
// group docker, talking to the front of a real dockerd 20.10 whose default runtime is contid's.
// Root made containers with what the create-time allow-list refuses her (a writable bind of /,
// the host's pids, SYS_ADMIN, unmasked /proc, a device, a bind of root's files: a monitoring
// agent's usual flags). The front judged only privileged, CAP_AUDIT_CONTROL and the runtime at a
// start or exec, so she started one and exec'd into it: a file written on the host as uid 0.
const suite = FrontSuite.withContidDefault(
  'atk9fix-front',
  { name: 'local/busybox-atk9fix:1', dirs: ['usr', 'etc'], links: { lib: 'usr/lib', lib64: 'usr/lib64', ...Object.fromEntries(['cat', 'sleep', 'echo', 'id', 'touch'].map((a) => [`bin/${a}`, 'busybox'])) } },
);
const { engine, frontSock } = suite;
let mallory: LoginUser;
/** A root-owned 0755 directory holding root's directory and one of mallory's. */
const files = mkdtempSync(join(tmpdir(), 'contid-atk9fix-'));
const roots = join(files, 'roots');
const hers = join(files, 'hers');
/** What her exec would leave on the host through a bind of /. */
const MARK = join(files, 'pwned');

const PAYLOAD = ['sh', '-c', `touch /host${MARK} 2>/dev/null; echo pwned uid=$(id -u)`];

beforeAll(async () => {
  mallory = suite.loginUser('contid-a9f-mallory');
  expect(suite.userDirectory(files, mallory)).toBe(hers);
  mkdirSync(roots, { mode: 0o755 });
  await suite.start();
}, 240_000);

afterAll(async () => {
  await suite.stop();
}, 120_000);

describe('outside attack 9 F3: a container root made is judged at her start, restart and exec by the rules her create would pass', () => {
  test.each([
    ['a writable bind of / (-v /:/host)', () => ['-v', '/:/host'], 'bind mount of "/"'],
    ['a writable bind of / (--mount)', () => ['--mount', 'type=bind,source=/,target=/host'], 'bind mount of "/"'],
    ['the host\'s pids (--pid host)', () => ['--pid', 'host'], 'HostConfig.PidMode "host"'],
    ['--cap-add SYS_ADMIN', () => ['--cap-add', 'SYS_ADMIN'], '--cap-add "CAP_SYS_ADMIN"'],
    ['unmasked /proc (--security-opt systempaths=unconfined)', () => ['--security-opt', 'systempaths=unconfined'], 'HostConfig.MaskedPaths []'],
    ['a host device (--device /dev/null)', () => ['--device', '/dev/null'], 'HostConfig.Devices'],
    ["a read-only bind of root's directory", () => ['-v', `${roots}:/x:ro`], `bind mount of "${roots}"`],
    ["the host's network (--network host)", () => ['--network', 'host'], 'HostConfig.NetworkMode "host"'],
    ["the host's ipc namespace (--ipc host)", () => ['--ipc', 'host'], 'HostConfig.IpcMode "host"'],
  ])('%s: her start, /v1.23 start, restart, exec and exec create are refused with one line; nothing lands on the host; root starts and execs it', (_what, flags, what) => {
    const name = uniqueName('root-agent');
    expect(engine.docker(['create', '--name', name, ...flags(), engine.image, 'sleep', '600']).status).toBe(0);

    const start = suite.docker(mallory, ['start', name]);
    expect(start.status).not.toBe(0);
    expect(start.stderr).toMatch(FrontSuite.refusal(what));
    const old = suite.call(mallory, 'POST', `/v1.23/containers/${name}/start`);
    expect(old.status).toBe(403);
    expect((JSON.parse(old.body) as { message: string }).message).toMatch(new RegExp(`^${FrontSuite.refusal(what).source}$`));
    expect(suite.inspect(name, '{{.State.Running}}')).toBe('false');

    // Root's own start of it is root's choice.
    expect(suite.docker(null, ['start', name]).status).toBe(0);
    const started = suite.inspect(name, '{{.State.StartedAt}}');
    const restart = suite.docker(mallory, ['restart', '-t', '0', name]);
    expect(restart.status).not.toBe(0);
    expect(restart.stderr).toMatch(FrontSuite.refusal(what));
    expect(suite.inspect(name, '{{.State.Running}} {{.State.StartedAt}}')).toBe(`true ${started}`);

    const exec = suite.docker(mallory, ['exec', name, ...PAYLOAD]);
    expect({ status: exec.status, stdout: exec.stdout }).toEqual({ status: 1, stdout: '' });
    expect(exec.stderr).toMatch(FrontSuite.refusal(what));
    expect(suite.call(mallory, 'POST', `/v1.41/containers/${name}/exec`, { Cmd: PAYLOAD, AttachStdout: true }).status).toBe(403);
    expect(existsSync(MARK)).toBe(false);

    expect(suite.docker(null, ['exec', name, 'echo', 'ok'])).toMatchObject({ status: 0, stdout: 'ok\n' });
    engine.docker(['rm', '-f', name]);
  }, 120_000);

  test("a refused start never removes root's --rm container (running, or made and not yet started)", () => {
    const running = uniqueName('root-rm-running');
    const made = uniqueName('root-rm-made');
    expect(engine.docker(['run', '-d', '--rm', '--name', running, '-v', '/:/host', engine.image, 'sleep', '600']).status).toBe(0);
    expect(engine.docker(['create', '--rm', '--name', made, '--pid', 'host', engine.image, 'sleep', '600']).status).toBe(0);
    // refused first as a start of root's --rm container (outside attack 15, F1), before its HostConfig is judged
    expect(suite.docker(mallory, ['start', running]).stderr).toMatch(FrontSuite.refusal(`start or restart of container "${running}"`));
    expect(suite.docker(mallory, ['start', made]).stderr).toMatch(FrontSuite.refusal(`start or restart of container "${made}"`));
    expect(suite.inspect(running, '{{.State.Running}}')).toBe('true');
    expect(suite.inspect(made, '{{.State.Status}}')).toBe('created');
    engine.docker(['rm', '-f', running, made]);
  }, 120_000);

  test("a named volume root made binding / (volume create -o o=bind -o device=/): her run with it (-v, --mount) and her start of root's container using it are refused; so is root's plain volume (outside attack 11, V3)", () => {
    const rootfs = uniqueName('root-bind-vol');
    const plain = uniqueName('root-plain-vol');
    expect(engine.docker(['volume', 'create', '-o', 'type=none', '-o', 'o=bind', '-o', 'device=/', rootfs]).status).toBe(0);
    expect(engine.docker(['volume', 'create', plain]).status).toBe(0);
    const what = `volume "${rootfs}"`;
    for (const mount of [['-v', `${rootfs}:/host`], ['--mount', `type=volume,source=${rootfs},target=/host`]]) {
      const r = suite.docker(mallory, ['run', '--rm', ...mount, engine.image, ...PAYLOAD]);
      expect({ status: r.status, stdout: r.stdout }).toEqual({ status: 125, stdout: '' });
      expect(r.stderr).toMatch(FrontSuite.refusal(what));
    }
    const agent = uniqueName('root-vol-agent');
    expect(engine.docker(['create', '--name', agent, '-v', `${rootfs}:/host`, engine.image, 'sleep', '600']).status).toBe(0);
    expect(suite.docker(mallory, ['start', agent]).stderr).toMatch(FrontSuite.refusal(what));
    expect(suite.inspect(agent, '{{.State.Running}}')).toBe('false');
    expect(existsSync(MARK)).toBe(false);
    // A plain volume of root's is root's data (and what root's containers run from it): not hers either.
    const r = suite.docker(mallory, ['run', '--rm', '-v', `${plain}:/data`, engine.image, 'sh', '-c', 'touch /data/x && echo ok']);
    expect({ status: r.status, stdout: r.stdout }).toEqual({ status: 125, stdout: '' });
    expect(r.stderr).toMatch(FrontSuite.refusal(`volume "${plain}"`));
    expect(engine.docker(['run', '--rm', '-v', `${plain}:/data`, engine.image, 'sh', '-c', 'test -e /data/x && echo x || echo none']).stdout).toBe('none\n');
    engine.docker(['rm', '-f', agent]);
  }, 120_000);

  test("her docker cp into and out of root's container (through its bind of /) and her attach with stdin are refused with one line; root's cp is not", async () => {
    const agent = uniqueName('root-shell');
    expect(engine.docker(['run', '-di', '--name', agent, '-v', '/:/host', engine.image, 'sh']).status).toBe(0);
    const what = 'bind mount of "/"';
    writeFileSync(join(hers, 'evil'), 'evil\n');
    const cpIn = suite.docker(mallory, ['cp', join(hers, 'evil'), `${agent}:/host${MARK}`]);
    expect(cpIn.status).not.toBe(0);
    expect(cpIn.stderr).toMatch(FrontSuite.refusal(what));
    const cpOut = suite.docker(mallory, ['cp', `${agent}:/host/etc/shadow`, '-']);
    expect({ status: cpOut.status, stdout: cpOut.stdout }).toEqual({ status: 1, stdout: '' });
    expect(cpOut.stderr).toMatch(FrontSuite.refusal(what));
    const attach = mallory.run(['docker', '-H', `unix://${frontSock}`, 'attach', agent], { input: `touch /host${MARK}; echo pwned\n` });
    // The docker CLI prints only the status of a refused upgrade; the front's log says why.
    expect({ stdout: attach.stdout, stderr: attach.stderr.trim() }).toEqual({ stdout: '', stderr: 'unable to upgrade to tcp, received 403' });
    await waitFor('the refused attach in the front\'s log', () => new RegExp(`refused POST /v[0-9.]+/containers/${agent}/attach\\?\\S+ from uid ${mallory.uid} \\(pid \\d+\\): bind mount of "/": `).test(suite.front.log), 30_000);
    expect(existsSync(MARK)).toBe(false);
    expect(suite.inspect(agent, '{{.State.Running}}')).toBe('true');
    expect(suite.docker(null, ['cp', `${agent}:/host/etc/hostname`, '-']).status).toBe(0);
    engine.docker(['rm', '-f', agent]);
  }, 120_000);

  test('her own container made through the front (her read-only bind, a named volume) starts, restarts and execs as hers; so does a plain one root made', () => {
    const mine = uniqueName('hers');
    expect(suite.docker(mallory, ['create', '--name', mine, '-v', `${hers}:/h:ro`, '-v', `${uniqueName('vol')}:/data`, '--cap-drop', 'ALL', engine.image, 'sleep', '600']).status).toBe(0);
    expect(suite.docker(mallory, ['start', mine]).status).toBe(0);
    expect(suite.docker(mallory, ['exec', mine, 'cat', '/proc/self/loginuid'])).toMatchObject({ status: 0, stdout: `${mallory.uid}` });
    expect(suite.docker(mallory, ['restart', '-t', '0', mine]).status).toBe(0);
    expect(suite.docker(mallory, ['stop', '-t', '0', mine]).status).toBe(0);
    expect(suite.call(mallory, 'POST', `/v1.23/containers/${mine}/start`).status).toBe(204);
    expect(suite.docker(mallory, ['exec', mine, 'echo', 'ok'])).toMatchObject({ status: 0, stdout: 'ok\n' });
    expect(suite.docker(mallory, ['run', '--rm', '-v', `${hers}:/h:ro`, engine.image, 'echo', 'ran'])).toMatchObject({ status: 0, stdout: 'ran\n' });

    const plain = uniqueName('root-plain');
    expect(engine.docker(['create', '--name', plain, engine.image, 'sleep', '600']).status).toBe(0);
    expect(suite.docker(mallory, ['start', plain]).status).toBe(0);
    expect(suite.docker(mallory, ['exec', plain, 'cat', '/proc/self/loginuid'])).toMatchObject({ status: 0, stdout: `${mallory.uid}` });
    engine.docker(['rm', '-f', mine, plain]);
  }, 120_000);
});
