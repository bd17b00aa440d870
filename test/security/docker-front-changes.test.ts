import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { contid, uniqueName } from '../helpers/cli';
import { waitFor } from '../helpers/wait';
import { FrontSuite } from '../docker/front-suite';
import type { LoginUser } from '../docker/login-user';

// Who changed a container before dockerd ran it on its own, from the attacker's real position:
// mallory and alice, non-root login users in group docker, on the front of a real dockerd whose
// default runtime is contid's. dockerd's own runs (healthcheck probes, restart-policy runs) are
// the container's last starter's (outside attack 6); mallory changes alice's container first —
// `docker cp`, `docker exec`, `docker update` — so that what dockerd then runs is hers, and the
// kernel must not stamp it with alice's auid (she would be framed).
const suite = FrontSuite.withContidDefault('frontchg', { name: 'local/busybox-frontchg:1', links: Object.fromEntries(['cat', 'sleep', 'echo'].map((a) => [`bin/${a}`, 'busybox'])) });
const { engine, stateDir } = suite;
let mallory: LoginUser;
let alice: LoginUser;

const env = { ...process.env, CONTID_STATE_DIR: stateDir };

interface Person {
  uid: number;
  auid: number;
}
interface Contest {
  lastStarter: Person;
  changedBy: (Person & { what: string })[];
}
interface Shown {
  healthchecks: { count: number; requester: (Person & { byDockerd?: boolean }) | null; contested: Contest | null }[];
}
const show = (name: string): Shown => JSON.parse(contid(['show', '--json', name], { env }).stdout) as Shown;

/** The creates bound for NAME, oldest first, with their binding detail. */
const creates = (name: string) =>
  suite.tagger.containers
    .list({ orchestrator: 'docker' })
    .filter((c) => c.name === name)
    .flatMap((c) => suite.tagger.containers.bindings(c.contid).filter((b) => b.op === 'create'))
    .sort((a, b) => a.at - b.at);

/**
 * A named volume the probes (which run as root in the container) append their loginuid to, read
 * on the host where dockerd keeps it (`dir` is the -v source: a writable bind mount is not a
 * user's to make since outside attack 7).
 */
/**
 * Container NAME's healthcheck probes' auids, one a line: the probe appends to /hc.log in the
 * container's own file system, read from the host through its init's /proc root. (Not a named
 * volume of alice's: mallory's cp into a container mounting one is refused, since the cp writes
 * through its mounts — outside attack 11, V3.)
 */
function probeLog(name: string) {
  const file = (): string => {
    const pid = engine.docker(['inspect', '-f', '{{.State.Pid}}', name]).stdout.trim();
    return /^[1-9]\d*$/.test(pid) ? `/proc/${pid}/root/hc.log` : '';
  };
  return {
    probe: 'cat /proc/self/loginuid >> /hc.log; echo >> /hc.log',
    lines: (): string[] => {
      const f = file();
      try {
        return f && existsSync(f) ? readFileSync(f, 'utf8').split('\n').filter(Boolean) : [];
      } catch {
        return [];
      }
    },
  };
}

/** The probes' auids after a change made when LINES had `at` lines (one probe may have been under way then). */
async function probesAfter(log: ReturnType<typeof probeLog>, at: number): Promise<string[]> {
  await waitFor('three probes after the change', () => log.lines().length >= at + 4, 90_000);
  return log.lines().slice(at + 1);
}

beforeAll(async () => {
  mallory = suite.loginUser('contid-fc-mallory');
  alice = suite.loginUser('contid-fc-alice');
  await suite.start();
}, 180_000);

afterAll(async () => {
  await suite.stop();
}, 120_000);

