import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { RunResult, uniqueName } from '../helpers/cli';
import { FrontSuite } from '../docker/front-suite';
import type { LoginUser } from '../docker/login-user';

// Outside attack 11, V3, from the attacker's real position: mallory, a non-root login user in
// group docker, talking only to the front of a real dockerd 20.10 whose default runtime is
// contid's. Root made plain named volumes on dockerd's own socket (a database's data, the
// scripts a root service's container runs). The front judged a named volume by its driver
// options only, so she mounted root's read-write: she read root's data, and what root's
// container later ran from the volume ran as root. Removing root's volume and making it again
// under the same name would have made it hers just as well.
const suite = FrontSuite.withContidDefault(
  'volownerfix-front',
  { name: 'local/busybox-volownerfix:1', dirs: ['usr', 'etc'], links: { lib: 'usr/lib', lib64: 'usr/lib64', ...Object.fromEntries(['cat', 'sleep', 'echo', 'true'].map((a) => [`bin/${a}`, 'busybox'])) } },
);
const { engine } = suite;
let mallory: LoginUser;
let bob: LoginUser;

const as = (user: LoginUser, args: string[]): RunResult => suite.docker(user, args);
/** R was refused about WHAT with one line of the front's: exit STATUS (125: a `docker run`'s create), nothing on stdout. */
const refused = (r: RunResult, what: string, status = 1): void => {
  expect({ status: r.status, stdout: r.stdout }).toEqual({ status, stdout: '' });
  expect(r.stderr).toMatch(FrontSuite.refusal(what));
  expect(r.stderr.split('\n').filter((l) => l.includes('contid docker front'))).toHaveLength(1);
};
/** Root's plain volume NAME, made on dockerd's own socket, holding root's secret and the script root's service runs. */
function rootVolume(name: string): void {
  expect(engine.docker(['volume', 'create', name]).status).toBe(0);
  expect(engine.docker(['run', '--rm', '-v', `${name}:/d`, engine.image, 'sh', '-c', 'echo root-secret > /d/secret; echo "echo from root\'s script" > /d/run.sh']).status).toBe(0);
}
/** What root's service reads from the volume now. */
const rootReads = (name: string): string => engine.docker(['run', '--rm', '-v', `${name}:/d`, engine.image, 'cat', '/d/secret', '/d/run.sh']).stdout;
const volumeExists = (name: string): boolean => engine.docker(['volume', 'inspect', name]).status === 0;
const WRITE = ['sh', '-c', 'cat /d/secret; echo "echo pwned" > /d/run.sh'];

beforeAll(async () => {
  mallory = suite.loginUser('contid-volownerfix-mallory');
  bob = suite.loginUser('contid-volownerfix-bob');
  await suite.start();
}, 240_000);

afterAll(async () => {
  await suite.stop();
}, 120_000);

