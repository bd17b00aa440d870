import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT, tempStateDir } from '../helpers/cli';
import { buildFastShim } from '../helpers/fast-shim';

// contid-runc.conf, the settings beside the installed shim that Podman's conmon (which gives the
// runtime an environment of its own) needs: the sh sources it, the compiled shim reads the plain
// assignments of the keys it knows itself and hands every other file to the sh. Each conf shape
// runs through the sh, through the compiled shim with the sh beside it, and (where the compiled
// shim reads it) through the compiled shim with no sh beside it: the same exit, stderr, spool
// entries (sessions and pids aside), runtime argv and environment, and side effects.
const state = tempStateDir('shim-conf');
const S = join(state.dir, 's'); // every spool and note directory a conf names lives under here
const WITH_SH = join(state.dir, 'with-sh');
const ALONE = join(state.dir, 'alone');
const B = join(state.dir, 'bundle');
const OUT = join(state.dir, 'runtime-saw');
const MARK = join(state.dir, 'sourced-mark');
const fake = join(state.dir, 'fake-runtime');
const ID = 'ab'.repeat(32);

beforeAll(() => {
  mkdirSync(B, { recursive: true });
  writeFileSync(join(B, 'config.json'), '{"ociVersion":"1.0.2","process":{"args":["true"]}}');
  writeFileSync(join(B, 'process.json'), '{"args":["true"]}\n');
  // The runtime records its argv, its environment and its login uid (the renewal's auid).
  writeFileSync(fake, '#!/bin/sh\n{ printf "%s\\n" "$@"; echo ---; /usr/bin/env | LC_ALL=C /usr/bin/sort; echo ---; /bin/cat /proc/self/loginuid; } >"$OUT"\n', { mode: 0o755 });
  const fast = buildFastShim();
  for (const dir of [WITH_SH, ALONE]) {
    mkdirSync(dir);
    copyFileSync(fast, join(dir, 'contid-runc-fast'));
    copyFileSync(join(REPO_ROOT, 'integrations/bin/contid-tag.sh'), join(dir, 'contid-tag.sh'));
  }
  copyFileSync(join(REPO_ROOT, 'integrations/docker/contid-runc'), join(WITH_SH, 'contid-runc'));
});
afterAll(() => state.cleanup());

const spoolA = join(S, 'a');
const spoolB = join(S, 'b');
const stateC = join(S, 'c');
const notes = join(S, 'notes');

interface Seen {
  status: number | null;
  stderr: string;
  entries: string[];
  runtime: string | null;
  marked: boolean;
  notes: string[];
}

/** The entries under S, their names' op and their bytes with the run's own numbers taken out. */
function entries(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir, { recursive: true }) as string[]) {
    if (!name.endsWith('.entry')) continue;
    const bytes = readFileSync(join(dir, name), 'utf8').replace(/^(session|old-session|wrapper-pid)=\d+$/gm, '$1=N');
    out.push(`${name.replace(/\d+-(\w+)-\d+\.entry$/, '$1')}\n${bytes}`);
  }
  return out.sort();
}

/** ARRANGE: what is done to the conf file (its path) after it is written, before the shim runs. */
function run(shim: string, conf: string | Buffer | null, argv: string[], extraEnv: Record<string, string> = {}, arrange?: (confPath: string) => void): Seen {
  rmSync(S, { recursive: true, force: true });
  for (const d of [spoolA, spoolB, join(stateC, 'spool'), notes]) mkdirSync(d, { recursive: true, mode: 0o700 });
  writeFileSync(join(notes, `c-${ID}`), 'uid=1001\nauid=1001\nsession=7\npid=99\nexe=/usr/bin/podman\n');
  rmSync(OUT, { force: true });
  rmSync(MARK, { force: true });
  const confPath = join(shim, '..', 'contid-runc.conf');
  rmSync(confPath, { recursive: true, force: true });
  if (conf !== null) writeFileSync(confPath, conf);
  arrange?.(confPath);
  // As conmon runs it: no CONTID_* settings in the environment, only the runtime to run; but the
  // default state directory is this test's (where no conf is read, or dash reads one that names
  // no spool, the entries went into the host's /var/lib/contid/spool, at every run).
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', CONTID_RUNTIME: fake, OUT, CONTID_STATE_DIR: join(S, 'default-state'), ...extraEnv };
  const r = spawnSync(shim, argv, { env, encoding: 'utf8', cwd: B });
  return {
    status: r.status,
    stderr: r.stderr,
    entries: entries(S),
    runtime: existsSync(OUT) ? readFileSync(OUT, 'utf8') : null,
    marked: existsSync(MARK),
    notes: readdirSync(notes).map((n) => `${n}\n${readFileSync(join(notes, n), 'utf8').replace(/^used=\d+$/gm, 'used=N')}`),
  };
}

// Podman's calls of the runtime as conmon and podman make them (Podman 4.3, logged by a runtime
// in front of runc: docs/podman.md); `--systemd-cgroup` with its systemd cgroup manager.
const calls: [string, string[]][] = [
  ['create', ['create', '--bundle', B, '--pid-file', join(B, 'pidfile'), ID]],
  ['create, systemd cgroups', ['--systemd-cgroup', 'create', '--bundle', B, '--pid-file', join(B, 'pidfile'), ID]],
  ['exec', ['exec', '--pid-file', join(B, 'exec_pid'), '--process', join(B, 'process.json'), '--detach', ID]],
  ['delete', ['delete', '--force', ID]],
];

