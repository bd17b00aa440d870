import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { contid, uniqueName } from '../helpers/cli';
import { waitFor } from '../helpers/wait';
import { FrontSuite } from '../docker/front-suite';
import type { LoginUser } from '../docker/login-user';

// Outside attack 6 on `contid docker front`, from the attacker's real position: mallory, a
// non-root login user in group docker, talking to the front of a real dockerd whose default
// runtime is contid's (the admin made tagging mandatory). She tries to run a container with no
// audit identity (another runtime), one whose root can rewrite its loginuid (privileged,
// CAP_AUDIT_CONTROL), and to have dockerd's own runs for her container (healthcheck probes, a
// restart policy's runs) attributed to root, or her own exec folded into them.
const suite = FrontSuite.withContidDefault('frontsec6', { name: 'local/busybox-frontsec6:1', links: Object.fromEntries(['cat', 'sleep', 'echo'].map((a) => [`bin/${a}`, 'busybox'])) });
const { engine, front, stateDir } = suite;
let mallory: LoginUser;

const refusal = (what: string) => new RegExp(`contid docker front: ${what} is refused for users other than root: .*--allow-unattributed ${what}`);
const LOGINUID = 'echo auid=$(cat /proc/self/loginuid)';
const env = { ...process.env, CONTID_STATE_DIR: stateDir };

interface Shown {
  state: string;
  detail?: Record<string, unknown>;
  bindings: { op: string; detail: { requester?: { uid: number; byDockerd?: boolean }; healthcheck?: boolean; command?: string[] } }[];
  healthchecks: { count: number; requester: { uid: number; byDockerd?: boolean } | null }[];
}
const show = (name: string): Shown => JSON.parse(contid(['show', '--json', name], { env }).stdout) as Shown;

beforeAll(async () => {
  mallory = suite.loginUser('contid-f6-mallory');
  await suite.start();
}, 180_000);

afterAll(async () => {
  await suite.stop();
}, 120_000);

