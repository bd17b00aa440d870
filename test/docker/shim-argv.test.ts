import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Spool, SpoolEntry } from '@contid/oci';
import { REPO_ROOT, tempStateDir } from '../helpers/cli';
import { FAST_SHIM, buildFastShim } from '../helpers/fast-shim';
import { SHIM } from './engine';

// The shim's argv grammar as a table: the real sh script, a fake runtime that records the argv
// it was exec'd with, and the spool entry (if any) the shim wrote. Every runc and crun global
// option in its one- and two-dash and `=value` forms; B is a bundle with a config.json.
const state = tempStateDir('shim-argv');
const spoolDir = join(state.dir, 'spool');
const B = join(state.dir, 'bundle');
const recorded = join(state.dir, 'argv');
const fake = join(state.dir, 'fake-runtime');

beforeAll(() => {
  buildFastShim();
  mkdirSync(B, { recursive: true });
  writeFileSync(join(B, 'config.json'), '{"ociVersion":"1.0.2"}');
  writeFileSync(fake, '#!/bin/sh\nprintf "%s\\0" "$@" >"$FAKE_ARGV"\n', { mode: 0o755 });
});
afterAll(() => state.cleanup());

interface Ran {
  status: number | null;
  stderr: string;
  /** What the runtime was exec'd with, or null when the shim refused before exec. */
  runtimeArgv: string[] | null;
  entry: SpoolEntry | null;
}

function viaShim(argv: string[], env: NodeJS.ProcessEnv = {}, shim = SHIM, pending: string[] = []): Ran {
  rmSync(spoolDir, { recursive: true, force: true });
  rmSync(recorded, { force: true });
  if (pending.length) mkdirSync(spoolDir, { recursive: true, mode: 0o700 });
  for (const name of pending) writeFileSync(join(spoolDir, name), 'contid-spool 1\nop=create\n--- end\n');
  const r = spawnSync(shim, argv, {
    env: { PATH: process.env.PATH, CONTID_SPOOL_DIR: spoolDir, CONTID_RUNC_CONF: '/nonexistent', CONTID_RUNTIME: fake, FAKE_ARGV: recorded, ...env },
    encoding: 'utf8',
    cwd: B,
  });
  let runtimeArgv: string[] | null = null;
  try {
    runtimeArgv = readFileSync(recorded, 'utf8').split('\0').slice(0, -1);
  } catch {
    runtimeArgv = null;
  }
  let names: string[] = [];
  try {
    names = new Spool(spoolDir).names().filter((n) => !pending.includes(n));
  } catch {
    names = [];
  }
  expect(names.length).toBeLessThanOrEqual(1);
  return { status: r.status, stderr: r.stderr, runtimeArgv, entry: names[0] ? new Spool(spoolDir).read(names[0]) : null };
}

type Want = { op: 'create' | 'setns' | 'end'; id: string; bundle?: string; pidFile?: string | null; processFile?: string | null; subcommand?: string };
const P = '/run/x/init.pid';
const J = '/run/x/process.json';