describe('dockerd\'s own runs of a container another user changed since its last start', () => {
  test('after mallory\'s docker cp into alice\'s container, its healthcheck probes never carry alice\'s auid; the binding names both, as contested', async () => {
    const name = uniqueName('cp');
    const log = probeLog(name);
    try {
      expect(suite.docker(alice, ['run', '-d', '--name', name, '--health-cmd', log.probe, '--health-interval', '1s', engine.image, 'sleep', '600'])).toMatchObject({ status: 0 });
      await waitFor('two probes', () => log.lines().length >= 2, 90_000);
      expect(new Set(log.lines())).toEqual(new Set([String(alice.uid)]));
      const payload = join(mallory.home, 'payload');
      writeFileSync(payload, 'echo mallory was here\n');
      chmodSync(payload, 0o644);
      const cp = suite.docker(mallory, ['cp', payload, `${name}:/payload`]);
      expect(cp).toMatchObject({ status: 0 });
      // Counted once the cp returned: probes started before the front noted it (while the CLI
      // was on its way) ran as alice's; at most one of them is still under way (probesAfter skips it).
      const at = log.lines().length;
      const after = await probesAfter(log, at);
      expect(after).not.toContain(String(alice.uid));
      expect(after).not.toContain(String(mallory.uid));
      const shown = await waitFor('a contested probe bound', () => {
        const v = show(name);
        return v.healthchecks.some((h) => h.contested) ? v : undefined;
      }, 60_000);
      const contested = shown.healthchecks.find((h) => h.contested)!;
      expect(contested.requester).toBeNull();
      expect(contested.contested!.lastStarter).toMatchObject({ uid: alice.uid, auid: alice.uid });
      expect(contested.contested!.changedBy).toEqual([expect.objectContaining({ what: 'cp', uid: mallory.uid, auid: mallory.uid })]);
      expect(contid(['show', name], { env }).stdout).toMatch(/healthcheck ×\d+ .*contested/);
    } finally {
      engine.docker(['rm', '-f', name]);
    }
  }, 240_000);

  test('after mallory\'s exec into alice\'s container, a restart policy\'s run never carries alice\'s auid; alice\'s own start clears it', async () => {
    const name = uniqueName('exec');
    expect(suite.docker(alice, ['run', '-d', '--restart', 'always', '--name', name, engine.image, 'sh', '-c', 'echo auid=$(cat /proc/self/loginuid); sleep 8; exit 1'])).toMatchObject({ status: 0 });
    expect(suite.docker(mallory, ['exec', name, 'sh', '-c', 'echo mallory >/x'])).toMatchObject({ status: 0 });
    const runs = await waitFor('a restart', () => {
      const lines = engine.docker(['logs', name]).stdout.split('\n').filter(Boolean);
      return lines.length >= 2 ? lines : undefined;
    }, 90_000);
    expect(runs[0]).toBe(`auid=${alice.uid}`);
    expect(runs.slice(1)).not.toContain(`auid=${alice.uid}`);
    expect(runs.slice(1)).not.toContain(`auid=${mallory.uid}`);
    const bound = await waitFor('two creates bound', () => (creates(name).length >= 2 ? creates(name) : undefined), 60_000);
    expect(bound[1]!.detail).not.toHaveProperty('requester');
    expect(bound[1]!.detail.contested).toMatchObject({ lastStarter: { uid: alice.uid }, changedBy: [{ what: 'exec', uid: mallory.uid }] });
    // alice starts it herself: hers again, and so are dockerd's later runs of it.
    expect(suite.docker(alice, ['restart', '-t', '1', name])).toMatchObject({ status: 0 });
    const before = engine.docker(['logs', name]).stdout.split('\n').filter(Boolean).length;
    const later = await waitFor('her start and a restart of dockerd\'s', () => {
      const lines = engine.docker(['logs', name]).stdout.split('\n').filter(Boolean);
      return lines.length >= before + 2 ? lines.slice(before) : undefined;
    }, 90_000);
    expect(new Set(later)).toEqual(new Set([`auid=${alice.uid}`]));
    engine.docker(['rm', '-f', name]);
  }, 240_000);

  test('mallory\'s docker update --restart always on alice\'s container: dockerd\'s restart is not alice\'s', async () => {
    const name = uniqueName('update');
    expect(suite.docker(alice, ['run', '-d', '--name', name, engine.image, 'sh', '-c', 'echo auid=$(cat /proc/self/loginuid); sleep 8'])).toMatchObject({ status: 0 });
    expect(suite.docker(mallory, ['update', '--restart', 'always', name])).toMatchObject({ status: 0 });
    const runs = await waitFor('a restart', () => {
      const lines = engine.docker(['logs', name]).stdout.split('\n').filter(Boolean);
      return lines.length >= 2 ? lines : undefined;
    }, 90_000);
    expect(runs[0]).toBe(`auid=${alice.uid}`);
    expect(runs[1]).not.toBe(`auid=${alice.uid}`);
    const bound = await waitFor('two creates bound', () => (creates(name).length >= 2 ? creates(name) : undefined), 60_000);
    expect(bound[1]!.detail.contested).toMatchObject({ lastStarter: { uid: alice.uid }, changedBy: [{ what: 'update', uid: mallory.uid }] });
    engine.docker(['rm', '-f', name]);
  }, 240_000);

  test('alice\'s own cp and exec change nothing: her probes stay hers, taken for dockerd', async () => {
    const name = uniqueName('own');
    const log = probeLog(name);
    try {
      expect(suite.docker(alice, ['run', '-d', '--name', name, '--health-cmd', log.probe, '--health-interval', '1s', engine.image, 'sleep', '600'])).toMatchObject({ status: 0 });
      await waitFor('a probe', () => log.lines().length >= 1, 90_000);
      const file = join(alice.home, 'own');
      writeFileSync(file, 'mine\n');
      chmodSync(file, 0o644);
      expect(suite.docker(alice, ['cp', file, `${name}:/own`])).toMatchObject({ status: 0 });
      expect(suite.docker(alice, ['exec', name, 'sh', '-c', 'echo mine >>/own'])).toMatchObject({ status: 0 });
      const at = log.lines().length;
      const after = await probesAfter(log, at);
      expect(new Set(after)).toEqual(new Set([String(alice.uid)]));
      const shown = await waitFor('probes bound', () => {
        const v = show(name);
        return v.healthchecks.some((h) => h.count >= 2) ? v : undefined;
      }, 60_000);
      expect(shown.healthchecks[0]!.requester).toMatchObject({ uid: alice.uid, byDockerd: true });
      expect(shown.healthchecks[0]!.contested).toBeNull();
    } finally {
      engine.docker(['rm', '-f', name]);
    }
  }, 240_000);
});
