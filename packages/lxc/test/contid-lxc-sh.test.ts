import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { processStartTime, readSessionId } from '@contid/core';
import { parseSpoolEntry } from '@contid/oci';
import { writeInstanceRecord } from '../src/instance-record';

// contid-lxc (sh) decides between its fast path and the Node command from the instance record
// and the container's config alone. Here lxc-attach, lxc-start and CONTID_CLI only print what
// they were given, so the decision table runs without LXC or a registry; the spool entry is
// the real one (op=fail where this user may not renew its session, under fail-open).
// contid-lxc-fast (the compiled start, integrations/lxc/contid-lxc.c) runs the same table: what
// it does not record itself it hands to the sh beside it, so every case must come out the same.
const REPO = resolve(__dirname, '../../..');
describe.each([['contid-lxc (sh)'], ['contid-lxc-fast (compiled)']])('%s start/attach: fast path or hand-over to the Node command', (program) => {
  const dir = mkdtempSync(join(tmpdir(), 'contid-lxc-sh-'));
  const bin = join(dir, 'bin');
  const fake = join(dir, 'fake');
  const stateDir = join(dir, 'state');
  const spool = join(stateDir, 'spool');
  mkdirSync(bin);
  mkdirSync(fake);
  for (const f of ['contid-lxc', 'contid-tag.sh']) copyFileSync(resolve(__dirname, '../../../integrations/bin', f), join(bin, f));
  const compiled = program.startsWith('contid-lxc-fast');
  if (compiled) {
    const built = spawnSync(join(REPO, 'scripts/build-lxc-fast.sh'), [join(bin, 'contid-lxc-fast')], { encoding: 'utf8' });
    if (built.status !== 0) throw new Error(`scripts/build-lxc-fast.sh: ${built.stderr}`);
  }
  for (const tool of ['lxc-attach', 'lxc-start']) writeFileSync(join(fake, tool), `#!/bin/sh\necho ${tool} "$@" "session=$CONTID_LXC_SESSION"\n`, { mode: 0o755 });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const run = (args: string[]) => {
    rmSync(spool, { recursive: true, force: true });
    const env = { PATH: `${fake}:${process.env.PATH}`, CONTID_STATE_DIR: stateDir, CONTID_CLI: 'echo node', CONTID_FAIL_POLICY: 'open' };
    const r = compiled ? spawnSync(join(bin, 'contid-lxc-fast'), args, { env, encoding: 'utf8' }) : spawnSync('sh', [join(bin, 'contid-lxc'), ...args], { env, encoding: 'utf8' });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr.replace(/^contid-lxc: .*running untagged\n/, '') };
  };
  const entries = () => readdirSync(spool).map((n) => parseSpoolEntry(n, readFileSync(join(spool, n), 'utf8')));
  // This test's own process stands in for the container's init.
  const me = { contid: 77n as never, session: readSessionId(process.pid), initPid: process.pid, initStart: processStartTime(process.pid)! };

  it('attach into a live init in its recorded session: one setns entry for its contid, then lxc-attach with the arguments as given', () => {
    writeInstanceRecord(stateDir, 'web', me);
    expect(readFileSync(join(stateDir, 'lxc', 'web'), 'utf8')).toBe(`77 ${me.session} ${me.initPid} ${me.initStart}\n`);
    const r = run(['attach', 'web', '-e', '--', 'sh', '-c', 'x y']);
    expect(r).toMatchObject({ status: 0, stderr: '' });
    expect(r.stdout).toMatch(/^lxc-attach -n web -e -- sh -c x y session=\n$/);
    const [e] = entries();
    expect(e).toMatchObject({ subcommand: 'spawn', orchestrator: 'lxc', setns: '77', id: 'web' });
    expect(['setns', 'fail']).toContain(e.op);
  });

  it.each([
    ['no record', 'db', ['db', '--', 'true'], null],
    ['another start time (a reused pid)', 'web', ['web', '--', 'true'], { ...me, initStart: me.initStart + 1 }],
    ['another session (the init left its own)', 'web', ['web', '--', 'true'], { ...me, session: me.session + 1 }],
    ['a gone init', 'web', ['web', '--', 'true'], { ...me, initPid: 4194303 }],
    ['-n naming another container', 'web', ['web', '-n', 'db', '--', 'true'], me],
    ['--lxcpath', 'web', ['web', '--lxcpath=/srv', '--', 'true'], me],
    ['-P', 'web', ['web', '-P', '/srv', '--', 'true'], me],
    ['a name that is not an LXC name', '-web', ['-web', '--', 'true'], null],
  ])('attach, %s: handed to the Node command unchanged, nothing spooled', (_what, name, args, record) => {
    if (record) writeInstanceRecord(stateDir, name, record as typeof me);
    else rmSync(join(stateDir, 'lxc', name), { force: true });
    expect(run(['attach', ...args])).toEqual({ status: 0, stdout: `node lxc attach ${args.join(' ')}\n`, stderr: '' });
    expect(existsSync(spool)).toBe(false);
  });

  it('-n after -- belongs to the command, not to lxc-attach', () => {
    writeInstanceRecord(stateDir, 'web', me);
    expect(run(['attach', 'web', '--', 'ps', '-n']).stdout).toMatch(/^lxc-attach -n web -- ps -n /);
  });

  it('start of a running recorded instance, or of a container whose hooks cannot be read, is the Node command\'s', () => {
    writeInstanceRecord(stateDir, 'web', me);
    expect(run(['start', 'web', '-F']).stdout).toBe('node lxc start web -F\n');
    expect(run(['start', 'web']).stdout).toBe('node lxc start web\n');
    rmSync(join(stateDir, 'lxc', 'web'));
    // No /var/lib/lxc/contid-t-nosuch/config: no hooks to vouch for.
    expect(run(['start', 'contid-t-nosuch']).stdout).toBe('node lxc start contid-t-nosuch\n');
  });

  it('start with contid\'s hooks for this registry: one create entry, then lxc-start with the options after -- as its own', () => {
    const name = 'contid-t-shstart';
    const config = `/var/lib/lxc/${name}/config`;
    mkdirSync(`/var/lib/lxc/${name}`, { recursive: true });
    try {
      const hook = `${join(bin, 'contid-lxc')} --state-dir ${stateDir} hook`;
      writeFileSync(config, `lxc.uts.name = x\nlxc.hook.start-host = ${hook}\nlxc.hook.post-stop = ${hook}\n`);
      const r = run(['start', name, '-d', '--', '-F']);
      expect(r).toMatchObject({ status: 0, stderr: '' });
      const [e] = entries();
      expect(e).toMatchObject({ subcommand: 'spawn', orchestrator: 'lxc', containerName: name, id: name, setns: null });
      expect(['create', 'fail']).toContain(e.op);
      // The session the hooks compare the init's with is the one the entry carries.
      expect(r.stdout).toBe(`lxc-start -n ${name} -d -F session=${e.session}\n`);
      // The start-host hook alone is enough (contid serve follows the monitor for the end).
      writeFileSync(config, `lxc.hook.start-host = ${hook}\n`);
      expect(run(['start', name]).stdout).toMatch(new RegExp(`^lxc-start -n ${name} session=\\d+\n$`));
      // A hook line for another registry, or one cleared by an empty value: the Node command's.
      writeFileSync(config, `lxc.hook.start-host = ${hook}\nlxc.hook.start-host =\nlxc.hook.post-stop = ${hook}\n`);
      expect(run(['start', name]).stdout).toBe(`node lxc start ${name}\n`);
      writeFileSync(config, `lxc.hook.start-host = ${hook}x\nlxc.hook.post-stop = ${hook}\n`);
      expect(run(['start', name]).stdout).toBe(`node lxc start ${name}\n`);
    } finally {
      rmSync(`/var/lib/lxc/${name}`, { recursive: true, force: true });
    }
  });

  it('usage errors: one line, exit 2', () => {
    const usage = '(usage: contid-lxc [--state-dir DIR] start NAME [lxc-start options] | attach NAME [lxc-attach options] [-- CMD [ARG…]] | hook)';
    expect(run(['attach'])).toEqual({ status: 2, stdout: '', stderr: `contid-lxc: attach needs a container name ${usage}\n` });
    expect(run(['frob'])).toEqual({ status: 2, stdout: '', stderr: `contid-lxc: unknown command "frob" ${usage}\n` });
    expect(run(['--state-dir'])).toEqual({ status: 2, stdout: '', stderr: `contid-lxc: --state-dir needs a directory ${usage}\n` });
  });
});