describe("outside attack 11 V3: root's named volumes are not hers to mount, remove or adopt", () => {
  test("her run with root's plain volume (-v, --mount, read-only too) is refused with one line; she read nothing and root's script is root's", () => {
    const db = uniqueName('root-db');
    rootVolume(db);
    for (const mount of [['-v', `${db}:/d`], ['-v', `${db}:/d:ro`], ['--mount', `type=volume,source=${db},target=/d`]]) {
      refused(as(mallory, ['run', '--rm', ...mount, engine.image, ...WRITE]), `volume "${db}"`, 125);
    }
    const api = suite.call(mallory, 'POST', '/v1.41/containers/create', { Image: engine.image, Cmd: WRITE, HostConfig: { Binds: [`${db}:/d`] } });
    expect(api.status).toBe(403);
    expect(rootReads(db)).toBe("root-secret\necho from root's script\n");
    // Root (host root, through the front as well) is not restricted.
    expect(suite.docker(null, ['run', '--rm', '-v', `${db}:/d`, engine.image, 'cat', '/d/secret'])).toMatchObject({ status: 0, stdout: 'root-secret\n' });
  }, 120_000);

  test("her start and exec of root's container that mounts root's volume are refused", () => {
    const db = uniqueName('root-db');
    rootVolume(db);
    const svc = uniqueName('root-svc');
    expect(engine.docker(['create', '--name', svc, '-v', `${db}:/d`, engine.image, 'sleep', '600']).status).toBe(0);
    refused(as(mallory, ['start', svc]), `volume "${db}"`);
    expect(engine.docker(['start', svc]).status).toBe(0);
    refused(as(mallory, ['exec', svc, ...WRITE]), `volume "${db}"`);
    expect(rootReads(db)).toBe("root-secret\necho from root's script\n");
    engine.docker(['rm', '-f', svc]);
  }, 120_000);

  test("her removal, prune and create (adoption) of root's volume are refused; the volume and its data stay root's", () => {
    const db = uniqueName('root-db');
    rootVolume(db);
    refused(as(mallory, ['volume', 'rm', db]), `removal of volume "${db}"`);
    refused(as(mallory, ['volume', 'rm', '-f', db]), `removal of volume "${db}"`);
    refused(as(mallory, ['volume', 'prune', '-f']), 'docker volume prune');
    refused(as(mallory, ['volume', 'create', db]), `volume create of the existing volume "${db}"`);
    expect(volumeExists(db)).toBe(true);
    refused(as(mallory, ['run', '--rm', '-v', `${db}:/d`, engine.image, ...WRITE]), `volume "${db}"`, 125);
    expect(rootReads(db)).toBe("root-secret\necho from root's script\n");
  }, 120_000);

  test('a volume of hers that root removed and made again under its name is no longer hers', () => {
    const name = uniqueName('hers-then-roots');
    expect(as(mallory, ['volume', 'create', name]).status).toBe(0);
    expect(as(mallory, ['run', '--rm', '-v', `${name}:/d`, engine.image, 'sh', '-c', 'echo mine > /d/m; cat /d/m'])).toMatchObject({ status: 0, stdout: 'mine\n' });
    expect(engine.docker(['volume', 'rm', name]).status).toBe(0);
    rootVolume(name);
    refused(as(mallory, ['run', '--rm', '-v', `${name}:/d`, engine.image, ...WRITE]), `volume "${name}"`, 125);
    refused(as(mallory, ['volume', 'rm', name]), `removal of volume "${name}"`);
    expect(rootReads(name)).toBe("root-secret\necho from root's script\n");
  }, 120_000);

  // Outside attack 16, F1: the note was written whatever dockerd answered.
  test('a create dockerd refuses (no such image) notes her as the maker of no volume: root\'s volume made under the name next is not hers', async () => {
    const name = uniqueName('never-made');
    const r = suite.call(mallory, 'POST', '/v1.41/containers/create', { Image: 'local/no-such-image:1', HostConfig: { Binds: [`${name}:/d`] } });
    expect(r.status).toBe(404);
    expect(volumeExists(name)).toBe(false);
    expect(existsSync(join(suite.requesters, `v-${createHash('sha256').update(name).digest('hex')}`))).toBe(false);
    await new Promise((done) => setTimeout(done, 200));
    rootVolume(name);
    refused(as(mallory, ['run', '--rm', '-v', `${name}:/d`, engine.image, ...WRITE]), `volume "${name}"`, 125);
    expect(rootReads(name)).toContain('root-secret');
  });

  test("another user's volume is not hers either", () => {
    const name = uniqueName('bobs');
    expect(as(bob, ['run', '--rm', '-v', `${name}:/d`, engine.image, 'sh', '-c', 'echo bob > /d/b']).status).toBe(0);
    refused(as(mallory, ['run', '--rm', '-v', `${name}:/d`, engine.image, 'cat', '/d/b']), `volume "${name}"`, 125);
    refused(as(mallory, ['volume', 'rm', name]), `removal of volume "${name}"`);
    // Nor through bob's container that mounts it: her start, exec and cp write through its mounts.
    const box = uniqueName('bobs-box');
    expect(as(bob, ['create', '--name', box, '-v', `${name}:/d`, engine.image, 'sleep', '600']).status).toBe(0);
    refused(as(mallory, ['start', box]), `volume "${name}"`);
    expect(as(bob, ['start', box]).status).toBe(0);
    refused(as(mallory, ['exec', box, 'sh', '-c', 'echo mallory > /d/b']), `volume "${name}"`);
    refused(as(mallory, ['cp', '/etc/hostname', `${box}:/d/b`]), `volume "${name}"`);
    expect(as(bob, ['rm', '-f', box]).status).toBe(0);
    expect(as(bob, ['run', '--rm', '-v', `${name}:/d`, engine.image, 'cat', '/d/b'])).toMatchObject({ status: 0, stdout: 'bob\n' });
    expect(as(bob, ['volume', 'rm', name]).status).toBe(0);
  }, 120_000);

  test('her own volumes stay hers: made by her run, by volume create (named or not), used again, started, removed; an anonymous volume is unaffected', () => {
    const implicit = uniqueName('her-implicit');
    const made = uniqueName('her-made');
    expect(as(mallory, ['run', '--rm', '-v', `${implicit}:/d`, engine.image, 'sh', '-c', 'echo 1 > /d/f']).status).toBe(0);
    expect(as(mallory, ['run', '--rm', '--mount', `type=volume,source=${implicit},target=/d`, engine.image, 'cat', '/d/f'])).toMatchObject({ status: 0, stdout: '1\n' });
    expect(as(mallory, ['volume', 'create', made]).status).toBe(0);
    // Creating her own volume again is dockerd's no-op, as it always was.
    expect(as(mallory, ['volume', 'create', made])).toMatchObject({ status: 0, stdout: `${made}\n` });
    const unnamed = as(mallory, ['volume', 'create']);
    expect(unnamed.status).toBe(0);
    const box = uniqueName('her-box');
    expect(as(mallory, ['create', '--name', box, '-v', `${made}:/m`, '-v', `${unnamed.stdout.trim()}:/u`, '-v', '/anon', engine.image, 'sleep', '600']).status).toBe(0);
    expect(as(mallory, ['start', box]).status).toBe(0);
    expect(as(mallory, ['exec', box, 'sh', '-c', 'echo x > /m/x; echo y > /u/y; echo z > /anon/z; cat /m/x'])).toMatchObject({ status: 0, stdout: 'x\n' });
    expect(as(mallory, ['restart', '-t', '0', box]).status).toBe(0);
    expect(as(mallory, ['rm', '-f', '-v', box]).status).toBe(0);
    expect(as(mallory, ['run', '--rm', '-v', '/anon', engine.image, 'true']).status).toBe(0);
    for (const v of [implicit, made, unnamed.stdout.trim()]) {
      expect(as(mallory, ['volume', 'rm', v])).toMatchObject({ status: 0, stdout: `${v}\n` });
      expect(volumeExists(v)).toBe(false);
    }
    // Her removal freed the name: root's volume made under it is root's.
    rootVolume(made);
    refused(as(mallory, ['run', '--rm', '-v', `${made}:/d`, engine.image, ...WRITE]), `volume "${made}"`, 125);
  }, 180_000);

  test("an anonymous volume her container made is hers to mount by name (compose's recreate keeps them so); root's anonymous volume is not", async () => {
    const anonymousOf = (container: string): string => engine.docker(['inspect', '-f', '{{range .Mounts}}{{.Name}}{{end}}', container]).stdout.trim();
    const hersBox = uniqueName('her-anon');
    const rootsBox = uniqueName('root-anon');
    expect(as(mallory, ['create', '--name', hersBox, '-v', '/data', engine.image, 'sleep', '600']).status).toBe(0);
    expect(engine.docker(['run', '--name', rootsBox, '-v', '/data', engine.image, 'sh', '-c', 'echo root-secret > /data/secret']).status).toBe(0);
    const [her, roots] = [anonymousOf(hersBox), anonymousOf(rootsBox)];
    expect(her).toMatch(/^[0-9a-f]{64}$/);
    expect(roots).toMatch(/^[0-9a-f]{64}$/);
    // Her note on it is written once dockerd answered her create, from its inspect.
    let mounted: RunResult | undefined;
    for (const end = Date.now() + 10_000; Date.now() < end; await new Promise((r) => setTimeout(r, 200))) {
      mounted = as(mallory, ['run', '--rm', '--mount', `type=volume,source=${her},target=/d`, engine.image, 'echo', 'ok']);
      if (mounted.status === 0) break;
    }
    expect(mounted).toMatchObject({ status: 0, stdout: 'ok\n' });
    refused(as(mallory, ['run', '--rm', '-v', `${roots}:/d`, engine.image, 'cat', '/d/secret']), `volume "${roots}"`, 125);
    engine.docker(['rm', '-f', '-v', hersBox, rootsBox]);
  }, 120_000);
});
