import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ContainerRecord, Registry, formatContainerId } from '@contid/core';
import { addExecveRule, deleteExecveRule, field, serial, waitForAudit } from '../helpers/audit';
import { REPO_ROOT, RunResult, contid, run, tempStateDir, uniqueName } from '../helpers/cli';
import { buildFastShim } from '../helpers/fast-shim';
import { Serve, startServe } from '../helpers/serve';
import { waitFor } from '../helpers/wait';

// The real podman (Debian 4.3) with `--runtime` = the contid-runc shim (in front of runc), and
// `contid serve` draining the spool: no Podman event stream, no Podman-specific code on the hot path.
const state = tempStateDir('podman');
const stateDir = join(state.dir, 'state');
const ROOT = '/var/lib/contid-test-podman';
const RUNROOT = '/run/contid-test-podman';
const IMAGE = 'local/busybox:1';
// conmon starts the runtime with an environment of its own: the shim is installed as
// docs/podman.md installs it, the compiled contid-runc-fast (Podman's runtime) with the sh and
// its settings beside it (contid-runc.conf), as on a host.
const libexec = join(state.dir, 'libexec');
const runtime = join(libexec, 'contid-runc-fast');
const shRuntime = join(libexec, 'contid-runc');
// The compiled shim with no sh beside it: a call it handed to the sh would fail there.
const alone = join(state.dir, 'alone', 'contid-runc-fast');
const env = { ...process.env, CONTID_STATE_DIR: stateDir };

function podman(args: string[], through = runtime): RunResult {
  const global = ['--root', ROOT, '--runroot', RUNROOT, '--cgroup-manager', 'cgroupfs', '--events-backend', 'file', '--runtime', through];
  return run('podman', [...global, ...args], { timeout: 120_000 });
}
// This VM's hard limit on open files is below Podman's default (1048576): ask for what it has.
const LIMITS = ['--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=1024:1024', '--network', 'none'];

let serve: Serve;

function registry<T>(f: (r: Registry) => T): T {
  const r = Registry.open(stateDir, { readonly: true });
  try {
    return f(r);
  } finally {
    r.close();
  }
}
const byRuntimeId = (id: string) => registry((r) => r.findByRuntimeId(id));
const sessionOf = (pid: number | 'self') => Number(readFileSync(`/proc/${pid}/sessionid`, 'utf8'));
const inspect = (name: string, format: string) => podman(['inspect', '--format', format, name]).stdout.trim();

beforeAll(async () => {
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  for (const dir of [libexec, dirname(alone)]) {
    mkdirSync(dir, { recursive: true });
    copyFileSync(buildFastShim(), join(dir, 'contid-runc-fast'));
    copyFileSync(join(REPO_ROOT, 'integrations/bin/contid-tag.sh'), join(dir, 'contid-tag.sh'));
    writeFileSync(join(dir, 'contid-runc.conf'), `# contid\nCONTID_FAIL_POLICY=open\nCONTID_STATE_DIR=${stateDir}\n`);
  }
  copyFileSync(join(REPO_ROOT, 'integrations/docker/contid-runc'), shRuntime);
  if (podman(['image', 'exists', IMAGE]).status !== 0) {
    const rootfs = join(state.dir, 'rootfs');
    mkdirSync(join(rootfs, 'bin'), { recursive: true });
    writeFileSync(join(rootfs, 'bin/busybox'), readFileSync('/bin/busybox'), { mode: 0o755 });
    for (const tool of ['sh', 'sleep', 'cat', 'true']) symlinkSync('busybox', join(rootfs, 'bin', tool));
    const r = spawnSync('sh', ['-c', `tar -C ${rootfs} -c . | podman --root ${ROOT} --runroot ${RUNROOT} import - ${IMAGE}`], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`podman import: ${r.stderr}`);
  }
  serve = startServe(env, state.dir);
  await serve.ready();
}, 180_000);

afterAll(async () => {
  podman(['rm', '-af', '-t', '0']);
  podman(['pod', 'rm', '-af']);
  await serve.stop();
  state.cleanup();
}, 120_000);