describe('outside attack 6: containers that would run without their audit identity', () => {
  test('mallory\'s --runtime runc is refused (403, one clear line, logged) by docker run and by create-then-start; her default run is hers', async () => {
    const name = uniqueName('runc');
    const r = suite.docker(mallory, ['run', '--rm', '--runtime', 'runc', '--name', name, engine.image, 'sh', '-c', LOGINUID]);
    expect(r.status).not.toBe(0);
    expect(r.stdout).not.toContain('auid=');
    expect(r.stderr).toMatch(refusal('runtime'));
    expect(r.stderr).toContain('runtime "runc" is not contid\'s');
    // --rm: removed as dockerd removes one whose start failed (the client waits for that).
    expect(engine.docker(['inspect', name]).status).not.toBe(0);
    const created = uniqueName('runc-created');
    // Refused at create since attack 7; one root created is refused at her start.
    expect(suite.docker(mallory, ['create', '--runtime', 'runc', '--name', created, engine.image, 'sleep', '600']).stderr).toMatch(refusal('runtime'));
    expect(suite.docker(null, ['create', '--runtime', 'runc', '--name', created, engine.image, 'sleep', '600']).status).toBe(0);
    const started = suite.docker(mallory, ['start', created]);
    expect(started.stderr).toMatch(refusal('runtime'));
    expect(engine.docker(['inspect', '-f', '{{.State.Running}}', created]).stdout.trim()).toBe('false');
    // The front's log is read as it arrives (the client calls above block this process).
    await waitFor('the refusal in the front\'s log', () => new RegExp(`refused POST \\S+/start from uid ${mallory.uid} .*runtime is not allowed`).test(front.log), 30_000);
    // What the default runtime gives her: her own identity.
    expect(suite.docker(mallory, ['run', '--rm', engine.image, 'sh', '-c', LOGINUID])).toMatchObject({ status: 0, stdout: `auid=${mallory.uid}\n` });
    // Root (who reaches dockerd's own socket anyway) is not refused.
    expect(suite.docker(null, ['run', '--rm', '--runtime', 'runc', engine.image, 'sh', '-c', 'echo ran'])).toMatchObject({ status: 0, stdout: 'ran\n' });
  }, 120_000);

  test.each([
    ['--privileged', ['--privileged']],
    ['--cap-add AUDIT_CONTROL', ['--cap-add', 'AUDIT_CONTROL']],
    ['--cap-add cap_audit_control', ['--cap-add', 'cap_audit_control']],
    ['--cap-add ALL', ['--cap-add', 'ALL']],
  ])('mallory\'s %s is refused: root in it could rewrite its loginuid', (_what, flags) => {
    const r = suite.docker(mallory, ['run', '--rm', ...flags, engine.image, 'sh', '-c', `${LOGINUID}; echo 4242 >/proc/self/loginuid && cat /proc/self/loginuid`]);
    expect(r.status).not.toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(refusal('audit-control'));
  }, 120_000);

  test('contid doctor behind the front says whether dockerd\'s default runtime is contid\'s (so other runtimes are refused)', () => {
    const doctor = (daemonJson: string) =>
      contid(['doctor'], { env: { ...env, CONTID_DOCKER_UPSTREAM: suite.upstream, CONTID_DOCKER_DAEMON_JSON: daemonJson } }).stdout.split('\n').find((l) => l.includes('docker default runtime: '));
    expect(doctor(suite.configFile!)).toMatch(/^ok {4}docker default runtime: dockerd's default runtime is contid's/);
    expect(doctor(join(dirname(suite.configFile!), 'none.json'))).toMatch(/^WARN  docker default runtime: dockerd's default runtime is "runc" .*does not refuse other runtimes.* — fix: contid install docker --default-runtime/);
  });

  test('another added capability (one of Docker\'s defaults: others are refused since attack 7) is not refused', () => {
    expect(suite.docker(mallory, ['run', '--rm', '--cap-add', 'NET_BIND_SERVICE', engine.image, 'sh', '-c', LOGINUID])).toMatchObject({ status: 0, stdout: `auid=${mallory.uid}\n` });
  }, 120_000);

  test('--allow-unattributed runtime relays it; the agent\'s untagged record of the container names mallory as its requester', async () => {
    await front.stop();
    try {
      await front.start(['--allow-unattributed', 'runtime']);
      const name = uniqueName('runc-allowed');
      expect(suite.docker(mallory, ['run', '-d', '--runtime', 'runc', '--name', name, engine.image, 'sleep', '600']).status).toBe(0);
      // Only what was allowed: privileged is still refused.
      expect(suite.docker(mallory, ['run', '--rm', '--privileged', engine.image, 'true']).stderr).toMatch(refusal('audit-control'));
      const shown = await waitFor('its untagged record', () => {
        const r = contid(['show', '--json', name], { env });
        return r.status === 0 ? (JSON.parse(r.stdout) as Shown) : undefined;
      }, 60_000);
      expect(shown.state).toBe('untagged');
      const record = JSON.stringify(shown);
      expect(record).toContain(`"uid":${mallory.uid}`);
      expect(record).toContain('"runtime":"runc"');
      engine.docker(['rm', '-f', name]);
    } finally {
      await front.stop();
      await front.start();
    }
  }, 120_000);
});

describe('outside attack 6: runs dockerd makes itself for mallory\'s container', () => {
  test('healthcheck probes run with mallory\'s auid, recorded as hers made by dockerd; her own exec of the same command stays hers, not a probe', async () => {
    const name = uniqueName('hc');
    // The probes write where the test reads without an exec of its own (which would be one more
    // run): a named volume, read on the host where dockerd keeps it (a writable bind mount is
    // not hers to make since attack 7).
    const volume = uniqueName('hc-out');
    let out = '';
    const probe = 'cat /proc/self/loginuid >> /out/hc.log; echo >> /out/hc.log';
    const probes = () => (out && existsSync(join(out, 'hc.log')) ? readFileSync(join(out, 'hc.log'), 'utf8').split('\n').filter(Boolean) : []);
    try {
      expect(suite.docker(mallory, ['run', '-d', '--name', name, '-v', `${volume}:/out`, '--health-cmd', probe, '--health-interval', '1s', engine.image, 'sleep', '600']).status).toBe(0);
      out = engine.docker(['volume', 'inspect', '-f', '{{.Mountpoint}}', volume]).stdout.trim();
      await waitFor('three probes', () => probes().length >= 3, 60_000);
      expect(new Set(probes())).toEqual(new Set([String(mallory.uid)]));
      expect(suite.docker(mallory, ['exec', name, '/bin/sh', '-c', probe]).status).toBe(0);
      const shown = await waitFor('her exec and the probes bound', () => {
        const v = show(name);
        return v.bindings.some((x) => x.op === 'setns' && x.detail.requester) && v.healthchecks.some((h) => h.count >= 2) ? v : undefined;
      }, 60_000);
      // The probes: folded, the last run's requester hers, taken for dockerd — never root's, never none.
      expect(shown.healthchecks).toHaveLength(1);
      expect(shown.healthchecks[0]!.requester).toMatchObject({ uid: mallory.uid, auid: mallory.uid, byDockerd: true });
      expect(contid(['show', name], { env }).stdout).toMatch(new RegExp(`healthcheck ×\\d+ .*requester \\{"uid":${mallory.uid},.*"byDockerd":true`));
      // Her own exec of the same command: hers, not a probe.
      const own = shown.bindings.filter((x) => x.op === 'setns');
      expect(own).toHaveLength(1);
      expect(own[0]!.detail).not.toHaveProperty('healthcheck');
      expect(own[0]!.detail.requester).toMatchObject({ uid: mallory.uid });
      expect(own[0]!.detail.requester).not.toHaveProperty('byDockerd');
    } finally {
      engine.docker(['rm', '-f', name]);
      engine.docker(['volume', 'rm', '-f', volume]);
    }
  }, 120_000);

  test('a restart policy\'s later runs run with mallory\'s auid, recorded as hers made by dockerd', async () => {
    const name = uniqueName('restart');
    expect(suite.docker(mallory, ['run', '-d', '--restart', 'always', '--name', name, engine.image, 'sh', '-c', `${LOGINUID}; sleep 2; exit 1`]).status).toBe(0);
    const runs = await waitFor('a restart', () => {
      const lines = engine.docker(['logs', name]).stdout.split('\n').filter(Boolean);
      return lines.length >= 2 ? lines : undefined;
    }, 60_000);
    expect(new Set(runs)).toEqual(new Set([`auid=${mallory.uid}`]));
    engine.docker(['update', '--restart', 'no', name]);
    const creates = await waitFor('two runs bound', () => {
      const all = suite.tagger.containers.list({ orchestrator: 'docker' }).filter((c) => c.name === name);
      const b = all.flatMap((c) => suite.tagger.containers.bindings(c.contid).filter((x) => x.op === 'create')).sort((x, y) => x.at - y.at);
      return b.length >= 2 ? b : undefined;
    }, 60_000);
    expect(creates[0]!.detail.requester).toMatchObject({ uid: mallory.uid });
    expect(creates[0]!.detail.requester).not.toHaveProperty('byDockerd');
    expect(creates[1]!.detail.requester).toMatchObject({ uid: mallory.uid, byDockerd: true });
    engine.docker(['rm', '-f', name]);
  }, 120_000);
});