// The calls with nothing to tag go to the runtime without the conf being read (by either).
test.each([[['start', ID]], [['kill', ID, '9']], [['state', ID]], [['--systemd-cgroup', 'start', ID]]])('%j: the runtime, nothing spooled', (argv) => {
  const conf = `touch ${MARK}\n`;
  const sh = run(join(WITH_SH, 'contid-runc'), conf, argv);
  expect(sh).toMatchObject({ status: 0, stderr: '', entries: [], marked: false });
  expect(sh.runtime).toMatch(new RegExp(`^${argv.join('\n')}\n---\n`));
  expect(run(join(ALONE, 'contid-runc-fast'), conf, argv)).toEqual(sh);
});

// Files the compiled shim reads itself: comments, blank lines, plain assignments of its keys.
// (The last: a spool to make is the sh's, as with no conf; the compiled shim alone cannot.)
const plain: [string, string, boolean][] = [
  ['the spool', `CONTID_SPOOL_DIR=${spoolA}\n`, true],
  ['the state directory (its spool/)', `CONTID_STATE_DIR=${stateC}\n`, true],
  ['as docs/podman.md installs it, with a comment and blank lines, no last newline', `# contid\n\nCONTID_FAIL_POLICY=open\n#x=$(touch ${MARK})\nCONTID_STATE_DIR=${stateC}`, true],
  ['the last of two assignments wins; an empty value is unset', `CONTID_SPOOL_DIR=${spoolA}\nCONTID_SPOOL_DIR=\nCONTID_STATE_DIR=/nonexistent\nCONTID_STATE_DIR=${stateC}\n`, true],
  ['fail-closed, a login uid and the notes directory', `CONTID_FAIL_POLICY=closed\nCONTID_LOGIN_UID=4242\nCONTID_REQUESTERS_DIR=${notes}\nCONTID_SPOOL_DIR=${spoolB}\n`, true],
  ['blanks before and after, comments after the value (integrations/docker/contid-runc.conf.example uncommented)', ` \tCONTID_SPOOL_DIR=${spoolA} \nCONTID_FAIL_POLICY=open      # or closed: $(touch ${MARK})\n\t# $HOME\n \nCONTID_LOGIN_UID=0\t#\n`, true],
  ['a spool that is not there yet', `CONTID_FAIL_POLICY=closed\nCONTID_SPOOL_DIR=${join(S, 'new')}\n`, false],
];

// Files only the sh reads (the compiled shim hands them on untouched): what dash does with them
// is not a plain assignment, or not one of the keys, or not a file to read as one.
const hostile: [string, string | Buffer][] = [
  ['double quotes', `CONTID_SPOOL_DIR="${spoolA}"\n`],
  ['single quotes', `CONTID_SPOOL_DIR='${spoolA}'\n`],
  ['a parameter expansion', `X=${spoolA}\nCONTID_SPOOL_DIR=$X\n`],
  ['a command substitution', `CONTID_SPOOL_DIR=$(touch ${MARK}; echo ${spoolA})\n`],
  ['a backquote', `CONTID_SPOOL_DIR=\`touch ${MARK}\`${spoolA}\n`],
  ['a second command', `CONTID_SPOOL_DIR=${spoolA};touch ${MARK}\n`],
  ['a command', `touch ${MARK}\nCONTID_SPOOL_DIR=${spoolA}\n`],
  ['a backslash', `CONTID_SPOOL_DIR=${spoolA}\\\nX=1\n`],
  ['a carriage return', `CONTID_SPOOL_DIR=${spoolA}\r\n`],
  ['a tilde', 'CONTID_SPOOL_DIR=~/spool\n'],
  ['a `#` in the value', `CONTID_SPOOL_DIR=${spoolA}#x\n`],
  ['a second word', `CONTID_SPOOL_DIR=${spoolA} touch ${MARK}\n`],
  ['a second word after a tab', `CONTID_SPOOL_DIR=${spoolA}\ttouch\n`],
  ['an assignment with a blank', `CONTID_SPOOL_DIR =${spoolA}\n`],
  ['a blank other than space or tab', `CONTID_SPOOL_DIR=${spoolA}\v# x\n`],
  ['export', `export CONTID_SPOOL_DIR=${spoolA}\n`],
  ['an unknown key', `CONTID_SPOOL_DIR=${spoolA}\nCONTID_RUNTIME=/bin/false\n`],
  ['the sh’s own variable', `contid_spool=${spoolB}\nCONTID_SPOOL_DIR=${spoolA}\n`],
  ['PATH', `PATH=/nonexistent\nCONTID_SPOOL_DIR=${spoolA}\n`],
  ['a NUL byte', Buffer.from(`CONTID_SPOOL_DIR=${spoolA}\n\0\n`)],
  ['16 KiB of comments', `${'#'.repeat(16384)}\nCONTID_SPOOL_DIR=${spoolA}\n`],
];

