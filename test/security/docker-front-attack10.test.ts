import { uniqueName } from '../helpers/cli';
import { FrontSuite } from '../docker/front-suite';
import type { LoginUser } from '../docker/login-user';

/**
 * Outside attack 10, D1, from the attacker's position: atk10-mallory, a login user in group
 * docker who is not root, talking only to a real `contid docker front` (its own dockerd 20.10,
 * contid's shim the default runtime). dockerd routes container calls as
 * `/containers/{name:.*}/ACTION`, and `--link C:alias` names any container C `/HOLDER/alias`:
 * `/containers/HOLDER/alias/start` was no start the front knew, so it was relayed unjudged —
 * a start body under /v1.23 (runc + CAP_AUDIT_CONTROL), an exec into a container root gave
 * CAP_AUDIT_CONTROL, a start of root's runc container: each rewrote the loginuid (escaped=4242).
 */
const suite = FrontSuite.withContidDefault('atk10fix-front', {
  name: 'local/busybox-atk10fix:1',
  dirs: ['usr', 'etc'],
  links: { lib: 'usr/lib', lib64: 'usr/lib64', ...Object.fromEntries(['cat', 'sleep', 'echo', 'sh', 'true'].map((a) => [`bin/${a}`, 'busybox'])) },
});
const { engine } = suite;
let mallory: LoginUser;

/** Rewrites its own loginuid if it can (CAP_AUDIT_CONTROL, or an unset loginuid under plain runc). */
const ESCAPE = 'echo auid=$(cat /proc/self/loginuid); echo 4242 >/proc/self/loginuid && echo escaped=$(cat /proc/self/loginuid)';
const REFUSED = /one path segment/;

/** A container of mallory's, created through the front, holding a legacy link to TARGET as ALIAS. */
function linkHolder(target: string, alias: string): string {
  const holder = uniqueName('atk10fix-holder');
  const created = suite.docker(mallory, ['create', '--name', holder, '--link', `${target}:${alias}`, engine.image, 'true']);
  expect(created.stderr).toBe('');
  expect(created.status).toBe(0);
  return holder;
}

beforeAll(async () => {
  mallory = suite.loginUser('atk10fix-mallory');
  await suite.start();
}, 240_000);
afterAll(async () => {
  await suite.stop();
}, 120_000);

test('a /v1.23 start with a body through her link name is refused; the container is not started', () => {
  const own = uniqueName('atk10fix-own');
  expect(suite.docker(mallory, ['create', '--name', own, engine.image, 'sh', '-c', ESCAPE]).status).toBe(0);
  const holder = linkHolder(own, 'x');
  // The plain path is refused by the allow-list (attack 7 F1), the link path must be refused too.
  expect(suite.call(mallory, 'POST', `/v1.23/containers/${own}/start`, { Runtime: 'runc', CapAdd: ['AUDIT_CONTROL'] }).status).toBe(403);
  const answer = suite.call(mallory, 'POST', `/v1.23/containers/${holder}/x/start`, { Runtime: 'runc', CapAdd: ['AUDIT_CONTROL'] });
  expect(answer).toEqual({ status: 400, body: expect.stringMatching(REFUSED) });
  expect(suite.inspect(own, '{{.State.StartedAt}} {{.HostConfig.Runtime}}')).toBe('0001-01-01T00:00:00Z contid');
}, 120_000);

test("an exec into root's CAP_AUDIT_CONTROL container through her link name is refused at create", () => {
  const capped = uniqueName('atk10fix-capped');
  expect(suite.docker(null, ['run', '-d', '--name', capped, '--cap-add', 'AUDIT_CONTROL', engine.image, 'sleep', '600']).status).toBe(0);
  expect(suite.docker(mallory, ['exec', capped, 'sh', '-c', ESCAPE]).stderr).toMatch(/audit-control/);
  const holder = linkHolder(capped, 'z');
  const answer = suite.call(mallory, 'POST', `/v1.41/containers/${holder}/z/exec`, { AttachStdout: true, Cmd: ['sh', '-c', ESCAPE] });
  expect(answer).toEqual({ status: 400, body: expect.stringMatching(REFUSED) });
  expect(suite.inspect(capped, '{{len .ExecIDs}}')).toBe('0');
}, 120_000);

test("a start of root's stopped runc + CAP_AUDIT_CONTROL container, a restart and a cp through her link name are refused", () => {
  const rootc = uniqueName('atk10fix-rootc');
  expect(suite.docker(null, ['create', '--name', rootc, '--runtime', 'runc', '--cap-add', 'AUDIT_CONTROL', engine.image, 'sh', '-c', ESCAPE]).status).toBe(0);
  expect(suite.docker(mallory, ['start', rootc]).status).not.toBe(0);
  const holder = linkHolder(rootc, 'w');
  for (const [method, path] of [
    ['POST', `/v1.41/containers/${holder}/w/start`],
    ['POST', `/v1.41/containers/${holder}/w/restart`],
    ['PUT', `/v1.41/containers/${holder}/w/archive?path=/`],
    ['POST', `/v1.41/containers/${holder}%2Fw/start`],
  ] as const) {
    expect({ path, ...suite.call(mallory, method, path) }).toEqual({ path, status: 400, body: expect.stringMatching(REFUSED) });
  }
  expect(suite.inspect(rootc, '{{.State.StartedAt}}')).toBe('0001-01-01T00:00:00Z');
}, 120_000);

test('her own containers by their own names still start, exec and answer through the front', () => {
  const own = uniqueName('atk10fix-plain');
  expect(suite.docker(mallory, ['run', '-d', '--name', own, engine.image, 'sleep', '600']).status).toBe(0);
  const exec = suite.docker(mallory, ['exec', own, 'cat', '/proc/self/loginuid']);
  expect(exec.stderr).toBe('');
  expect(exec.stdout.trim()).toBe(String(mallory.uid));
  expect(suite.docker(mallory, ['inspect', '-f', '{{.State.Running}}', own]).stdout.trim()).toBe('true');
}, 120_000);
