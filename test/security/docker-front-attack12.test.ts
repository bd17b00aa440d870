import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { uniqueName } from '../helpers/cli';
import { FrontSuite } from '../docker/front-suite';
import type { LoginUser } from '../docker/login-user';

// Outside attack 12, from the attacker's real position: mallory, a non-root login user in group
// docker, talking only to the front of a real dockerd 20.10 whose default runtime is contid's.
//  P1: `docker network create -d ../../../<her dir>/p`: dockerd's legacy plugin discovery joins
//      the driver name into /run/docker/plugins/NAME.sock, so dockerd (root) ran the network
//      driver protocol with her process (its Join answer moved a host interface into her container).
//  P2: `docker network connect HER_NET ROOT_CONTAINER`: root's container put on a network of hers.
//  I2: `docker rmi ROOT_TAG` (not routed) made root's tag a new one, which she then pointed at
//      her image (21594ac refuses only existing tags): root's next run ran her entrypoint.
//  R1: `docker rename` of root's container, then her own container under its name: root's
//      scripted `docker exec NAME` ran in her container with root's secrets.
const suite = FrontSuite.withContidDefault(
  'atk12fix-front',
  { name: 'local/busybox-atk12fix:1', dirs: ['usr', 'etc'], links: { lib: 'usr/lib', lib64: 'usr/lib64', ...Object.fromEntries(['sleep', 'echo', 'true'].map((a) => [`bin/${a}`, 'busybox'])) } },
);
const { engine } = suite;
let mallory: LoginUser;

beforeAll(async () => {
  mallory = suite.loginUser('contid-a12f-mallory');
  await suite.start();
}, 240_000);

afterAll(async () => {
  await suite.stop();
}, 120_000);

/** Her "network plugin": an HTTP server on a unix socket in her home, run as her, logging every path dockerd asks. */
function herPlugin(sock: string, log: string): ChildProcess {
  const script = `const fs = require('node:fs');
try { fs.unlinkSync(${JSON.stringify(sock)}); } catch {}
require('node:http').createServer((q, s) => {
  fs.appendFileSync(${JSON.stringify(log)}, q.url + '\\n');
  const a = q.url === '/Plugin.Activate' ? { Implements: ['NetworkDriver'] } : q.url === '/NetworkDriver.GetCapabilities' ? { Scope: 'local' } : {};
  s.setHeader('Content-Type', 'application/vnd.docker.plugins.v1+json');
  s.end(JSON.stringify(a));
}).listen(${JSON.stringify(sock)});`;
  return spawn('setpriv', ['--reuid', String(mallory.uid), '--regid', String(mallory.gid), '--clear-groups', process.execPath, '-e', script], { stdio: 'ignore' });
}