describe.each(calls)('%s', (_call, argv) => {
  test.each(plain)('%s: the sh and the compiled shim, with or without the sh, alike', (_n, conf, alone) => {
    const sh = run(join(WITH_SH, 'contid-runc'), conf, argv);
    expect([sh.status, sh.stderr, sh.entries.length]).toEqual([0, '', 1]);
    for (const shim of [join(WITH_SH, 'contid-runc-fast'), ...(alone ? [join(ALONE, 'contid-runc-fast')] : [])]) {
      expect(run(shim, conf, argv)).toEqual(sh);
    }
  });

  test.each(hostile)('%s: sourced by the sh, handed to it by the compiled shim', (_n, conf) => {
    const sh = run(join(WITH_SH, 'contid-runc'), conf, argv);
    expect(run(join(WITH_SH, 'contid-runc-fast'), conf, argv)).toEqual(sh);
    const alone = run(join(ALONE, 'contid-runc-fast'), conf, argv);
    expect(alone).toMatchObject({ status: 127, entries: [], runtime: null, marked: false });
    expect(alone.stderr).toMatch(/cannot run .*contid-runc/);
  });

  // A setting the environment already has is exported: the sh's assignment changes what the
  // runtime inherits, and so does the compiled shim's.
  test('an assignment to an exported setting reaches the runtime', () => {
    const conf = `CONTID_SPOOL_DIR=${spoolA}\nCONTID_LOGIN_UID=\n`;
    const extra = { CONTID_SPOOL_DIR: spoolB, CONTID_LOGIN_UID: '77', CONTID_STATE_DIR: stateC };
    const sh = run(join(WITH_SH, 'contid-runc'), conf, argv, extra);
    expect(sh.runtime).toContain(`CONTID_SPOOL_DIR=${spoolA}\n`);
    expect(sh.runtime).toContain('CONTID_LOGIN_UID=\n');
    expect(run(join(ALONE, 'contid-runc-fast'), conf, argv, extra)).toEqual(sh);
  });

  test('CONTID_RUNC_CONF names the file instead', () => {
    const named = join(state.dir, 'named.conf');
    writeFileSync(named, `CONTID_SPOOL_DIR=${spoolB}\n`);
    const sh = run(join(WITH_SH, 'contid-runc'), `CONTID_SPOOL_DIR=${spoolA}\n`, argv, { CONTID_RUNC_CONF: named });
    expect(sh.entries.join('')).toContain(`${spoolB.slice(S.length + 1)}/`);
    expect(run(join(ALONE, 'contid-runc-fast'), `CONTID_SPOOL_DIR=${spoolA}\n`, argv, { CONTID_RUNC_CONF: named })).toEqual(sh);
  });
});

// CONTID_RUNC_CONF naming a file without a slash: dash's `.` looks such a name up on PATH,
// never in the working directory (the runtime's, Podman's and containerd's bundle), though
// `[ -r NAME ]` looked there; the compiled shim hands it to the sh instead of reading ./NAME.
describe('CONTID_RUNC_CONF without a slash (outside attack 31)', () => {
  const pathDir = join(state.dir, 'path-dir');
  beforeAll(() => {
    mkdirSync(pathDir, { recursive: true });
    writeFileSync(join(B, 'rel.conf'), `CONTID_SPOOL_DIR=${spoolB}\nCONTID_LOGIN_UID=4242\n`);
    writeFileSync(join(pathDir, 'rel.conf'), `CONTID_SPOOL_DIR=${spoolA}\n`);
  });
  afterAll(() => rmSync(join(B, 'rel.conf'), { force: true }));

  test.each(calls)('%s: the file dash finds on PATH, or none, as the sh', (_call, argv) => {
    for (const PATH of [`${pathDir}:/usr/bin:/bin`, '/usr/bin:/bin']) {
      const extra = { CONTID_RUNC_CONF: 'rel.conf', PATH };
      const sh = run(join(WITH_SH, 'contid-runc'), null, argv, extra);
      expect(run(join(WITH_SH, 'contid-runc-fast'), null, argv, extra)).toEqual(sh);
      const alone = run(join(ALONE, 'contid-runc-fast'), null, argv, extra);
      expect(alone).toMatchObject({ status: 127, entries: [], runtime: null });
    }
  });
});

test('a conf that is a directory: the compiled shim hands it to the sh, whatever dash’s `.` makes of it', () => {
  const argv = calls[0]![1];
  for (const dir of [WITH_SH, ALONE]) rmSync(join(dir, 'contid-runc.conf'), { force: true });
  mkdirSync(join(WITH_SH, 'contid-runc.conf'));
  mkdirSync(join(ALONE, 'contid-runc.conf'));
  try {
    const dirSh = spawnSync(join(WITH_SH, 'contid-runc'), argv, { env: { PATH: process.env.PATH, CONTID_RUNTIME: fake, OUT, CONTID_STATE_DIR: join(S, 'default-state') }, encoding: 'utf8', cwd: B });
    const dirFast = spawnSync(join(WITH_SH, 'contid-runc-fast'), argv, { env: { PATH: process.env.PATH, CONTID_RUNTIME: fake, OUT, CONTID_STATE_DIR: join(S, 'default-state') }, encoding: 'utf8', cwd: B });
    expect([dirFast.status, dirFast.stderr]).toEqual([dirSh.status, dirSh.stderr]);
    const alone = spawnSync(join(ALONE, 'contid-runc-fast'), argv, { env: { PATH: process.env.PATH, CONTID_RUNTIME: fake, OUT, CONTID_STATE_DIR: join(S, 'default-state') }, encoding: 'utf8', cwd: B });
    expect(alone.status).toBe(127);
  } finally {
    rmSync(join(WITH_SH, 'contid-runc.conf'), { recursive: true, force: true });
    rmSync(join(ALONE, 'contid-runc.conf'), { recursive: true, force: true });
  }
});