describe('podman run --runtime contid-runc (real podman, real kernel audit)', () => {
  const name = uniqueName('pm-run');
  let id: string;
  let c: ContainerRecord;

  test('run: named, labelled and imaged from Podman; bound to the fresh session every process carries', async () => {
    const r = podman(['run', '-d', ...LIMITS, '--name', name, '--label', 'app=shop', IMAGE, 'sh', '-c', 'sleep 600 & sleep 600']);
    expect(r.status).toBe(0);
    id = r.stdout.trim();
    c = await waitFor('the create binding', () => byRuntimeId(id), 30_000);
    expect(c).toMatchObject({ orchestrator: 'podman', name, state: 'running', runtimeId: id, image: expect.stringContaining(IMAGE) });
    expect(c.labels).toMatchObject({ app: 'shop' });
    const init = Number(inspect(name, '{{.State.Pid}}'));
    expect(c.initPid).toBe(init);
    expect(c.session).toBe(sessionOf(init));
    expect(c.session).not.toBe(sessionOf('self'));
    const created = await waitForAudit(['-m', 'VIRT_CONTROL', '--uuid', id, '-ts', 'recent'], (l) => l.some((x) => x.includes('op=create')));
    const rec = created.find((x) => x.includes('op=create'))!;
    expect(field(rec, 'vm-ses')).toBe(String(c.session));
    expect(field(rec, 'contid')).toBe(formatContainerId(c.contid));
  });

  test('exec: a fresh session bound to the same contid; contid search --container equals ausearch --session', async () => {
    // An execve rule of this test's own makes the kernel log execs (another test's rule listed
    // first may be the one that matches: the kernel keeps the first key, so the oracle goes by session).
    const key = uniqueName('pm-exec').slice(0, 30);
    addExecveRule(key);
    const startedAt = Math.floor(Date.now() / 1000) - 1;
    try {
      const r = podman(['exec', name, 'sh', '-c', `cat /proc/self/sessionid; /bin/busybox true marker-${name}`]);
      expect(r.status).toBe(0);
      const session = Number(r.stdout.trim());
      expect(session).not.toBe(c.session);
      const b = await waitFor('the setns binding', () => registry((reg) => reg.bindings(c.contid).find((x) => x.op === 'setns')), 30_000);
      expect(b.session).toBe(session);
      expect(b.detail.command).toEqual(['sh', '-c', `cat /proc/self/sessionid; /bin/busybox true marker-${name}`]);
      const marker = Buffer.from(`marker-${name}`).toString('hex').toUpperCase();
      const oracle = await waitForAudit(['--session', String(session), '-ts', 'recent'], (l) => l.some((x) => x.startsWith('type=PROCTITLE') && x.includes(marker)), 30_000);
      // execve events since the window opened (contid search --start), by serial.
      const execs = (lines: string[]) =>
        new Set(lines.filter((l) => l.startsWith('type=SYSCALL') && l.includes(' syscall=59 ') && Number(/audit\(([0-9]+)/.exec(l)?.[1]) >= startedAt).map(serial));
      // The oracle covers every session of the container: the init's and the exec's.
      const ofInit = await waitForAudit(['--session', String(c.session), '-ts', 'recent'], () => true);
      const oracleExecs = new Set([...execs(oracle), ...execs(ofInit)]);
      expect(oracleExecs.size).toBeGreaterThanOrEqual(2); // sh, cat, busybox true
      // contid search over the exec's time: the container's execs are exactly the exec session's.
      const search = contid(['search', '--container', name, '--start', `@${startedAt}`], { env });
      expect(search.status).toBe(0);
      expect(search.stdout).toContain(marker);
      expect(execs(search.stdout.split('\n'))).toEqual(oracleExecs);
    } finally {
      deleteExecveRule(key);
    }
  });

  test('rm: the shim’s own delete ends the contid (no Podman event stream)', async () => {
    expect(podman(['rm', '-f', '-t', '0', name]).status).toBe(0);
    await waitFor('the end', () => byRuntimeId(id)?.state === 'ended', 30_000);
    const ends = await waitForAudit(['-m', 'VIRT_CONTROL', '--uuid', id, '-ts', 'recent'], (l) => l.some((x) => x.includes('op=end')));
    expect(ends.filter((x) => x.includes('op=end'))).toHaveLength(1);
  });

  test('a pod: each member is labelled with its pod', async () => {
    const pod = uniqueName('pm-pod');
    expect(podman(['pod', 'create', '--infra=false', '--name', pod]).status).toBe(0);
    const member = uniqueName('pm-member');
    const r = podman(['run', '-d', ...LIMITS, '--pod', pod, '--name', member, IMAGE, 'sleep', '600']);
    expect(r.status).toBe(0);
    const m = await waitFor('the member', () => byRuntimeId(r.stdout.trim()), 30_000);
    expect(m).toMatchObject({ orchestrator: 'podman', name: member });
    expect(m.labels['io.podman.pod.name']).toBe(pod);
    podman(['pod', 'rm', '-f', pod]);
  });

  // Outside attack 14, F1: Podman copies an image's manifest annotations into config.json, over
  // its own (even io.container.manager). The image's author is not root and chose these at build
  // time; root runs the image with a plain `podman run`.
  test.each([
    ['containerd', (victim: string) => ({
      'io.kubernetes.cri.container-type': 'container',
      'io.kubernetes.cri.sandbox-id': victim,
      'io.kubernetes.cri.sandbox-name': 'payments-db',
      'io.kubernetes.cri.sandbox-namespace': 'prod',
      'io.kubernetes.cri.container-name': 'postgres',
      'io.kubernetes.cri.image-name': 'postgres:16',
    })],
    ['CRI-O', (victim: string) => ({
      'io.container.manager': 'cri-o',
      'io.kubernetes.cri-o.ContainerType': 'container',
      'io.kubernetes.cri-o.SandboxID': victim,
      'io.kubernetes.cri-o.ContainerID': victim,
      'io.kubernetes.pod.name': 'payments-db',
      'io.kubernetes.pod.namespace': 'prod',
      'io.kubernetes.container.name': 'postgres',
      'io.kubernetes.cri-o.ImageName': 'postgres:16',
    })],
  ])('an image carrying %s CRI annotations is still Podman’s container, named by Podman, and no other container’s child', async (flavour, annotate) => {
    const victimName = uniqueName('pm-victim');
    const victim = podman(['run', '-d', ...LIMITS, '--name', victimName, IMAGE, 'sleep', '600']);
    expect(victim.status).toBe(0);
    const v = await waitFor('the victim', () => byRuntimeId(victim.stdout.trim()), 30_000);
    const ctx = join(state.dir, `evil-ctx-${flavour}`);
    mkdirSync(ctx, { recursive: true });
    // Its own layer cache would hand back the other flavour's image: build each afresh.
    writeFileSync(join(ctx, 'Containerfile'), `FROM ${IMAGE}\nCMD ["sleep", "600"]\n`);
    const evilImage = `localhost/${uniqueName('pm-evil')}:1`;
    const annotations = Object.entries(annotate(victim.stdout.trim())).flatMap(([k, val]) => ['--annotation', `${k}=${val}`]);
    expect(podman(['build', '-q', '--no-cache', ...annotations, '-t', evilImage, ctx]).status).toBe(0);
    const evilName = uniqueName('pm-evilrun');
    const evil = podman(['run', '-d', ...LIMITS, '--name', evilName, evilImage]);
    expect(evil.status).toBe(0);
    const id = evil.stdout.trim();
    // The attack is real: the image's annotations did reach the config.json the runtime was given.
    const config = JSON.parse(readFileSync(join(ROOT, 'overlay-containers', id, 'userdata', 'config.json'), 'utf8')) as { annotations: Record<string, string> };
    expect(config.annotations).toMatchObject(annotate(victim.stdout.trim()));
    const e = await waitFor('the image’s container', () => byRuntimeId(id), 30_000);
    expect(e).toMatchObject({ orchestrator: 'podman', name: evilName, parent: null, image: expect.stringContaining(evilImage) });
    expect(Object.keys(e.labels).filter((k) => k.startsWith('io.kubernetes.') || k.startsWith('contid.io/'))).toEqual([]);
    expect(registry((r) => r.children(v.contid))).toEqual([]);
    const nested = contid(['ps'], { env });
    expect(nested.stdout).not.toContain('prod/payments-db');
    podman(['rm', '-f', '-t', '0', evilName, victimName]);
    podman(['rmi', evilImage]);
  });

  // Every call Podman makes (create, start, delete --force) through each shim: bound and ended.
  test.each([
    ['the compiled shim with no sh beside it (it hands Podman none of its calls)', alone],
    ['the sh', shRuntime],
  ])('run --rm through %s: bound, then ended by its delete', async (_kind, through) => {
    const runName = uniqueName('pm-rm');
    const cidfile = join(state.dir, `${runName}.cid`);
    // The name is in conmon's command line only. serve is down while the container runs, exits
    // and is removed, so its init and conmon are gone when the entries are drained: the name
    // must come from the create entry (before, it was read through the init's parent then, and
    // such a container was recorded under its short id).
    await serve.stop();
    const r = podman(['run', '--rm', '--cidfile', cidfile, ...LIMITS, '--name', runName, IMAGE, 'true'], through);
    serve = startServe(env, state.dir);
    await serve.ready();
    expect([r.status, r.stderr]).toEqual([0, '']);
    const runId = readFileSync(cidfile, 'utf8').trim();
    const bound = await waitFor('the create binding', () => byRuntimeId(runId), 30_000);
    expect(bound).toMatchObject({ orchestrator: 'podman', name: runName });
    await waitFor('the end', () => byRuntimeId(runId)?.state === 'ended', 30_000);
  });

  test('nothing was quarantined', () => {
    expect(serve.log()).not.toMatch(/quarantined/);
  });
});
