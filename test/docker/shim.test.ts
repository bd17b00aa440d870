import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Tagger } from '@contid/core';
import { Spool, SpoolConsumer, addRuntime, isContidShim, removeRuntime } from '@contid/docker';
import { contid, tempStateDir, uniqueName } from '../helpers/cli';
import { DOCKER_SHIM, SHIM } from './engine';

// The shim on its own, in front of the real runc (no dockerd needed).
const state = tempStateDir('docker-shim');
const stateDir = join(state.dir, 'state');
const spoolDir = join(stateDir, 'spool');
const runcRoot = join(state.dir, 'runc-root');
const baseEnv = { ...process.env, CONTID_STATE_DIR: stateDir, CONTID_RUNC_CONF: '/nonexistent' };

interface Ran {
  status: number | null;
  stdout: string;
  stderr: string;
}

function shim(args: string[], env: NodeJS.ProcessEnv = {}, prefix: string[] = []): Ran {
  const argv = [...prefix, SHIM, ...args];
  const r = spawnSync(argv[0], argv.slice(1), { env: { ...baseEnv, ...env }, encoding: 'utf8', timeout: 30_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function runc(args: string[]): Ran {
  const r = spawnSync('runc', args, { encoding: 'utf8', timeout: 30_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const entries = () => (existsSync(spoolDir) ? readdirSync(spoolDir).filter((f) => f.endsWith('.entry')) : []);
const noTime = (s: string) => s.replace(/time="[^"]*"/g, '');

function bundle(config: string | null): string {
  const dir = join(state.dir, uniqueName('bundle'));
  mkdirSync(join(dir, 'rootfs'), { recursive: true });
  if (config !== null) writeFileSync(join(dir, 'config.json'), config);
  return dir;
}

/** A shell that renewed its session once, so a second renewal needs CAP_AUDIT_CONTROL, which setpriv then drops. */
const withoutAuditControl = ['sh', '-c', 'echo 0 > /proc/self/loginuid && exec setpriv --bounding-set -audit_control "$@"', 'sh'];

beforeAll(() => mkdirSync(runcRoot, { recursive: true }));
afterAll(() => state.cleanup());

describe('contid-runc passthrough', () => {
  test.each([[['--version']], [['--root', '/nonexistent-root', 'list']], [['state', 'contid-no-such']], [['kill', 'contid-no-such', 'KILL']], [['--help']]])(
    'runc %j: same stdout, stderr and exit status as runc, nothing spooled',
    (args) => {
      const viaShim = shim(args);
      const direct = runc(args);
      expect(viaShim.status).toBe(direct.status);
      expect(viaShim.stdout).toBe(direct.stdout);
      expect(noTime(viaShim.stderr)).toBe(noTime(direct.stderr));
      expect(entries()).toEqual([]);
    },
  );

  test('the shim becomes runc (same pid): signals reach it directly and its exit is the shim’s', async () => {
    const child = spawn(SHIM, ['state', 'x'], { env: { ...baseEnv, CONTID_RUNC: '/bin/sleep' } });
    // sleep rejects "state": use a real long-running command through the same exec path.
    const exit = await new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    expect(exit).toBe(1); // sleep's own usage error, passed through
    const long = spawn(SHIM, ['30'], { env: { ...baseEnv, CONTID_RUNC: '/bin/sleep' } });
    await new Promise((r) => setTimeout(r, 300));
    expect(readFileSync(`/proc/${long.pid}/comm`, 'utf8').trim()).toBe('sleep');
    const signal = new Promise<NodeJS.Signals | null>((r) => long.on('exit', (_c, s) => r(s)));
    long.kill('SIGTERM');
    expect(await signal).toBe('SIGTERM');
  });
});

describe('contid-runc create / exec hand-off', () => {
  test('create: renews the session and spools op, ids, paths, both sessions and a copy of config.json, root-only', () => {
    const b = bundle('{"ociVersion":"1.0.2","annotations":{"io.kubernetes.cri.sandbox-id":"abc"}}');
    const id = uniqueName('shim-create');
    // runc itself then refuses this bundle (no process): the hand-off happened before.
    const r = shim(['--root', runcRoot, '--log', join(state.dir, 'log.json'), '--log-format', 'json', 'create', '--bundle', b, '--pid-file', join(b, 'pid'), id]);
    expect(r.status).not.toBe(0);
    const [name] = entries();
    expect(name).toMatch(/^\d+-create-\d+\.entry$/);
    expect(statSync(spoolDir).mode & 0o777).toBe(0o700);
    const entry = new Spool(spoolDir).read(name)!;
    expect(entry).toMatchObject({ op: 'create', subcommand: 'create', id, bundle: b, pidFile: join(b, 'pid'), reason: null });
    expect(entry.session).not.toBe(entry.oldSession);
    expect(JSON.parse(entry.configText!).annotations['io.kubernetes.cri.sandbox-id']).toBe('abc');
    expect(Math.abs(entry.time - Date.now())).toBeLessThan(30_000);
  });

  test('the caller’s login uid is kept and the session it came from is recorded (the /proc files end without a newline)', () => {
    const b = bundle('{}');
    const out = join(state.dir, uniqueName('caller'));
    const fake = join(state.dir, uniqueName('fake-runc'));
    writeFileSync(fake, '#!/bin/sh\ncat /proc/self/loginuid >"$OUT.auid"\n', { mode: 0o755 });
    // A host shell of uid 1000's login (its own session), asking for a container.
    const r = spawnSync('sh', ['-c', 'echo 1000 >/proc/self/loginuid && cat /proc/self/sessionid >"$OUT.session" && exec "$@"', 'sh', SHIM, 'create', '--bundle', b, uniqueName('caller')], {
      env: { ...baseEnv, CONTID_RUNTIME: fake, OUT: out },
      encoding: 'utf8',
    });
    expect(r.stderr).toBe('');
    expect(readFileSync(`${out}.auid`, 'utf8')).toBe('1000');
    const callerSession = Number(readFileSync(`${out}.session`, 'utf8'));
    const name = entries().find((n) => new Spool(spoolDir).read(n)?.bundle === b)!;
    const e = new Spool(spoolDir).read(name)!;
    expect(e).toMatchObject({ op: 'create', auid: 1000, oldSession: callerSession });
    expect(e.session).toBeGreaterThan(callerSession);
    new Spool(spoolDir).remove(name);
  });

  test('malformed config.json: spooled as is; runc refuses it; the consumer keeps the entry with the reason (never dropped)', async () => {
    for (const f of entries()) new Spool(spoolDir).remove(f);
    const b = bundle('{ this is not json');
    const id = uniqueName('shim-bad');
    const viaShim = shim(['--root', runcRoot, 'create', '--bundle', b, '--pid-file', join(b, 'pid'), id]);
    const direct = runc(['--root', runcRoot, 'create', '--bundle', b, '--pid-file', join(b, 'pid'), id]);
    expect(viaShim.status).toBe(direct.status);
    expect(viaShim.status).not.toBe(0);
    const [name] = entries();
    const tagger = Tagger.open({ stateDir, failPolicy: 'open' });
    try {
      const consumer = new SpoolConsumer({ tagger, spool: new Spool(spoolDir), pidFileWaitMs: 0 });
      const [outcome] = await consumer.drain();
      expect(outcome).toMatchObject({ kind: 'quarantined' });
      expect(entries()).toEqual([]);
      expect(readFileSync(join(spoolDir, 'failed', `${name}.reason`), 'utf8')).toMatch(/nothing was started/);
      expect(tagger.containers.findByRuntimeId(id)).toBeUndefined();
    } finally {
      tagger.close();
    }
  });

  test('missing config.json: closed refuses with one line before runc runs; open spools op=fail and runs runc', () => {
    const b = bundle(null);
    const id = uniqueName('shim-missing');
    const closed = shim(['create', '--bundle', b, id], { CONTID_FAIL_POLICY: 'closed', CONTID_RUNC: '/bin/false' });
    expect(closed.status).toBe(1);
    expect(closed.stderr).toBe(`contid-runc: cannot read ${b}/config.json (CONTID_FAIL_POLICY=closed: not starting create)\n`);
    const before = entries().length;
    const open = shim(['--root', runcRoot, 'create', '--bundle', b, id], { CONTID_FAIL_POLICY: 'open' });
    expect(open.status).toBe(runc(['--root', runcRoot, 'create', '--bundle', b, id]).status);
    const added = entries().slice(before);
    expect(added).toHaveLength(1);
    expect(new Spool(spoolDir).read(added[0])).toMatchObject({ op: 'fail', id, reason: `cannot read ${b}/config.json` });
  });

  test('malformed argv (no container id): closed refuses; open spools op=fail and lets runc answer', () => {
    const closed = shim(['exec', '--pid-file', '/tmp/x'], { CONTID_FAIL_POLICY: 'closed' });
    expect(closed.status).toBe(1);
    expect(closed.stderr).toBe('contid-runc: no container id in the exec arguments (CONTID_FAIL_POLICY=closed: not starting exec)\n');
    const before = entries().length;
    const open = shim(['exec', '--pid-file', '/tmp/x'], { CONTID_FAIL_POLICY: 'open' });
    expect(open.status).toBe(runc(['exec', '--pid-file', '/tmp/x']).status);
    const added = entries().slice(before);
    expect(new Spool(spoolDir).read(added[0]!)).toMatchObject({ op: 'fail', reason: 'no container id in the exec arguments' });
  });

  test('session renewal refused (no CAP_AUDIT_CONTROL): closed refuses; open spools op=fail with the old session', () => {
    const b = bundle('{}');
    const closed = shim(['create', '--bundle', b, 'x1'], { CONTID_FAIL_POLICY: 'closed', CONTID_RUNC: '/bin/true' }, withoutAuditControl);
    expect(closed.status).toBe(1);
    expect(closed.stderr).toMatch(/^contid-runc: cannot renew the audit session \(needs CAP_AUDIT_CONTROL.*not starting create\)\n$/);
    const before = entries().length;
    const open = shim(['create', '--bundle', b, 'x1'], { CONTID_FAIL_POLICY: 'open', CONTID_RUNC: '/bin/true' }, withoutAuditControl);
    expect(open.status).toBe(0);
    expect(entries()).toHaveLength(before + 1);
    const e = entries()
      .map((n) => new Spool(spoolDir).read(n)!)
      .find((x) => x.id === 'x1')!;
    expect(e).toMatchObject({ op: 'fail', id: 'x1' });
    expect(e.session).toBe(e.oldSession);
  });
});

// The front knows which of dockerd's runtimes are contid's by reading each runtime's file
// (mandatory tagging refuses the others): the compiled shim dockerd runs must count.
test('the sh and the compiled shim are contid\'s runtime; runc, another static program and a copy of the sh\'s first line with other bytes are not', () => {
  expect(isContidShim(SHIM)).toBe(true);
  expect(isContidShim(DOCKER_SHIM)).toBe(true);
  expect(isContidShim(spawnSync('sh', ['-c', 'command -v runc'], { encoding: 'utf8' }).stdout.trim())).toBe(false);
  const other = join(state.dir, 'other-static');
  writeFileSync(join(state.dir, 'other.c'), 'int main(void) { return 0; }\n');
  expect(spawnSync('cc', ['-static', '-o', other, join(state.dir, 'other.c')]).status).toBe(0);
  expect(isContidShim(other)).toBe(false);
  const text = join(state.dir, 'marker-in-text');
  writeFileSync(text, "#!/bin/sh\n\n# contid-runc-fast: contid's compiled runtime shim\nexec runc \"$@\"\n");
  expect(isContidShim(text)).toBe(false);
});

describe('contid install docker', () => {
  test('edits daemon.json safely: keeps other keys, one backup, idempotent, optional default runtime; uninstall --force restores it', () => {
    const dir = join(state.dir, 'etc-docker');
    mkdirSync(dir, { recursive: true });
    const file = join(dir, 'daemon.json');
    const shimPath = join(state.dir, 'libexec', 'contid-runc');
    writeFileSync(file, JSON.stringify({ 'log-driver': 'journald', runtimes: { nvidia: { path: '/usr/bin/nvidia-container-runtime' } } }));
    const args = ['--daemon-json', file, '--shim-path', shimPath];
    const first = contid(['install', 'docker', ...args, '--default-runtime']);
    expect(first.stderr).toBe('');
    expect(first.stdout).toMatch(/restart dockerd/);
    const cfg = JSON.parse(readFileSync(file, 'utf8'));
    expect(cfg).toEqual({
      'log-driver': 'journald',
      runtimes: { nvidia: { path: '/usr/bin/nvidia-container-runtime' }, contid: { path: `${shimPath}-fast` } },
      'default-runtime': 'contid',
    });
    // dockerd runs the compiled shim; the sh it hands its other cases to and contid-tag.sh sit beside it.
    expect(first.stdout).toContain(`installed ${shimPath} and the compiled ${shimPath}-fast, which dockerd runs`);
    expect(readFileSync(shimPath, 'utf8')).toBe(readFileSync(SHIM, 'utf8'));
    expect(readFileSync(`${shimPath}-fast`)).toEqual(readFileSync(DOCKER_SHIM));
    expect(existsSync(join(state.dir, 'libexec', 'contid-tag.sh'))).toBe(true);
    for (const f of [shimPath, `${shimPath}-fast`]) expect(statSync(f).mode & 0o777).toBe(0o755);
    expect(readdirSync(dir).filter((f) => f.includes('contid-backup'))).toHaveLength(1);
    const again = contid(['install', 'docker', ...args, '--default-runtime']);
    expect(again.stdout).toMatch(/already up to date/);
    expect(readdirSync(dir).filter((f) => f.includes('contid-backup'))).toHaveLength(1);
    // No dockerd here to say which containers use the runtime: --force, and the shim stays.
    const un = contid(['uninstall', 'docker', ...args, '--host', `unix://${join(dir, 'no.sock')}`, '--force']);
    expect(un.status).toBe(0);
    expect(readFileSync(file, 'utf8')).toBe(JSON.stringify({ 'log-driver': 'journald', runtimes: { nvidia: { path: '/usr/bin/nvidia-container-runtime' } } }));
    expect(existsSync(shimPath)).toBe(true);
    expect(existsSync(`${shimPath}-fast`)).toBe(true);
  });

  test('invalid daemon.json or a foreign default runtime: one line, non-zero, file untouched', () => {
    const file = join(state.dir, 'broken.json');
    writeFileSync(file, '{ "a": 1, ');
    const r = contid(['install', 'docker', '--daemon-json', file, '--shim-path', join(state.dir, 'x', 'contid-runc')]);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/^contid: .*broken\.json is not valid JSON .*untouched\n$/);
    expect(readFileSync(file, 'utf8')).toBe('{ "a": 1, ');
    expect(() => addRuntime('{"default-runtime":"nvidia"}', '/x', { makeDefault: true })).toThrow(/will not replace/);
    expect(removeRuntime('{"runtimes":{"contid":{"path":"/x"}},"default-runtime":"contid"}').text).toBe('{}\n');
    const bad = contid(['install', 'docker', '--bogus']);
    expect(bad.status).toBe(2);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
  });
});

describe('contid doctor', () => {
  test('warns about hand-offs nobody drains and about entries that could not be processed', () => {
    const dir = join(state.dir, uniqueName('doctor'));
    mkdirSync(join(dir, 'spool', 'failed'), { recursive: true });
    const old = join(dir, 'spool', '12-create-34.entry');
    writeFileSync(old, 'op=create\n');
    spawnSync('touch', ['-d', '-5 min', old]);
    writeFileSync(join(dir, 'spool', 'failed', '13-create-35.entry'), 'op=create\n');
    const r = contid(['doctor'], { env: { ...process.env, CONTID_STATE_DIR: dir } });
    expect(r.stdout).toMatch(/WARN +spool: 1 hand-off\(s\) waiting in .*, 1 of them for over 60 s .*fix: run contid serve/);
    expect(r.stdout).toMatch(/WARN +spool failures: 1 hand-off\(s\) could not be processed .*failed\/\*\.reason/);
    writeFileSync(old, 'op=create\n'); // fresh again: being drained, not stale
    rmSync(join(dir, 'spool', 'failed'), { recursive: true });
    expect(contid(['doctor'], { env: { ...process.env, CONTID_STATE_DIR: dir } }).stdout).toMatch(/ok +spool: 1 hand-off\(s\) being drained in /);
  });
});
