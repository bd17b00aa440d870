import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ContainerRecord } from '@contid/core';
import { RunResult, contid, uniqueName } from '../helpers/cli';
import { waitFor } from '../helpers/wait';
import { FrontSuite } from './front-suite';
import { LoginUser, createLoginUser } from './login-user';

// docker-compose (1.29, as Debian ships it) run by a non-root login user in group docker,
// through `contid docker front`: each service's container is tagged, records who asked, runs
// with that user's auid, and `contid ps`/`search` filter by the compose project and labels.
const suite = new FrontSuite('docker-compose', { name: 'local/busybox-compose:1', links: { 'bin/sleep': 'busybox', 'bin/cat': 'busybox' } });
const { engine, frontSock, stateDir } = suite;

// A login user of this suite's own (front.test has its own), in group docker.
let bob: LoginUser;
let uid = 0;

/** ARGV as bob in a fresh login session, his docker clients pointed at the front. */
function asBob(argv: string[], cwd: string): RunResult {
  return bob.run(argv, { cwd, env: { DOCKER_HOST: `unix://${frontSock}` } });
}

beforeAll(async () => {
  bob = createLoginUser('contid-bob');
  uid = bob.uid;
  await suite.start();
}, 180_000);

afterAll(async () => {
  await suite.stop();
  bob?.remove();
}, 120_000);

describe('docker-compose through contid docker front, as a non-root user in group docker', () => {
  test('up: every service tagged with its project and service labels, requested by bob, running with his auid; compose exec too; contid ps filters by project and label; down ends them', async () => {
    const project = uniqueName('shop').replace(/[^a-z0-9]/g, '');
    const dir = mkdtempSync(join(tmpdir(), 'contid-compose-'));
    spawnSync('chown', [`${uid}:${bob.gid}`, dir]);
    // File format 2.4: the first that takes `runtime:` per service.
    writeFileSync(
      join(dir, 'docker-compose.yml'),
      [
        'version: "2.4"',
        'services:',
        ...['web', 'worker'].flatMap((s) => [`  ${s}:`, `    image: ${engine.image}`, '    runtime: contid', '    command: ["sleep", "600"]', '    labels:', `      contid.test.role: ${s}`]),
        '',
      ].join('\n'),
    );
    try {
      const up = asBob(['docker-compose', '-p', project, 'up', '-d'], dir);
      expect([up.status, up.stderr]).toEqual([0, expect.any(String)]);
      const rows = await waitFor('both services bound', () => {
        const r = suite.tagger.containers.list({ orchestrator: 'docker' }).filter((c) => c.labels['com.docker.compose.project'] === project && c.state === 'running');
        return r.length === 2 && r;
      }, 60_000);
      const byService = Object.fromEntries(rows.map((c) => [c.labels['com.docker.compose.service'], c])) as Record<string, ContainerRecord>;
      expect(Object.keys(byService).sort()).toEqual(['web', 'worker']);
      for (const [service, c] of Object.entries(byService)) {
        expect(c.labels).toMatchObject({ 'com.docker.compose.project': project, 'com.docker.compose.service': service, 'contid.test.role': service });
        // Who asked: bob, from the kernel's peer credentials at the front.
        const create = suite.tagger.containers.bindings(c.contid).find((b) => b.op === 'create')!;
        expect(create.detail.requester).toMatchObject({ uid, auid: uid });
        // The container's processes carry bob's login uid (the kernel stamps auid=bob on their records).
        expect(readFileSync(`/proc/${c.initPid}/loginuid`, 'utf8')).toBe(String(uid));
      }
      // docker-compose exec (a hijacked exec through the front): bob's auid, a binding of the web container.
      const exec = asBob(['docker-compose', '-p', project, 'exec', '-T', 'web', 'sh', '-c', 'cat /proc/self/loginuid; echo; cat /proc/self/sessionid'], dir);
      expect(exec.status).toBe(0);
      const [execAuid, execSession] = exec.stdout.split('\n');
      expect(execAuid).toBe(String(uid));
      const binding = await waitFor('the exec binding', () => suite.tagger.containers.bindings(byService.web!.contid).find((b) => b.session === Number(execSession)), 30_000);
      expect(binding.detail.requester).toMatchObject({ uid, auid: uid });
      // contid ps by project and by label.
      const env = { ...process.env, CONTID_STATE_DIR: stateDir };
      const names = (r: RunResult) => r.stdout.split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { name: string }).name).sort();
      expect(names(contid(['ps', '--project', project, '--json'], { env }))).toEqual([byService.web!.name, byService.worker!.name].sort());
      expect(names(contid(['ps', '--label', 'contid.test.role=worker', '--project', project, '--json'], { env }))).toEqual([byService.worker!.name]);
      expect(names(contid(['ps', '--project', `${project}-none`, '--json'], { env }))).toEqual([]);
      const down = asBob(['docker-compose', '-p', project, 'down', '-t', '1'], dir);
      expect(down.status).toBe(0);
      await waitFor('both ended', () => rows.every((c) => suite.tagger.containers.get(c.contid)?.state === 'ended'), 60_000);
    } finally {
      asBob(['docker-compose', '-p', project, 'down', '-t', '0'], dir);
      rmSync(dir, { recursive: true, force: true });
    }
  }, 300_000);

  test("a project's named and anonymous volumes are bob's: up, a forced recreate that keeps them, down -v removes them", () => {
    const project = uniqueName('vols').replace(/[^a-z0-9]/g, '');
    const dir = mkdtempSync(join(tmpdir(), 'contid-compose-'));
    spawnSync('chown', [`${uid}:${bob.gid}`, dir]);
    writeFileSync(
      join(dir, 'docker-compose.yml'),
      ['version: "2.4"', 'services:', '  db:', `    image: ${engine.image}`, '    runtime: contid', '    command: ["sleep", "600"]', '    volumes:', '      - data:/data', '      - /anon', 'volumes:', '  data: {}', ''].join('\n'),
    );
    const compose = (args: string[]): RunResult => asBob(['docker-compose', '-p', project, ...args], dir);
    try {
      expect(compose(['up', '-d'])).toMatchObject({ status: 0 });
      expect(compose(['exec', '-T', 'db', 'sh', '-c', 'echo kept > /data/f; echo anon > /anon/f'])).toMatchObject({ status: 0 });
      const recreated = compose(['up', '-d', '--force-recreate']);
      expect([recreated.status, recreated.stderr]).toEqual([0, expect.any(String)]);
      expect(compose(['exec', '-T', 'db', 'cat', '/data/f', '/anon/f'])).toMatchObject({ status: 0, stdout: 'kept\nanon\n' });
      expect(compose(['down', '-v', '-t', '1'])).toMatchObject({ status: 0 });
      expect(engine.docker(['volume', 'ls', '-q', '--filter', `label=com.docker.compose.project=${project}`]).stdout).toBe('');
    } finally {
      compose(['down', '-v', '-t', '0']);
      rmSync(dir, { recursive: true, force: true });
    }
  }, 300_000);
});
