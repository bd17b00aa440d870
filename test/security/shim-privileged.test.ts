import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from '../helpers/cli';
import { buildFastShim } from '../helpers/fast-shim';

// contid-runc-fast installed with privileges its caller lacks (outside attack 31): an admin whose
// rootless Podman runs the shim as a login user reads the sh's "needs CAP_AUDIT_CONTROL" and
// gives the compiled shim that file capability, or makes it set-user-id root. Its caller's
// environment names the runtime, the requester notes and the spool, so a login user then ran
// her own program as "the runtime" in a session whose login uid she chose (0 here, from a note
// in her own directory). The sh cannot be installed so (the kernel ignores set-user-id and file
// capabilities on scripts); the compiled shim now refuses before reading anything. (setcap:
// libcap2-bin, which scripts/setup-host.sh installs.)
const NOBODY = 65534;
// a file system that honours set-user-id and file capabilities (a nosuid /tmp would not)
const base = [tmpdir(), '/var/tmp', REPO_ROOT].find((d) => !/(^|,)nosuid(,|$)/.test(spawnSync('findmnt', ['-no', 'OPTIONS', '-T', d], { encoding: 'utf8' }).stdout.trim()))!;
const dir = mkdtempSync(join(base, 'contid-shim-privileged-'));
const her = join(dir, 'her');
const ID = 'cd'.repeat(32);
const OUT = join(her, 'runtime-saw');