const tagged: [string, string[], Want][] = [
  ['runc two-dash --root', ['--root', '/r', 'create', '--bundle', B, 'c1'], { op: 'create', id: 'c1', bundle: B }],
  ['runc one-dash -root (Go style)', ['-root', '/r', 'create', '-bundle', B, 'c1'], { op: 'create', id: 'c1', bundle: B }],
  ['--root=value', ['--root=/r', 'create', `--bundle=${B}`, 'c1'], { op: 'create', id: 'c1', bundle: B }],
  ['-root=value, -b', ['-root=/r', 'create', '-b', B, 'c1'], { op: 'create', id: 'c1', bundle: B }],
  ['--log, --log-format json, -b=value', ['--log', '/l.json', '--log-format', 'json', 'create', `-b=${B}`, 'c1'], { op: 'create', id: 'c1', bundle: B }],
  ['-log=, -log-format=', ['-log=/l', '-log-format=text', 'create', '-bundle=' + B, 'c1'], { op: 'create', id: 'c1', bundle: B }],
  ['booleans --debug --systemd-cgroup', ['--debug', '--systemd-cgroup', 'create', '-b', B, 'c1'], { op: 'create', id: 'c1', bundle: B }],
  ['one-dash booleans', ['-debug', '-systemd-cgroup', 'create', '-b', B, 'c1'], { op: 'create', id: 'c1', bundle: B }],
  ['--criu, --rootless', ['--criu', '/c', '--rootless', 'false', 'create', '-b', B, 'c1'], { op: 'create', id: 'c1', bundle: B }],
  ['-criu=, -rootless=', ['-criu=/c', '-rootless=auto', 'create', '-b', B, 'c1'], { op: 'create', id: 'c1', bundle: B }],
  ['crun --log-level, --cgroup-manager', ['--log-level', 'debug', '--cgroup-manager', 'systemd', 'create', '-b', B, 'c1'], { op: 'create', id: 'c1', bundle: B }],
  ['crun --log-level=, --cgroup-manager=', ['--log-level=debug', '--cgroup-manager=cgroupfs', 'create', '-b', B, 'c1'], { op: 'create', id: 'c1', bundle: B }],
  ['crun create --config FILE and attached -bDIR', ['create', '--config', '/cfg.json', `-b${B}`, 'c1'], { op: 'create', id: 'c1', bundle: B }],
  ['crun create -f FILE', ['create', '-f', '/cfg.json', '-b', B, 'c1'], { op: 'create', id: 'c1', bundle: B }],
  ['a global value equal to a subcommand', ['--root', 'exec', 'create', '-b', B, 'c1'], { op: 'create', id: 'c1', bundle: B }],
  ['a --root value named create', ['--root', 'create', 'create', '--bundle', B, 'c1'], { op: 'create', id: 'c1', bundle: B }],
  ['--pid-file and every create option', ['create', '--console-socket', '/s', '--pid-file', P, '--no-pivot', '--no-new-keyring', '--preserve-fds', '2', '-b', B, 'c1'], { op: 'create', id: 'c1', bundle: B, pidFile: P }],
  ['-pid-file=', ['create', `-pid-file=${P}`, '-bundle', B, 'c1'], { op: 'create', id: 'c1', bundle: B, pidFile: P }],
  ['no --bundle: the working directory', ['create', 'c1'], { op: 'create', id: 'c1', bundle: B }],
  ['run -d', ['run', '-d', '--pid-file', P, '--bundle', B, 'c1'], { op: 'create', subcommand: 'run', id: 'c1', bundle: B, pidFile: P }],
  ['run --keep --no-subreaper --detach', ['run', '--keep', '--no-subreaper', '--detach', '-b', B, 'c1'], { op: 'create', subcommand: 'run', id: 'c1' }],
  ['id with every allowed byte', ['create', '-b', B, 'Ab9_+.-z'], { op: 'create', id: 'Ab9_+.-z' }],
  ['exec --process --pid-file -d', ['exec', '--pid-file', P, '--process', J, '-d', '--console-socket', '/s', 'c1'], { op: 'setns', id: 'c1', processFile: J, pidFile: P }],
  ['exec -p=, -pid-file', ['exec', `-p=${J}`, '-pid-file', P, 'c1'], { op: 'setns', id: 'c1', processFile: J }],
  ['exec -p FILE', ['exec', '-p', J, 'c1'], { op: 'setns', id: 'c1', processFile: J }],
  ['exec crun attached -pFILE', ['exec', `-p${J}`, 'c1'], { op: 'setns', id: 'c1', processFile: J }],
  ['exec --process=', ['exec', `--process=${J}`, 'c1'], { op: 'setns', id: 'c1', processFile: J }],
  ['exec -process-label= (not -p + rocess-label)', ['exec', '-process-label=x', '-t', 'c1', 'sh'], { op: 'setns', id: 'c1', processFile: null }],
  [
    'exec with every value option, then the command (which says create)',
    ['exec', '-e', 'A=1', '--env=B=2', '-u', '0:0', '--user', '0', '--cwd', '/', '-g', '10', '--additional-gids', '11', '--process-label', 'l', '--apparmor', 'a', '--cap', 'CAP_KILL', '-c', 'CAP_CHOWN', '--cgroup', 'sub', '--pidfd-socket', '/s', '--no-new-privs', '--ignore-paused', '-t', 'c1', 'create', '-b', '/x'],
    { op: 'setns', id: 'c1' },
  ],
  ['one-dash exec options', ['exec', '-cwd', '/', '-env', 'A=1', '-user', '0', '-cap', 'CAP_KILL', 'c1', 'true'], { op: 'setns', id: 'c1' }],
  ['delete', ['delete', 'c1'], { op: 'end', id: 'c1' }],
  ['delete --force', ['--root', '/r', 'delete', '--force', 'c1'], { op: 'end', id: 'c1' }],
  ['delete -f (crun, runc)', ['-root=/r', 'delete', '-f', 'c1'], { op: 'end', id: 'c1' }],
];