async function until(what: () => boolean, ms = 10_000): Promise<void> {
  for (const end = Date.now() + ms; !what(); ) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('outside attack 12 P1: her network create is judged — only the bridge driver, dockerd\'s own pools, options that name no host interface', () => {
  test('a driver name that walks to her own socket is refused with one line; dockerd never dialled it', async () => {
    const sock = join(mallory.home, 'p.sock');
    const log = join(mallory.home, 'plugin.log');
    const plugin = herPlugin(sock, log);
    try {
      await until(() => existsSync(sock));
      const name = uniqueName('her-plugnet');
      const r = suite.docker(mallory, ['network', 'create', '-d', `../../..${mallory.home}/p`, name]);
      FrontSuite.refused(r, 'network create driver');
      const ipam = suite.docker(mallory, ['network', 'create', '--ipam-driver', `../../..${mallory.home}/p`, name]);
      FrontSuite.refused(ipam, 'network create IPAM.Driver');
      expect(engine.docker(['network', 'ls', '-q', '--filter', `name=^${name}$`]).stdout).toBe('');
      expect(existsSync(log) ? readFileSync(log, 'utf8') : '').toBe('');
    } finally {
      plugin.kill();
    }
  }, 120_000);

  test.each([
    ['macvlan on a host interface', ['-d', 'macvlan', '-o', 'parent=lo'], 'network create driver'],
    ['ipvlan', ['-d', 'ipvlan'], 'network create driver'],
    ['a bridge named as the host\'s docker0', ['-o', 'com.docker.network.bridge.name=docker0'], 'network create option'],
    ['a subnet of hers', ['--subnet', '10.213.0.0/24'], 'network create IPAM.Config'],
    ['a config-only network', ['--config-only'], 'network create ConfigOnly'],
  ])('%s: refused with one line, no network made', (_what, flags, what) => {
    const name = uniqueName('her-net');
    FrontSuite.refused(suite.docker(mallory, ['network', 'create', ...flags, name]), what);
    expect(engine.docker(['network', 'ls', '-q', '--filter', `name=^${name}$`]).stdout).toBe('');
  }, 120_000);

  test('her plain bridge network (internal, mtu) is hers to make and run on', () => {
    const name = uniqueName('her-bridge');
    expect(suite.docker(mallory, ['network', 'create', '--internal', '-o', 'com.docker.network.driver.mtu=1400', name]).status).toBe(0);
    expect(suite.docker(mallory, ['run', '--rm', '--network', name, engine.image, 'echo', 'hello'])).toMatchObject({ status: 0, stdout: 'hello\n' });
    expect(suite.docker(mallory, ['network', 'rm', name]).status).toBe(0);
  }, 120_000);
});

describe("outside attack 12 P2, R1: root's running container is not hers to connect, disconnect or rename", () => {
  let agent: string;
  let herNet: string;
  beforeAll(() => {
    agent = uniqueName('root-agent');
    herNet = uniqueName('her-net');
    expect(engine.docker(['run', '-d', '--name', agent, engine.image, 'sleep', '600']).status).toBe(0);
    // With P1 fixed her network is a plain bridge of dockerd's: what holds is that root's
    // container is not put on (or taken off) a network by anyone but root.
    expect(suite.docker(mallory, ['network', 'create', herNet]).status).toBe(0);
  }, 120_000);
  afterAll(() => {
    engine.docker(['rm', '-f', agent, `${agent}-old`]);
    engine.docker(['network', 'rm', herNet]);
  }, 120_000);

  test("P2: her network connect of root's container to her network, and disconnect from its own, are refused with one line; root's container's networks are unchanged", () => {
    const before = suite.inspect(agent, '{{json .NetworkSettings.Networks}}');
    FrontSuite.refused(suite.docker(mallory, ['network', 'connect', herNet, agent]), `network connect or disconnect of container "${agent}"`);
    FrontSuite.refused(suite.docker(mallory, ['network', 'disconnect', 'bridge', agent]), `network connect or disconnect of container "${agent}"`);
    expect(suite.inspect(agent, '{{json .NetworkSettings.Networks}}')).toBe(before);
    expect(suite.inspect(agent, '{{json .NetworkSettings.Networks}}')).not.toContain(herNet);
  }, 120_000);

  test("R1: her rename of root's container is refused with one line; root's exec by name still reaches root's container", () => {
    FrontSuite.refused(suite.docker(mallory, ['rename', agent, `${agent}-old`]), `rename of container "${agent}"`);
    expect(suite.inspect(agent, '{{.Name}}')).toBe(`/${agent}`);
    const taken = suite.docker(mallory, ['run', '-d', '--name', agent, engine.image, 'sleep', '600']);
    expect(taken.status).not.toBe(0);
    expect(engine.docker(['ps', '-q', '--filter', `name=^/${agent}$`]).stdout.trim().length).toBeGreaterThan(0);
  }, 120_000);

  test("R1: a plain container of root's that she started (the table allows it) is still not hers to rename", () => {
    const stopped = uniqueName('root-plain');
    expect(engine.docker(['create', '--name', stopped, engine.image, 'sleep', '600']).status).toBe(0);
    expect(suite.docker(mallory, ['start', stopped]).status).toBe(0);
    FrontSuite.refused(suite.docker(mallory, ['rename', stopped, `${stopped}-old`]), `rename of container "${stopped}"`);
    FrontSuite.refused(suite.docker(mallory, ['network', 'connect', herNet, stopped]), `network connect or disconnect of container "${stopped}"`);
    engine.docker(['rm', '-f', stopped]);
  }, 120_000);

  // R2 (round 12, after R1's fix): `docker rm -f` of root's running container freed its name
  // for hers, and `docker container prune` did the same for root's stopped ones.
  test("R2: her removal of root's container (running or stopped) and container prune are refused with one line; the name stays root's", () => {
    FrontSuite.refused(suite.docker(mallory, ['rm', '-f', agent]), `removal of container "${agent}"`);
    expect(suite.inspect(agent, '{{.State.Running}}')).toBe('true');
    const stopped = uniqueName('root-stopped');
    expect(engine.docker(['create', '--name', stopped, engine.image, 'true']).status).toBe(0);
    FrontSuite.refused(suite.docker(mallory, ['rm', stopped]), `removal of container "${stopped}"`);
    const prune = suite.docker(mallory, ['container', 'prune', '-f']);
    expect({ status: prune.status, stdout: prune.stdout }).toEqual({ status: 1, stdout: '' });
    expect(prune.stderr).toMatch(FrontSuite.refusal('docker container prune'));
    expect(suite.inspect(stopped, '{{.Name}}')).toBe(`/${stopped}`);
    engine.docker(['rm', '-f', stopped]);
  }, 120_000);

  test('her own container: she may rename it and connect it to her network', () => {
    const hers = uniqueName('hers');
    expect(suite.docker(mallory, ['run', '-d', '--name', hers, engine.image, 'sleep', '600']).status).toBe(0);
    expect(suite.docker(mallory, ['rename', hers, `${hers}-2`]).status).toBe(0);
    expect(suite.docker(mallory, ['network', 'connect', herNet, `${hers}-2`]).status).toBe(0);
    expect(suite.inspect(`${hers}-2`, '{{json .NetworkSettings.Networks}}')).toContain(herNet);
    expect(suite.docker(mallory, ['network', 'disconnect', herNet, `${hers}-2`]).status).toBe(0);
    // and remove it
    expect(suite.docker(mallory, ['rm', '-f', `${hers}-2`]).status).toBe(0);
    expect(engine.docker(['ps', '-aq', '--filter', `name=^/${hers}-2$`]).stdout.trim()).toBe('');
  }, 120_000);
});

describe("outside attack 12 I2: she cannot untag root's image tag to make it a new tag", () => {
  test("docker rmi (plain and -f) of root's tag and image prune -a are refused with one line; her tag onto it is still refused; the tag names root's image", () => {
    const rootTag = `local/atk12fix-rootagent-${process.pid}:1`;
    expect(engine.docker(['tag', engine.image, rootTag]).status).toBe(0);
    const rootImage = suite.inspect(rootTag, '{{.Id}}');
    const hers = uniqueName('hers');
    const herTag = `local/atk12fix-hers-${process.pid}:1`;
    expect(suite.docker(mallory, ['create', '--name', hers, engine.image, 'true']).status).toBe(0);
    expect(suite.docker(mallory, ['commit', '--change', 'ENTRYPOINT ["echo","her-entrypoint"]', hers, herTag]).status).toBe(0);
    const what = 'removing or untagging an image';
    FrontSuite.refused(suite.docker(mallory, ['rmi', rootTag]), what);
    FrontSuite.refused(suite.docker(mallory, ['rmi', '-f', rootTag]), what);
    FrontSuite.refused(suite.docker(mallory, ['rmi', '-f', rootImage]), what);
    const prune = suite.docker(mallory, ['image', 'prune', '-a', '-f']);
    expect(prune.status).toBe(1);
    expect(prune.stderr).toMatch(FrontSuite.refusal(what));
    expect(suite.docker(mallory, ['tag', herTag, rootTag]).status).toBe(1);
    expect(suite.inspect(rootTag, '{{.Id}}')).toBe(rootImage);
    expect(engine.docker(['run', '--rm', rootTag, 'echo', 'root-run'])).toMatchObject({ status: 0, stdout: 'root-run\n' });
    engine.docker(['rm', '-f', hers]);
    engine.docker(['rmi', rootTag, herTag]);
  }, 120_000);
});