beforeAll(() => {
  chmodSync(dir, 0o755);
  for (const d of [her, join(her, 'spool'), join(her, 'notes'), join(her, 'bundle')]) mkdirSync(d, { recursive: true });
  writeFileSync(join(her, 'bundle', 'config.json'), '{"process":{"args":["true"]}}');
  writeFileSync(join(her, 'notes', `c-${ID}`), 'uid=0\nauid=0\nsession=1\npid=1\nexe=/usr/bin/podman\n');
  // her "runtime": records the login uid it runs with
  writeFileSync(join(her, 'runtime'), `#!/bin/sh\n/bin/cat /proc/self/loginuid >${OUT}\n`, { mode: 0o755 });
  spawnSync('chown', ['-R', `${NOBODY}:${NOBODY}`, her]);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A copy of the compiled shim (contid-tag.sh beside it, as installed), made privileged by `how`. */
function installed(name: string, how: (path: string) => void): string {
  const d = join(dir, name);
  mkdirSync(d);
  chmodSync(d, 0o755);
  const shim = join(d, 'contid-runc-fast');
  copyFileSync(buildFastShim(), shim);
  copyFileSync(join(REPO_ROOT, 'integrations/bin/contid-tag.sh'), join(d, 'contid-tag.sh'));
  how(shim);
  return shim;
}

it.each([
  ['with the file capability cap_audit_control', (p: string) => expect(spawnSync('setcap', ['cap_audit_control+ep', p]).status).toBe(0)],
  ['set-user-id root', (p: string) => (chownSync(p, 0, 0), chmodSync(p, 0o4755))],
])('installed %s, a login user (login uid 4343) gets no session of her choosing through it', (name, how) => {
  const shim = installed(name.replace(/\W+/g, '-'), how);
  rmSync(OUT, { force: true });
  const env = [`CONTID_RUNTIME=${join(her, 'runtime')}`, `CONTID_SPOOL_DIR=${join(her, 'spool')}`, `CONTID_REQUESTERS_DIR=${join(her, 'notes')}`, 'PATH=/usr/bin:/bin'];
  const argv = ['create', '--bundle', join(her, 'bundle'), ID];
  const script = `echo 4343 >/proc/self/loginuid && exec setpriv --reuid ${NOBODY} --regid ${NOBODY} --clear-groups env -i ${env.join(' ')} ${shim} ${argv.join(' ')}`;
  const r = spawnSync('sh', ['-c', script], { encoding: 'utf8', cwd: her });
  // before: status 0, her program ran with login uid 0 and an entry was spooled
  expect({ status: r.status, ran: existsSync(OUT) ? readFileSync(OUT, 'utf8') : null, spooled: readdirSync(join(her, 'spool')) }).toEqual({ status: 127, ran: null, spooled: [] });
  expect(r.stderr).toMatch(/^contid-runc: refusing to run set-user-id or with file capabilities[^\n]*\n$/);
});

it('installed as scripts/build-shim.sh leaves it, the same user runs it as before (the runtime in her own session)', () => {
  const shim = installed('plain', () => undefined);
  rmSync(OUT, { force: true });
  const env = [`CONTID_RUNTIME=${join(her, 'runtime')}`, `CONTID_SPOOL_DIR=${join(her, 'spool')}`, 'PATH=/usr/bin:/bin'];
  const script = `echo 4343 >/proc/self/loginuid && exec setpriv --reuid ${NOBODY} --regid ${NOBODY} --clear-groups env -i ${env.join(' ')} ${shim} start ${ID}`;
  const r = spawnSync('sh', ['-c', script], { encoding: 'utf8', cwd: her });
  expect({ status: r.status, stderr: r.stderr, ran: existsSync(OUT) ? readFileSync(OUT, 'utf8') : null }).toEqual({ status: 0, stderr: '', ran: '4343' });
});

// contid-lxc-fast (integrations/lxc/contid-lxc.c) installed so (harden33): it read its caller's
// environment and argv[0] without asking whether it ran with privileges she lacks. Through a
// link of her own to it, argv[0] names her directory, so the "sh beside it" it hands every other
// call to was her program: made set-user-id root, it ran hers with euid 0 (here /usr/bin/id,
// whose output shows it); with a file capability, it ran hers all the same. (No arguments: a
// call it hands on, and one her id takes.)
describe('contid-lxc-fast installed with privileges its caller lacks', () => {
  let fast = '';
  beforeAll(() => {
    fast = join(dir, 'contid-lxc-fast.built');
    const built = spawnSync(join(REPO_ROOT, 'scripts/build-lxc-fast.sh'), [fast], { encoding: 'utf8' });
    expect([built.status, built.stderr]).toEqual([0, '']);
    copyFileSync('/usr/bin/id', join(her, 'contid-lxc')); // "the sh beside it", hers
    spawnSync('chown', ['-h', `${NOBODY}:${NOBODY}`, join(her, 'contid-lxc')]);
  });

  it.each([
    ['set-user-id root', (p: string) => (chownSync(p, 0, 0), chmodSync(p, 0o4755))],
    ['with the file capability cap_audit_control', (p: string) => expect(spawnSync('setcap', ['cap_audit_control+ep', p]).status).toBe(0)],
  ])('%s, run by a login user through her own link to it: one line, 127, her program never runs', (name, how) => {
    const d = join(dir, `lxc-${name.replace(/\W+/g, '-')}`);
    mkdirSync(d);
    chmodSync(d, 0o755);
    const installedAt = join(d, 'contid-lxc-fast');
    copyFileSync(fast, installedAt);
    how(installedAt);
    const link = join(her, 'contid-lxc-fast');
    rmSync(link, { force: true });
    symlinkSync(installedAt, link);
    const script = `exec setpriv --reuid ${NOBODY} --regid ${NOBODY} --clear-groups env -i PATH=/usr/bin:/bin CONTID_STATE_DIR=${her} ${link}`;
    const r = spawnSync('sh', ['-c', script], { encoding: 'utf8', cwd: her });
    // before: status 0 and her "sh" ran ("uid=65534(nobody) ... euid=0(root)" when set-user-id root)
    expect({ status: r.status, stdout: r.stdout }).toEqual({ status: 127, stdout: '' });
    expect(r.stderr).toBe("contid-lxc: refusing to run set-user-id or with file capabilities (its caller's environment names what it runs)\n");
  });

  it('installed as scripts/build-lxc-fast.sh leaves it, the same call reaches the sh beside it as before', () => {
    const link = join(her, 'contid-lxc-fast');
    rmSync(link, { force: true });
    symlinkSync(fast, link);
    const r = spawnSync('sh', ['-c', `exec setpriv --reuid ${NOBODY} --regid ${NOBODY} --clear-groups env -i PATH=/usr/bin:/bin ${link}`], { encoding: 'utf8', cwd: her });
    expect(r.stdout).toMatch(/^uid=65534\(nobody\) gid=65534\(nogroup\) groups=65534\(nogroup\)\n$/);
  });
});
