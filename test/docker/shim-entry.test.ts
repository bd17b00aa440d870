import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT, tempStateDir } from '../helpers/cli';
import { FAST_SHIM, buildFastShim } from '../helpers/fast-shim';
import { SHIM } from './engine';

// The shim writes its own entries on its success path (dash then parses no contid-tag.sh per
// call); contid-tag.sh's contid_spool_write is the grammar's writer (packages/oci/SPOOL.md, its
// fixtures). Each entry the shim writes must be, byte for byte, the one contid_spool_write
// writes for the same fields and copied file; a value it would refuse must be refused alike.
const state = tempStateDir('shim-entry');
const spool = join(state.dir, 'spool');
const again = join(state.dir, 'again');
const requesters = join(state.dir, 'requesters');
const B = join(state.dir, 'bundle');
const LIBRARY = join(REPO_ROOT, 'integrations/bin/contid-tag.sh');
const fake = join(state.dir, 'fake-runtime');
const ID = 'ab'.repeat(32);
const EXEC = 'cd'.repeat(32);
const UNNOTED = 'ef'.repeat(32);
// The compiled shim alone with contid-tag.sh, no sh beside it: a case it handed to the sh fails.
const ALONE = join(state.dir, 'alone');

beforeAll(() => {
  mkdirSync(B, { recursive: true });
  mkdirSync(ALONE);
  copyFileSync(buildFastShim(), join(ALONE, 'contid-runc-fast'));
  copyFileSync(LIBRARY, join(ALONE, 'contid-tag.sh'));
  writeFileSync(join(B, 'no-newline.json'), '{"args":["true"]}');
  writeFileSync(join(B, 'empty.json'), '');
  writeFileSync(join(B, 'lines.json'), '{\n  "args": ["sh", "-c", "echo \\\\ \\"x\\""],\n\t"cwd": "/"  \n\n');
  mkdirSync(requesters, { recursive: true, mode: 0o700 });
  // A config.json without its last newline and a process.json with one: both ends of a copied section.
  writeFileSync(join(B, 'config.json'), '{"ociVersion":"1.0.2","process":{"args":["true"]}}');
  writeFileSync(join(B, 'process.json'), '{"args":["true"],"cwd":"/"}\n');
  writeFileSync(fake, '#!/bin/sh\nexit 0\n', { mode: 0o755 });
});
afterAll(() => state.cleanup());

function viaShim(argv: string[], shim = SHIM): { stderr: string; name: string | null; bytes: string | null } {
  rmSync(spool, { recursive: true, force: true });
  mkdirSync(spool, { mode: 0o700 });
  writeFileSync(join(requesters, `c-${ID}`), 'uid=1001\nauid=1001\nsession=7\npid=99\nexe=/usr/bin/docker\n');
  writeFileSync(join(requesters, `e-${EXEC}`), 'uid=1002\nauid=4294967295\nsession=8\npid=98\nexe=/usr/bin/docker\n');
  const r = spawnSync(shim, argv, {
    env: { PATH: process.env.PATH, CONTID_SPOOL_DIR: spool, CONTID_RUNC_CONF: '/nonexistent', CONTID_RUNTIME: fake, CONTID_REQUESTERS_DIR: requesters },
    encoding: 'utf8',
    cwd: B,
  });
  expect(r.status).toBe(0);
  const names = readdirSync(spool);
  expect(names.length).toBeLessThanOrEqual(1);
  return { stderr: r.stderr, name: names[0] ?? null, bytes: names[0] ? readFileSync(join(spool, names[0]), 'utf8') : null };
}

/**
 * What contid_spool_write writes for `fields` (the sessions and the writer's pid as the shim's
 * entry has them: numbers, checked) and a section copied from `file` by `copy`.
 */