// A conf someone other than root could write (harden33). The sh sourced it as root whatever its
// owner or mode, so a login user's line in it ran as root on every create, exec and delete, and
// the compiled shim read its assignments (her spool, her notes, her login uid) or handed it to
// the sh. Like sudo with a sudoers file of bad owner or mode, both now refuse it in one line and
// exit 127 before anything is run or written, each alone too; the compiled shim never hands it on.
describe('a conf others could write or replace', () => {
  const NOBODY = 65534;
  const elsewhere = join(state.dir, 'elsewhere.conf');
  beforeAll(() => {
    chmodSync(state.dir, 0o711); // a login user reaches the files below, as she would under /usr/local
    writeFileSync(elsewhere, `CONTID_SPOOL_DIR=${spoolA}\n`);
  });
  afterEach(() => {
    for (const dir of [WITH_SH, ALONE]) {
      chownSync(dir, 0, 0);
      chmodSync(dir, 0o755);
    }
  });
  afterAll(() => chmodSync(state.dir, 0o700));

  /** As the login user: her line appended to the conf (it must work for the attack to be real). */
  const herLine = (confPath: string): void => {
    const r = spawnSync('/bin/sh', ['-c', 'echo "touch $0" >>"$1"', MARK, confPath], { uid: NOBODY, gid: NOBODY, encoding: 'utf8' });
    expect([r.status, r.stderr]).toEqual([0, '']);
  };
  const WHY = " (it runs as the shim's code: it and its directory must be root's, writable by no one else)";
  const plainConf = `CONTID_SPOOL_DIR=${spoolA}\n`;
  // [case, conf, what is done to it, the problem the line names (DIR: the shim's directory)]
  const cases: [string, string, (conf: string) => void, string][] = [
    ['world-writable, a login user’s line appended', plainConf, (c) => (chmodSync(c, 0o666), herLine(c)), 'writable by its group or others (mode 666)'],
    ['group-writable', plainConf, (c) => chmodSync(c, 0o664), 'writable by its group or others (mode 664)'],
    ['owned by a login user, plain assignments', plainConf, (c) => chownSync(c, NOBODY, NOBODY), `owned by uid ${NOBODY}`],
    ['owned by a login user, a command in it', `touch ${MARK}\n${plainConf}`, (c) => chownSync(c, NOBODY, NOBODY), `owned by uid ${NOBODY}`],
    ['its directory world-writable (a login user could put her own file in its place)', plainConf, (c) => chmodSync(join(c, '..'), 0o777), 'its directory DIR is writable by its group or others (mode 777)'],
    ['its directory sticky and world-writable', plainConf, (c) => chmodSync(join(c, '..'), 0o1777), 'its directory DIR is writable by its group or others (mode 1777)'],
    ['its directory owned by a login user', plainConf, (c) => chownSync(join(c, '..'), NOBODY, NOBODY), `its directory DIR is owned by uid ${NOBODY}`],
    ['a symbolic link (to a root-owned file elsewhere)', plainConf, (c) => (rmSync(c), symlinkSync(elsewhere, c)), 'a symbolic link'],
  ];

  describe.each(calls)('%s', (_call, argv) => {
    test.each(cases)('%s: refused by the sh and by the compiled shim, with or without the sh', (_n, conf, arrange, problem) => {
      for (const [dir, shims] of [[WITH_SH, ['contid-runc', 'contid-runc-fast']], [ALONE, ['contid-runc-fast']]] as const) {
        const confPath = join(dir, 'contid-runc.conf');
        for (const shim of shims) {
          // before: the sh ran her line as root and ran the runtime (status 0), the compiled shim alone used her spool
          expect(run(join(dir, shim), conf, argv, {}, arrange)).toEqual({
            status: 127,
            stderr: `contid-runc: refusing ${confPath}: ${problem.replace('DIR', dir)}${WHY}\n`,
            entries: [],
            runtime: null,
            marked: false,
            notes: [`c-${ID}\nuid=1001\nauid=1001\nsession=7\npid=99\nexe=/usr/bin/podman\n`],
          });
        }
      }
    });

    test('root’s own file, its directory root’s, neither writable by others: read as before', () => {
      const sh = run(join(WITH_SH, 'contid-runc'), plainConf, argv, {}, (c) => chmodSync(c, 0o600));
      expect([sh.status, sh.stderr, sh.entries.length]).toEqual([0, '', 1]);
      expect(run(join(ALONE, 'contid-runc-fast'), plainConf, argv, {}, (c) => chmodSync(c, 0o600))).toEqual(sh);
    });
  });

  // A directory above the conf's own that someone else can write: she could move the conf's
  // directory away between the check and the read and put her own in its place (review33; before,
  // only the conf and its own directory were looked at, and each of these was read as root's).
  describe('a directory above its directory', () => {
    const up = join(state.dir, 'up');
    const conf = join(up, 'etc', 'contid-runc.conf');
    const realDir = join(state.dir, 'real');
    beforeEach(() => {
      rmSync(up, { recursive: true, force: true });
      rmSync(realDir, { recursive: true, force: true });
      mkdirSync(join(up, 'etc'), { recursive: true, mode: 0o755 });
      chmodSync(up, 0o755);
      writeFileSync(conf, plainConf, { mode: 0o644 });
    });
    afterAll(() => {
      rmSync(up, { recursive: true, force: true });
      rmSync(realDir, { recursive: true, force: true });
    });
    const both = (extra: Record<string, string>): Seen[] => [run(join(WITH_SH, 'contid-runc'), null, calls[0]![1], extra), run(join(ALONE, 'contid-runc-fast'), null, calls[0]![1], extra)];
    const refused = (why: string) => ({ status: 127, stderr: `contid-runc: refusing ${conf}: ${why}${WHY}\n`, entries: [], runtime: null, marked: false });

    test.each([
      ['writable by others, not sticky', () => chmodSync(up, 0o777), `its directory's ancestor ${up} is writable by its group or others and not sticky (mode 777)`],
      ['writable by its group', () => chmodSync(up, 0o775), `its directory's ancestor ${up} is writable by its group or others and not sticky (mode 775)`],
      ['owned by a login user', () => chownSync(up, NOBODY, NOBODY), `its directory's ancestor ${up} is owned by uid ${NOBODY}`],
    ])('%s: refused by the sh and by the compiled shim', (_n, arrange, why) => {
      arrange();
      for (const seen of both({ CONTID_RUNC_CONF: conf })) expect(seen).toMatchObject(refused(why));
    });

    test('sticky and writable by others, as /tmp: read as before (no one else can move what is root’s)', () => {
      chmodSync(up, 0o1777);
      const [sh, fast] = both({ CONTID_RUNC_CONF: conf });
      expect([sh!.status, sh!.stderr, sh!.entries.length]).toEqual([0, '', 1]);
      expect(sh!.entries[0]).toContain('create');
      expect(fast).toEqual(sh);
    });

    test('its directory a link to one under a directory others can write: the real path is the one checked', () => {
      mkdirSync(join(realDir, 'etc'), { recursive: true, mode: 0o755 });
      chmodSync(realDir, 0o777);
      writeFileSync(join(realDir, 'etc', 'contid-runc.conf'), plainConf, { mode: 0o644 });
      rmSync(join(up, 'etc'), { recursive: true });
      symlinkSync(join(realDir, 'etc'), join(up, 'etc'));
      for (const seen of both({ CONTID_RUNC_CONF: conf })) expect(seen).toMatchObject(refused(`its directory's ancestor ${realDir} is writable by its group or others and not sticky (mode 777)`));
      chmodSync(realDir, 0o755);
      const [sh, fast] = both({ CONTID_RUNC_CONF: conf });
      expect([sh!.status, sh!.stderr, sh!.entries.length]).toEqual([0, '', 1]);
      expect(fast).toEqual(sh);
    });
  });

  // A name someone else gave a directory on the conf's path is hers, bytes and all: the
  // refusal printed it raw, so a newline forged a second line and escape bytes rewrote the
  // terminal (review34). Both shims print it escaped, alike: \n \r \t \\ and \xHH for every
  // other byte outside printable ASCII (a bidi override's UTF-8 too).
  const HER = 'her\n\x1b[2J\u202e\\dir';
  const HER_ESC = 'her\\n\\x1b[2J\\xe2\\x80\\xae\\\\dir';
  describe('paths with a newline or terminal escapes in the refusal', () => {
    const hers = join(state.dir, HER);
    const hersEsc = join(state.dir, HER_ESC);
    afterEach(() => rmSync(hers, { recursive: true, force: true }));
    /** Both shims, alone and (the fast one) with the sh beside it: the same one line, and nothing run. */
    const refusedAlike = (extra: Record<string, string>, stderr: string, argv = calls[0]![1]): void => {
      for (const shim of [join(WITH_SH, 'contid-runc'), join(WITH_SH, 'contid-runc-fast'), join(ALONE, 'contid-runc-fast')]) {
        expect([shim, run(shim, null, argv, extra)]).toEqual([shim, expect.objectContaining({ status: 127, stderr, entries: [], runtime: null, marked: false })]);
      }
    };

    test('its directory, hers', () => {
      mkdirSync(hers, { mode: 0o755 });
      writeFileSync(join(hers, 'contid-runc.conf'), plainConf, { mode: 0o644 });
      chownSync(hers, NOBODY, NOBODY);
      // before: `its directory ${hers} is …`, her bytes raw (a second line, the screen cleared)
      refusedAlike({ CONTID_RUNC_CONF: join(hers, 'contid-runc.conf') }, `contid-runc: refusing ${hersEsc}/contid-runc.conf: its directory ${hersEsc} is owned by uid ${NOBODY}${WHY}\n`);
    });

    test('a directory above it, hers', () => {
      mkdirSync(join(hers, 'etc'), { recursive: true, mode: 0o755 });
      writeFileSync(join(hers, 'etc', 'contid-runc.conf'), plainConf, { mode: 0o644 });
      chownSync(hers, NOBODY, NOBODY);
      refusedAlike({ CONTID_RUNC_CONF: join(hers, 'etc', 'contid-runc.conf') }, `contid-runc: refusing ${hersEsc}/etc/contid-runc.conf: its directory's ancestor ${hersEsc} is owned by uid ${NOBODY}${WHY}\n`);
      chownSync(hers, 0, 0);
      chmodSync(hers, 0o777);
      refusedAlike({ CONTID_RUNC_CONF: join(hers, 'etc', 'contid-runc.conf') }, `contid-runc: refusing ${hersEsc}/etc/contid-runc.conf: its directory's ancestor ${hersEsc} is writable by its group or others and not sticky (mode 777)${WHY}\n`);
    });
  });

  // The other lines that print a caller's path: the sh's fail-closed "cannot read BUNDLE/config.json"
  // (the compiled shim hands an unreadable bundle to it), and the compiled shim's "cannot run" of
  // the sh beside it (its own directory, as argv[0] names it).
  describe('other lines with a path', () => {
    const hers = join(state.dir, HER);
    const hersEsc = join(state.dir, HER_ESC);
    afterEach(() => rmSync(hers, { recursive: true, force: true }));

    test('a bundle that cannot be read, fail-closed: the sh, and the compiled shim through it', () => {
      const argv = ['create', '--bundle', hers, '--pid-file', join(B, 'pidfile'), ID];
      for (const shim of [join(WITH_SH, 'contid-runc'), join(WITH_SH, 'contid-runc-fast')]) {
        // before: her bundle's bytes raw
        expect([shim, run(shim, null, argv, { CONTID_FAIL_POLICY: 'closed' })]).toEqual([
          shim,
          expect.objectContaining({ status: 1, stderr: `contid-runc: cannot read ${hersEsc}/config.json (CONTID_FAIL_POLICY=closed: not starting create)\n`, entries: [], runtime: null }),
        ]);
      }
    });

    test('the compiled shim with no sh beside it', () => {
      mkdirSync(hers);
      copyFileSync(join(ALONE, 'contid-runc-fast'), join(hers, 'contid-runc-fast'));
      chmodSync(join(hers, 'contid-runc-fast'), 0o755);
      // A conf only the sh reads: the compiled shim hands it on.
      const conf = join(state.dir, 'sh-only.conf');
      writeFileSync(conf, `touch ${MARK}\n`, { mode: 0o644 });
      const env = { PATH: process.env.PATH, CONTID_RUNTIME: fake, OUT, CONTID_RUNC_CONF: conf, CONTID_SPOOL_DIR: spoolA };
      const r = spawnSync(join(hers, 'contid-runc-fast'), calls[0]![1], { env, encoding: 'utf8', cwd: B });
      expect([r.status, r.stderr]).toEqual([127, `contid-runc: cannot run ${hersEsc}/contid-runc: No such file or directory (reinstall contid)\n`]);
    });
  });

  // Links on the conf's path as named that someone else owns (review34): the real-path check
  // follows them and sees root's directories, but in a sticky directory (/tmp) the link's owner
  // may turn it elsewhere or at nothing, and with no file the defaults apply (fail-open where
  // the conf said closed). Both shims refuse a link on the path owned by anyone but root or the
  // user they run as, readable or not.
  describe('a link on the path as named', () => {
    const sticky = join(state.dir, 'tmp'); // as /tmp: root's, 1777
    const rootEtc = join(state.dir, 'etc-root');
    const closedConf = `CONTID_FAIL_POLICY=closed\nCONTID_SPOOL_DIR=${spoolA}\n`;
    beforeAll(() => {
      mkdirSync(rootEtc, { mode: 0o755 });
      writeFileSync(join(rootEtc, 'contid-runc.conf'), closedConf, { mode: 0o644 });
    });
    beforeEach(() => {
      rmSync(sticky, { recursive: true, force: true });
      mkdirSync(sticky);
      chmodSync(sticky, 0o1777);
    });
    afterAll(() => rmSync(sticky, { recursive: true, force: true }));
    /** As the login user: her link at LINK to TARGET. */
    const herLink = (target: string, link: string): void => {
      const r = spawnSync('/bin/ln', ['-s', target, link], { uid: NOBODY, gid: NOBODY, encoding: 'utf8' });
      expect([r.status, r.stderr]).toEqual([0, '']);
    };
    /** As the login user: her directory at DIR. */
    const herMkdir = (dir: string): void => {
      const r = spawnSync('/bin/mkdir', [dir], { uid: NOBODY, gid: NOBODY, encoding: 'utf8' });
      expect([r.status, r.stderr]).toEqual([0, '']);
    };
    // The environment's settings are what the defaults would be: her dangling link made them apply.
    const extraEnv = { CONTID_SPOOL_DIR: spoolB };

    test.each([
      ['her link to root’s directory', 'her-link', (l: string) => herLink(rootEtc, l), (l: string) => join(l, 'contid-runc.conf')],
      ['her link to nothing', 'her-link', (l: string) => herLink(join(state.dir, 'gone'), l), (l: string) => join(l, 'contid-runc.conf')],
      ['her link, its name hers too, to nothing', HER, (l: string) => herLink(join(state.dir, 'gone'), l), (l: string) => join(l, 'contid-runc.conf')],
      ['the file itself her link to nothing', 'contid-runc.conf', (l: string) => herLink(join(state.dir, 'gone'), l), (l: string) => l],
      ['the file itself her link to root’s', 'contid-runc.conf', (l: string) => herLink(join(rootEtc, 'contid-runc.conf'), l), (l: string) => l],
    ])('%s: refused by both, alone or not', (_n, name, arrange, confOf) => {
      const link = join(sticky, name);
      arrange(link);
      const conf = confOf(link);
      const esc = (p: string): string => p.replace(HER, HER_ESC);
      // before: read through her link as root's (spoolA, fail-closed), or her dangling link left the defaults (spoolB, fail-open), status 0
      for (const shim of [join(WITH_SH, 'contid-runc'), join(WITH_SH, 'contid-runc-fast'), join(ALONE, 'contid-runc-fast')]) {
        expect([shim, run(shim, null, calls[0]![1], { ...extraEnv, CONTID_RUNC_CONF: conf })]).toEqual([
          shim,
          expect.objectContaining({
            status: 127,
            stderr: `contid-runc: refusing ${esc(conf)}: the symbolic link ${esc(link)} on its path is owned by uid ${NOBODY}${WHY}\n`,
            entries: [],
            runtime: null,
          }),
        ]);
      }
    });

    // dash's `.` finds a name without a slash on PATH: a link on that path is checked too. The
    // compiled shim looked for such a name only in the working directory and, not finding it
    // there, read no conf (the defaults, where the sh read PATH's); it hands every one to the sh.
    test('CONTID_RUNC_CONF without a slash, found on PATH only: through her link refused, through root’s read, by the sh', () => {
      herLink(rootEtc, join(sticky, 'her-link'));
      symlinkSync(rootEtc, join(sticky, 'root-link'));
      for (const [dir, refused] of [['her-link', true], ['root-link', false]] as const) {
        const extra = { ...extraEnv, CONTID_RUNC_CONF: 'contid-runc.conf', PATH: `${join(sticky, dir)}:/usr/bin:/bin` };
        const sh = run(join(WITH_SH, 'contid-runc'), null, calls[0]![1], extra);
        if (refused) {
          expect(sh).toMatchObject({ status: 127, stderr: `contid-runc: refusing ${sticky}/her-link/contid-runc.conf: the symbolic link ${sticky}/her-link on its path is owned by uid ${NOBODY}${WHY}\n`, entries: [] });
        } else {
          expect([sh.status, sh.stderr, sh.entries.length]).toEqual([0, '', 1]);
          expect(sh.entries[0]).toContain(`${spoolA.slice(S.length + 1)}/`);
        }
        expect(run(join(WITH_SH, 'contid-runc-fast'), null, calls[0]![1], extra)).toEqual(sh);
        // before: alone, the defaults (spoolB, status 0)
        expect(run(join(ALONE, 'contid-runc-fast'), null, calls[0]![1], extra)).toMatchObject({ status: 127, entries: [], runtime: null });
      }
    });

    test('root’s link in the sticky directory: read as before, by both', () => {
      symlinkSync(rootEtc, join(sticky, 'root-link'));
      const extra = { ...extraEnv, CONTID_RUNC_CONF: join(sticky, 'root-link', 'contid-runc.conf') };
      const sh = run(join(WITH_SH, 'contid-runc'), null, calls[0]![1], extra);
      expect([sh.status, sh.stderr, sh.entries.length]).toEqual([0, '', 1]);
      expect(sh.entries[0]).toContain(`${spoolA.slice(S.length + 1)}/`);
      expect(run(join(ALONE, 'contid-runc-fast'), null, calls[0]![1], extra)).toEqual(sh);
    });

    // Refusing her link did not close the fail-open (attack35): she removes it, or makes a
    // directory of hers in its place, and the conf named is missing, so the defaults applied; and
    // a name on the path she owns that is not a link (her directory with a `..` after it) was not
    // looked at. A named conf that is missing now leaves the defaults only if no one else could
    // have made it so; the directories on the path as named are root's or the user's.
    test.each([
      ['she removed her link: missing from the sticky directory', (): string => join(sticky, 'her-link', 'contid-runc.conf'), `missing from the directory ${sticky} that is writable by its group or others (mode 1777)`],
      [
        'her directory in its place, empty',
        (): string => (herMkdir(join(sticky, 'her-dir')), join(sticky, 'her-dir', 'contid-runc.conf')),
        `missing from the directory ${join(sticky, 'her-dir')} that is owned by uid ${NOBODY}`,
      ],
      [
        'her directory, then `..` to root’s conf (she may turn it into a link to elsewhere)',
        // not join(), which takes the `..` out
        (): string => (herMkdir(join(sticky, 'her-dir')), `${sticky}/her-dir/../../etc-root/contid-runc.conf`),
        `the directory ${join(sticky, 'her-dir')} on its path is owned by uid ${NOBODY}`,
      ],
      [
        'root’s link as the conf, to a name in the sticky directory she removed',
        (): string => (symlinkSync(join(sticky, 'contid-runc.conf'), join(rootEtc, 'linked.conf')), join(rootEtc, 'linked.conf')),
        'a symbolic link',
      ],
    ])('%s: refused by both, alone or not', (_n, arrange, problem) => {
      const conf = arrange();
      try {
        // before: the conf missing, the defaults (spoolB, fail-open), status 0; the `..` one read root's conf through her directory
        for (const shim of [join(WITH_SH, 'contid-runc'), join(WITH_SH, 'contid-runc-fast'), join(ALONE, 'contid-runc-fast')]) {
          expect([shim, run(shim, null, calls[0]![1], { ...extraEnv, CONTID_RUNC_CONF: conf })]).toEqual([
            shim,
            expect.objectContaining({ status: 127, stderr: `contid-runc: refusing ${conf}: ${problem}${WHY}\n`, entries: [], runtime: null }),
          ]);
        }
      } finally {
        rmSync(join(rootEtc, 'linked.conf'), { force: true });
      }
    });

    test('root’s own directory, the conf missing from it: the defaults, as before, by both', () => {
      const extra = { ...extraEnv, CONTID_RUNC_CONF: join(rootEtc, 'missing.conf') };
      const sh = run(join(WITH_SH, 'contid-runc'), null, calls[0]![1], extra);
      expect([sh.status, sh.stderr, sh.entries.length]).toEqual([0, '', 1]);
      expect(sh.entries[0]).toContain(`${spoolB.slice(S.length + 1)}/`);
      expect(run(join(ALONE, 'contid-runc-fast'), null, calls[0]![1], extra)).toEqual(sh);
    });

    // The checks and the read were several looks at the path (attack35): with her directory
    // (her conf in it) and her link to root's directory swapped in a loop (renameat2
    // RENAME_EXCHANGE), some runs saw her directory at the link check and her link at the read
    // (root's conf read through her link, both shims); and the sh's owner check, a uid from stat
    // or else [ -O PATH ] (a second look, following a link), passed her directory when [ -O ]
    // saw her link to root's, and then sourced her file as root.
    test('her directory, her conf in it, and her link to root’s swapped in a loop: every run refused, by both', () => {
      const her = join(sticky, 'her');
      herMkdir(her);
      const w = spawnSync('/bin/sh', ['-c', 'printf "%s" "$0" >"$1" && chmod 644 "$1"', `touch ${MARK}\nCONTID_SPOOL_DIR=${spoolA}\n`, join(her, 'contid-runc.conf')], { uid: NOBODY, gid: NOBODY, encoding: 'utf8' });
      expect([w.status, w.stderr]).toEqual([0, '']);
      herLink(rootEtc, join(sticky, 'her2'));
      const swap = `import ctypes\nc=ctypes.CDLL(None)\nwhile True: c.renameat2(-100,b'${her}',-100,b'${join(sticky, 'her2')}',2)\n`;
      const loop = spawn('/usr/bin/python3', ['-c', swap], { uid: NOBODY, gid: NOBODY, stdio: 'ignore' });
      try {
        const conf = join(her, 'contid-runc.conf');
        const seen: Record<string, number> = {};
        for (const [shim, runs] of [[join(WITH_SH, 'contid-runc'), 120], [join(WITH_SH, 'contid-runc-fast'), 30], [join(ALONE, 'contid-runc-fast'), 30]] as const) {
          for (let i = 0; i < runs; i++) {
            const r = run(shim, null, calls[0]![1], { ...extraEnv, CONTID_RUNC_CONF: conf });
            const what = r.marked ? 'her conf run as root' : r.status === 127 && r.entries.length === 0 && r.runtime === null ? 'refused' : `status ${r.status}: ${r.entries.map((e) => e.split('/')[0]).join(' ')}`;
            seen[what] = (seen[what] ?? 0) + 1;
          }
        }
        // before, one run: { refused: 147, 'status 0: a': 33 } (a: root's conf through her link); her conf ran as root in 2 of 400 runs of the sh by hand
        expect(seen).toEqual({ refused: 180 });
      } finally {
        loop.kill();
      }
    });
  });

  // dash's `.` sources a CONTID_RUNC_CONF without a slash from PATH, so that file is the one checked.
  test('CONTID_RUNC_CONF without a slash: the file on PATH is checked, not one in the working directory', () => {
    const pathDir = join(state.dir, 'path-dir-her');
    mkdirSync(pathDir, { recursive: true });
    writeFileSync(join(pathDir, 'rel.conf'), `touch ${MARK}\n`);
    chownSync(join(pathDir, 'rel.conf'), NOBODY, NOBODY);
    writeFileSync(join(B, 'rel.conf'), plainConf); // root's, where `[ -r ]` looks
    try {
      const extra = { CONTID_RUNC_CONF: 'rel.conf', PATH: `${pathDir}:/usr/bin:/bin` };
      const sh = run(join(WITH_SH, 'contid-runc'), null, calls[0]![1], extra);
      expect(sh).toMatchObject({ status: 127, stderr: `contid-runc: refusing ${pathDir}/rel.conf: owned by uid ${NOBODY}${WHY}\n`, entries: [], runtime: null, marked: false });
      expect(run(join(WITH_SH, 'contid-runc-fast'), null, calls[0]![1], extra)).toEqual(sh);
    } finally {
      rmSync(join(B, 'rel.conf'), { force: true });
    }
  });

  // On no PATH directory, dash's `.` reads no file for such a name (before 7a13da4 the sh failed
  // in it with dash's "not found"); the real-path check read ./NAME, the bundle's, instead (attack34).
  test('CONTID_RUNC_CONF without a slash, on no PATH directory: the working directory’s file is not read', () => {
    writeFileSync(join(B, 'cwd.conf'), `touch ${MARK}\n${plainConf}`); // root's, where `[ -r ]` looks
    try {
      const extra = { CONTID_RUNC_CONF: 'cwd.conf', PATH: '/usr/bin:/bin' };
      const sh = run(join(WITH_SH, 'contid-runc'), null, calls[0]![1], extra);
      expect(sh).toMatchObject({ status: 127, stderr: `contid-runc: refusing cwd.conf: on no PATH directory, where dash's . looks for a name without a slash${WHY}\n`, entries: [], runtime: null, marked: false });
      expect(run(join(WITH_SH, 'contid-runc-fast'), null, calls[0]![1], extra)).toEqual(sh);
    } finally {
      rmSync(join(B, 'cwd.conf'), { force: true });
    }
  });

  // The sh's real path is `pwd -P`'s output through a command substitution, which takes off the
  // newlines a directory's name may end in: it checked and read DIR/conf for DIR\n/conf (attack34).
  /** With `extra`'s environment, the sh reads the conf that names spoolB (not the one that would touch MARK), and the compiled shim does the same. */
  const readsSpoolBByBoth = (extra: Record<string, string>): void => {
    const sh = run(join(WITH_SH, 'contid-runc'), null, calls[0]![1], extra);
    expect([sh.status, sh.stderr, sh.marked]).toEqual([0, '', false]);
    expect(sh.entries.join('')).toContain(`${spoolB.slice(S.length + 1)}/`);
    expect(run(join(ALONE, 'contid-runc-fast'), null, calls[0]![1], extra)).toEqual(sh);
  };

  test('its directory’s name ends in a newline: the file named is the one read, by both', () => {
    const named = join(state.dir, 'nl\n');
    const other = join(state.dir, 'nl');
    mkdirSync(named, { recursive: true });
    mkdirSync(other, { recursive: true });
    writeFileSync(join(named, 'contid-runc.conf'), `CONTID_SPOOL_DIR=${spoolB}\n`);
    writeFileSync(join(other, 'contid-runc.conf'), `touch ${MARK}\nCONTID_SPOOL_DIR=${spoolA}\n`);
    try {
      const extra = { CONTID_RUNC_CONF: join(named, 'contid-runc.conf') };
      readsSpoolBByBoth(extra);
    } finally {
      rmSync(named, { recursive: true, force: true });
      rmSync(other, { recursive: true, force: true });
    }
  });

  // A relative CONTID_RUNC_CONF: dash's cd looks a relative directory up on CDPATH (and prints
  // it, into the real path): the sh refused, or read another, where the compiled shim read ./DIR/NAME (attack34).
  test('a relative CONTID_RUNC_CONF with CDPATH set: the working directory’s, by both', () => {
    const cdpath = join(state.dir, 'cdpath');
    mkdirSync(join(cdpath, 'rel-etc'), { recursive: true });
    mkdirSync(join(B, 'rel-etc'), { recursive: true });
    writeFileSync(join(cdpath, 'rel-etc', 'x.conf'), `touch ${MARK}\nCONTID_SPOOL_DIR=${spoolA}\n`);
    writeFileSync(join(B, 'rel-etc', 'x.conf'), `CONTID_SPOOL_DIR=${spoolB}\n`);
    try {
      const extra = { CONTID_RUNC_CONF: 'rel-etc/x.conf', CDPATH: cdpath };
      readsSpoolBByBoth(extra);
    } finally {
      rmSync(cdpath, { recursive: true, force: true });
      rmSync(join(B, 'rel-etc'), { recursive: true, force: true });
    }
  });
});