// The compiled shim (contid-runc.c) must do exactly what the sh does: every case runs through both.
describe.each([
  ['the sh script', SHIM],
  ['the compiled shim', FAST_SHIM],
])('contid-runc argv grammar (%s, fake runtime)', (_kind, shim) => {
  test.each(tagged)('%s: spooled as the table says, runtime gets the argv untouched', (_n, argv, want) => {
    const r = viaShim(argv, {}, shim);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.runtimeArgv).toEqual(argv);
    const e = r.entry!;
    expect(e).not.toBeNull();
    // Root renews the session; elsewhere the renewal is refused and the entry says op=fail why.
    if (e.op === 'fail') expect(e.reason).toMatch(/cannot renew the audit session/);
    else expect(e.op).toBe(want.op);
    expect(e).toMatchObject({ id: want.id, subcommand: want.subcommand ?? { create: 'create', setns: 'exec', end: 'delete' }[want.op] });
    if (want.bundle !== undefined) expect(e.bundle).toBe(want.bundle);
    if (want.pidFile !== undefined) expect(e.pidFile).toBe(want.pidFile);
    if (want.processFile !== undefined) expect(e.processFile).toBe(want.processFile);
    if (want.op === 'create') expect(e.configText).toBe('{"ociVersion":"1.0.2"}');
  });

  test.each([
    [['start', 'c1']],
    [['state', 'c1']],
    [['kill', 'c1', 'KILL']],
    [['--root', '/r', 'list']],
    [['-root', '/r', 'ps', 'c1']],
    [['--version']],
    [['-v']],
    [['--help']],
    [['features']],
    [['start', 'create']],
    [['--log', 'exec', 'state', 'c1']],
    [['pause', 'delete']],
  ])('%j: passed through untouched, nothing spooled', (argv) => {
    const r = viaShim(argv, {}, shim);
    expect(r).toEqual({ status: 0, stderr: '', runtimeArgv: argv, entry: null });
  });

  test.each([
    ['a space', 'a b'],
    ['a newline (would forge spool fields)', 'a\nsession=1'],
    ['a slash', '../x'],
    ['a dot', '.'],
    ['two dots', '..'],
    ['a byte above 0x7e', 'caf\u00e9'],
  ])('an id with %s: fail-closed refuses before the runtime runs; fail-open spools op=fail without the id', (_n, id) => {
    const closed = viaShim(['create', '-b', B, id], { CONTID_FAIL_POLICY: 'closed' }, shim);
    expect(closed.status).toBe(1);
    expect(closed.stderr).toBe('contid-runc: the container id has bytes outside [A-Za-z0-9_+.-] (CONTID_FAIL_POLICY=closed: not starting create)\n');
    expect(closed.runtimeArgv).toBeNull();
    expect(closed.entry).toBeNull();
    const open = viaShim(['create', '-b', B, id], {}, shim);
    expect(open.runtimeArgv).toEqual(['create', '-b', B, id]);
    expect(open.entry).toMatchObject({ op: 'fail', id: '', reason: 'the container id has bytes outside [A-Za-z0-9_+.-]' });
  });

  test('fail-closed with runc --log-format json: the refusal is also in the log file containerd shows', () => {
    const log = join(state.dir, 'runc-log.json');
    rmSync(log, { force: true });
    const r = viaShim(['--log', log, '--log-format', 'json', 'create', '-b', B, 'bad id'], { CONTID_FAIL_POLICY: 'closed' }, shim);
    expect(r.status).toBe(1);
    expect(JSON.parse(readFileSync(log, 'utf8'))).toMatchObject({ level: 'error', msg: expect.stringContaining('outside [A-Za-z0-9_+.-]') });
  });
});

describe.each([
  ['the sh script', SHIM],
  ['the compiled shim', FAST_SHIM],
])('contid-runc delete (%s): the init pid from the runtime’s state while a create waits in the spool', (_kind, shim) => {
  const root = join(state.dir, 'runtime-root');
  // runc: one long line; crun: pretty-printed. Only the init's own pid counts.
  const runcState = `{"id":"c1","init_process_pid":4242,"init_process_start":1,"config":{"x":"${'y'.repeat(4000)}"},"pid":7}`;
  const crunStatus = '{\n    "pid": 5151,\n    "process-start-time": 9,\n    "bundle": "/b"\n}\n';
  const withState = (file: string | null, text = ''): void => {
    rmSync(root, { recursive: true, force: true });
    mkdirSync(join(root, 'c1'), { recursive: true });
    if (file) writeFileSync(join(root, 'c1', file), text);
  };

  test.each([
    ['runc state.json, a create waiting', 'state.json', runcState, ['5-create-1.entry'], 4242],
    ['crun status, a create being processed (claimed)', 'status', crunStatus, ['.claimed-1-5-create-1.entry'], 5151],
    ['no state (runc create failed and cleaned up), a create waiting', null, '', ['5-create-1.entry'], null],
    ['runc state.json, no create waiting (not read)', 'state.json', runcState, [], null],
    // Past the head the shim reads first (a long id): the whole file is read, never a later "pid".
    ['runc state.json, the init pid past its head', 'state.json', `{"id":"${'c'.repeat(5000)}","init_process_pid":4343,"pid":8}`, ['5-create-1.entry'], 4343],
  ])('%s: init-pid %s', (_n, file, text, pending, want) => {
    withState(file, text);
    for (const argv of [['--root', root, 'delete', 'c1'], [`--root=${root}`, 'delete', '--force', 'c1']]) {
      const r = viaShim(argv, {}, shim, pending);
      expect(r.status).toBe(0);
      expect(r.runtimeArgv).toEqual(argv);
      expect(r.entry).toMatchObject({ op: 'end', id: 'c1', initPid: want });
    }
  });
});