function byLibrary(name: string, bytes: string, fields: readonly string[], copy: '--' | '--cat', file: string | null): string {
  const [key, op] = name.split('-');
  const actual = new Map(bytes.split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)] as const));
  for (const k of ['session', 'old-session', 'wrapper-pid']) expect(actual.get(k)).toMatch(/^\d+$/);
  const want = fields.map((f) => (/^(session|old-session|wrapper-pid)=$/.test(f) ? `${f}${actual.get(f.slice(0, -1))}` : f));
  const section = bytes.split('\n').find((l) => l.startsWith('--- ') && l !== '--- end');
  const sections = section && file ? [copy, `${section.slice(4)}=${file}`] : [];
  rmSync(again, { recursive: true, force: true });
  const script = '. "$0"; contid_settings; contid_spool=$SPOOL; contid_spool_write "$@"';
  const r = spawnSync('sh', ['-c', script, LIBRARY, key!, op!, ...want, ...sections], { env: { PATH: process.env.PATH, SPOOL: again }, encoding: 'utf8' });
  expect(r.status).toBe(0);
  const written = readdirSync(again);
  expect(written).toHaveLength(1);
  return readFileSync(join(again, written[0]!), 'utf8');
}

// A create's entry carries its caller's command line (Podman's conmon names the container only
// there), hex as audit's proctitle: here the caller is this test's process.
const CALLER = `caller-cmdline=${readFileSync('/proc/self/cmdline').subarray(0, 4096).toString('hex')}`;
const NO_CALLER = 'caller-cmdline=';
const nobody = ['requester-uid=', 'requester-auid=', 'requester-session=', 'requester-pid=', 'requester-exe=', 'requester-by=', 'requester-changes='];
const ordinary = [
  [
    'create, no note (config.json by cat)',
    ['--root', '/r', '--log', '/l', '--log-format', 'json', 'create', '--bundle', B, '--pid-file', join(B, 'pid'), UNNOTED],
    ['subcommand=create', `id=${UNNOTED}`, `bundle=${B}`, `pidfile=${join(B, 'pid')}`, 'process=', 'wrapper-pid=', 'session=', 'old-session=', 'auid=0', 'reason=', ...nobody, CALLER],
    '--cat',
    join(B, 'config.json'),
  ],
  [
    'run, no --bundle (the working directory), a short id',
    ['run', '-d', 'c1'],
    ['subcommand=run', 'id=c1', `bundle=${B}`, 'pidfile=', 'process=', 'wrapper-pid=', 'session=', 'old-session=', 'auid=0', 'reason=', ...nobody, CALLER],
    '--cat',
    join(B, 'config.json'),
  ],
  ...(['process.json', 'no-newline.json', 'empty.json', 'lines.json'] as const).map((f) => [
    `exec, no note (${f} by read)`,
    ['--root', '/r', 'exec', '--process', join(B, f), '--detach', '--pid-file', join(B, `${UNNOTED}.pid`), UNNOTED],
    ['subcommand=exec', `id=${UNNOTED}`, `bundle=${B}`, `pidfile=${join(B, `${UNNOTED}.pid`)}`, `process=${join(B, f)}`, 'wrapper-pid=', 'session=', 'old-session=', 'auid=0', 'reason=', ...nobody, NO_CALLER],
    '--',
    join(B, f),
  ] as const),
  [
    'exec, no process.json (nothing copied)',
    ['exec', '-p', join(B, 'absent.json'), 'c1'],
    ['subcommand=exec', 'id=c1', `bundle=${B}`, 'pidfile=', `process=${join(B, 'absent.json')}`, 'wrapper-pid=', 'session=', 'old-session=', 'auid=0', 'reason=', ...nobody, NO_CALLER],
    '--',
    null,
  ],
] as const;

const requester = (uid: string, session: string, pid: string, by: string) => [`requester-uid=${uid}`, `requester-auid=${uid}`, `requester-session=${session}`, `requester-pid=${pid}`, 'requester-exe=/usr/bin/docker', `requester-by=${by}`, 'requester-changes='];
const head = (sub: string, id: string, bundle: string, pidfile: string, processFile: string) => [`subcommand=${sub}`, `id=${id}`, `bundle=${bundle}`, `pidfile=${pidfile}`, `process=${processFile}`, 'wrapper-pid=', 'session=', 'old-session='];