describe('contid-runc chooses the real runtime', () => {
  const dir = join(state.dir, 'libexec');
  beforeAll(() => {
    mkdirSync(dir, { recursive: true });
    copyFileSync(join(REPO_ROOT, 'integrations/bin/contid-tag.sh'), join(dir, 'contid-tag.sh'));
    copyFileSync(SHIM, join(dir, 'contid-runc'));
    symlinkSync('contid-runc', join(dir, 'contid-crun'));
  });

  test.each([
    ['contid-runc', 'runc'],
    ['contid-crun', 'crun'],
  ])('installed as %s it becomes %s (same --version output)', (name, runtime) => {
    const env = { PATH: process.env.PATH };
    const shim = spawnSync(join(dir, name), ['--version'], { env, encoding: 'utf8' });
    const real = spawnSync(runtime, ['--version'], { encoding: 'utf8' });
    expect(shim.status).toBe(0);
    expect(shim.stdout).toBe(real.stdout);
  });

  test('CONTID_RUNTIME wins; a missing runtime is one line and 127', () => {
    expect(viaShim(['state', 'x'], { CONTID_RUNTIME: fake }).runtimeArgv).toEqual(['state', 'x']);
    const r = spawnSync(join(dir, 'contid-runc'), ['state', 'x'], { env: { PATH: '/nonexistent', CONTID_RUNTIME: '/nonexistent/runc' }, encoding: 'utf8' });
    expect(r.status).toBe(127);
    expect(r.stderr).toBe('contid-runc: no OCI runtime found (runc, crun; set CONTID_RUNTIME)\n');
    expect(readdirSync(dir).sort()).toEqual(['contid-crun', 'contid-runc', 'contid-tag.sh']);
  });

  test.each([
    ['contid-runc-fast', 'runc'],
    ['contid-crun-fast', 'crun'],
  ])('the compiled shim installed as %s becomes %s, and so does the sh it hands a case to', (name, runtime) => {
    const fast = join(state.dir, 'libexec-fast');
    mkdirSync(fast, { recursive: true });
    for (const [from, to] of [[join(REPO_ROOT, 'integrations/bin/contid-tag.sh'), 'contid-tag.sh'], [SHIM, 'contid-runc'], [FAST_SHIM, name]] as const) {
      rmSync(join(fast, to), { force: true });
      copyFileSync(from, join(fast, to));
    }
    const env = { PATH: process.env.PATH };
    const version = spawnSync(join(fast, name), ['--version'], { env, encoding: 'utf8' });
    expect(version.status).toBe(0);
    expect(version.stdout).toBe(spawnSync(runtime, ['--version'], { encoding: 'utf8' }).stdout);
    // A settings file goes to the sh: the runtime it reaches answers for a container that does not exist.
    const conf = join(fast, 'contid-runc.conf');
    writeFileSync(conf, '');
    const gone = spawnSync(join(fast, name), ['--root', join(state.dir, 'no-root'), 'delete', 'no-such'], { env: { ...env, CONTID_SPOOL_DIR: spoolDir, CONTID_RUNC_CONF: conf }, encoding: 'utf8' });
    expect(gone.stderr).toMatch(runtime === 'crun' ? /cannot open directory/ : /does not exist/);
  });

  test('the compiled shim installed under the sh’s name: one line and 127, never a loop', () => {
    const alone = join(state.dir, 'libexec-alone');
    mkdirSync(alone, { recursive: true });
    copyFileSync(join(REPO_ROOT, 'integrations/bin/contid-tag.sh'), join(alone, 'contid-tag.sh'));
    copyFileSync(FAST_SHIM, join(alone, 'contid-runc'));
    const r = spawnSync(join(alone, 'contid-runc'), ['delete', 'bad id'], { env: { PATH: process.env.PATH, CONTID_RUNTIME: fake, CONTID_SPOOL_DIR: spoolDir, CONTID_RUNC_CONF: '/nonexistent' }, encoding: 'utf8', timeout: 10_000 });
    expect(r.status).toBe(127);
    expect(r.stderr).toBe(`contid-runc: ${join(alone, 'contid-runc')} is the compiled shim, not the sh it needs beside it (reinstall contid)\n`);
  });
});