// What the compiled shim writes itself too: the requester notes of `contid docker front` and the ends.
const noted = [
  [
    'create with a requester note (config.json by cat)',
    ['--root', '/r', '--log', '/l', '--log-format', 'json', 'create', '--bundle', B, '--pid-file', join(B, 'pid'), ID],
    [...head('create', ID, B, join(B, 'pid'), ''), 'auid=1001', 'reason=', ...requester('1001', '7', '99', ''), CALLER],
    '--cat',
    join(B, 'config.json'),
  ],
  [
    'exec of a noted exec (process.json by read)',
    ['--root', '/r', 'exec', '--process', join(B, 'process.json'), '--detach', '--pid-file', join(B, `${EXEC}.pid`), ID],
    [...head('exec', ID, B, join(B, `${EXEC}.pid`), join(B, 'process.json')), 'auid=1002', 'reason=', ...requester('1002', '8', '98', ''), NO_CALLER],
    '--',
    join(B, 'process.json'),
  ],
  [
    'exec run by dockerd (no exec note)',
    ['exec', '--process', join(B, 'process.json'), '--pid-file', join(B, 'x.pid'), ID],
    [...head('exec', ID, B, join(B, 'x.pid'), join(B, 'process.json')), 'auid=1001', 'reason=', ...requester('1001', '7', '99', 'dockerd'), NO_CALLER],
    '--',
    join(B, 'process.json'),
  ],
  ['delete', ['--root', '/r', 'delete', '--force', ID], ['subcommand=delete', `id=${ID}`, 'wrapper-pid=', 'session=', 'old-session=', 'init-pid='], '--', null],
] as const;

test.each([
  ...noted,
  [
    'create without a config.json (fail-open: op=fail with the reason, nothing copied)',
    ['create', '--bundle', join(B, 'none'), 'c1'],
    [...head('create', 'c1', join(B, 'none'), '', ''), 'auid=0', `reason=cannot read ${join(B, 'none')}/config.json`, ...requester('', '', '', '').map((f) => f.replace('/usr/bin/docker', '')), NO_CALLER],
    '--cat',
    null,
  ],
  ...ordinary,
] as const)('%s: the bytes contid_spool_write writes', (_n, argv, fields, copy, file) => {
  for (const shim of [SHIM, FAST_SHIM]) {
    const w = viaShim([...argv], shim);
    expect(w.stderr).toBe('');
    expect(w.name).not.toBeNull();
    expect(w.bytes).toBe(byLibrary(w.name!, w.bytes!, fields, copy, file));
  }
});

// The cases the compiled shim writes itself (nothing refused, notes read, ends): it needs no sh for them.
test.each([...noted, ...ordinary])('%s: the compiled shim alone writes what contid_spool_write writes', (_n, argv, fields, copy, file) => {
  const w = viaShim([...argv], join(ALONE, 'contid-runc-fast'));
  expect(w.stderr).toBe('');
  expect(w.name).not.toBeNull();
  expect(w.bytes).toBe(byLibrary(w.name!, w.bytes!, fields, copy, file));
});

test('a bundle path spanning lines is refused as contid_spool_write refuses it: no entry, one line', () => {
  const odd = join(state.dir, 'two\nlines');
  mkdirSync(odd, { recursive: true });
  writeFileSync(join(odd, 'config.json'), '{}');
  for (const shim of [SHIM, FAST_SHIM]) {
    const w = viaShim(['create', '--bundle', odd, 'c1'], shim);
    expect(w.name).toBeNull();
    expect(w.stderr).toBe('contid-runc: the value of bundle spans lines; c1 runs untagged\n');
  }
});

// The compiled shim creates its entry for root alone and under a new name only (O_EXCL,
// O_NOFOLLOW: its name holds a session number never used before), whatever umask runc's caller has.
test('the compiled shim creates its entry 0600 under umask 0', () => {
  rmSync(spool, { recursive: true, force: true });
  mkdirSync(spool, { mode: 0o700 });
  const env = { PATH: process.env.PATH, CONTID_SPOOL_DIR: spool, CONTID_RUNC_CONF: '/nonexistent', CONTID_RUNTIME: fake, CONTID_REQUESTERS_DIR: requesters };
  const r = spawnSync('sh', ['-c', 'umask 0; exec "$0" "$@"', FAST_SHIM, 'create', '--bundle', B, 'c1'], { env, encoding: 'utf8', cwd: B });
  expect(r.status).toBe(0);
  const names = readdirSync(spool);
  expect(names).toHaveLength(1);
  expect(statSync(join(spool, names[0]!)).mode & 0o777).toBe(0o600);
});
