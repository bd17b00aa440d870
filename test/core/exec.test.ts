import { ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { Registry, decodeValue, parseContainerId } from '@contid/core';
import { addExecveRule, ausearch, deleteExecveRule, field, waitForAudit } from '../helpers/audit';
import { CONTID_MAIN, contid, run, tempStateDir, uniqueName } from '../helpers/cli';
import { launcherScript } from '../../packages/cli/src/launcher';

/** `contid exec` on the real kernel, with the real auditd as the witness. */
describe('contid exec (real kernel, real auditd)', () => {
  const state = tempStateDir('exec');
  const key = uniqueName('contid-core');
  beforeAll(() => addExecveRule(key));
  afterAll(() => {
    deleteExecveRule(key);
    state.cleanup();
  });
  const registry = (): Registry => Registry.open(state.env.CONTID_STATE_DIR!);

  it('gives the command a new session, logged by the kernel, contid and the child syscalls', async () => {
    const name = uniqueName('t1');
    const r = contid(['exec', '--name', name, '--', 'sh', '-c', 'cat /proc/self/sessionid; /bin/true'], { env: state.env });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const ses = Number(r.stdout.trim());
    expect(ses).not.toBe(Number(readFileSync('/proc/self/sessionid', 'utf8')));

    const lifecycle = await waitForAudit(['--vm-name', name], (l) => l.length > 0);
    expect(lifecycle).toHaveLength(1);
    expect(lifecycle[0]).toMatch(/^type=VIRT_CONTROL /);
    expect(field(lifecycle[0], 'op')).toBe('create');
    expect(field(lifecycle[0], 'vm-ses')).toBe(String(ses));
    const id = parseContainerId(field(lifecycle[0], 'contid')!);

    const login = await waitForAudit(['-m', 'LOGIN', '--session', String(ses)], (l) => l.length > 0);
    expect(login[0]).toMatch(new RegExp(`old-ses=\\d+ ses=${ses} res=1`));

    // By session, not -k: when several tests' rules match, the kernel names only the first key.
    const syscalls = await waitForAudit(['--session', String(ses), '-m', 'SYSCALL'], (l) => l.some((x) => x.includes('exe="/usr/bin/true"')));
    const execs = syscalls.filter((l) => l.startsWith('type=SYSCALL'));
    expect(execs.some((l) => l.includes('exe="/usr/bin/true"'))).toBe(true);
    expect(execs.every((l) => field(l, 'ses') === String(ses))).toBe(true);

    const reg = registry();
    const c = reg.get(id)!;
    expect(c).toMatchObject({ name, orchestrator: 'contid', state: 'running', session: ses });
    expect(c.namespaces.pid).toBeGreaterThan(0);
    reg.close();
  });

  it('replaces itself with the command: same pid, its exit status, its signals', () => {
    const pid = contid(['exec', '--', 'sh', '-c', 'echo $$'], { env: state.env });
    expect(Number(pid.stdout.trim())).toBe(pid.pid);
    expect(contid(['exec', '--', 'sh', '-c', 'exit 7'], { env: state.env }).status).toBe(7);
    const killed = contid(['exec', '--', 'sh', '-c', 'kill -TERM $$'], { env: state.env });
    expect(killed.signal).toBe('SIGTERM');
    // Node ignores SIGPIPE; the command must not inherit that.
    expect(contid(['exec', '--', 'grep', 'SigIgn', '/proc/self/status'], { env: state.env }).stdout).toMatch(/SigIgn:\s+0+\n/);
  });

  /** A container that stays alive: `contid exec` of a shell that prints its session, then sleeps. */
  function longLived(name: string): Promise<{ child: ChildProcess; session: number }> {
    const child = spawn(process.execPath, [CONTID_MAIN, 'exec', '--name', name, '--', 'sh', '-c', 'cat /proc/self/sessionid; echo; exec sleep 60'], {
      env: state.env,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    return new Promise((resolve) => {
      let out = '';
      child.stdout!.on('data', (d) => {
        out += d;
        if (out.includes('\n')) resolve({ child, session: Number(out.trim()) });
      });
    });
  }
  const stopped = (child: ChildProcess): Promise<void> => new Promise((done) => (child.exitCode !== null ? done() : (child.on('exit', () => done()), child.kill())));

  it('enters an existing container as op=setns with a new session bound to the same ID', async () => {
    const name = uniqueName('web');
    const first = await longLived(name);
    const entered = contid(['exec', '--setns', name, '--', 'cat', '/proc/self/sessionid'], { env: state.env });
    await stopped(first.child);
    expect(entered.status).toBe(0);
    const [s1, s2] = [first.session, Number(entered.stdout)];
    expect(s2).not.toBe(s1);
    const reg = registry();
    const c = reg.find(name)!;
    expect(reg.bindings(c.contid).map((b) => [b.op, b.session])).toEqual([
      ['create', s1],
      ['setns', s2],
    ]);
    expect(reg.containerOfSession(s2)?.contid).toBe(c.contid);
    reg.close();
    const records = await waitForAudit(['--vm-name', name], (l) => l.length === 2);
    expect(records.map((l) => [field(l, 'op'), field(l, 'vm-ses'), field(l, 'contid')])).toEqual([
      ['create', String(s1), c.contid.toString()],
      ['setns', String(s2), c.contid.toString()],
    ]);
  });

  it('runs the command’s arguments verbatim: nothing that looks like a number is rewritten (outside attack 6)', () => {
    const r = contid(['exec', '--', 'echo', '0x10', '1e3', '1.50', '-0', '.5', '007'], { env: state.env });
    expect(r.status).toBe(0);
    expect(r.stdout).toBe('0x10 1e3 1.50 -0 .5 007\n');
    const named = contid(['exec', '--name', uniqueName('args'), 'echo', '0x10', '1e3'], { env: state.env });
    expect(named.stdout).toBe('0x10 1e3\n');
  });

  it('show finds a container by a name that looks like a number, never another container whose contid it equals (outside attack 6)', async () => {
    const victim = await longLived(uniqueName('victim'));
    const reg = registry();
    const victimId = reg.containerOfSession(victim.session)!.contid;
    reg.close();
    const hexName = `0x${victimId.toString(16)}`;
    const impostor = await longLived(hexName);
    const shown = contid(['show', '--json', hexName], { env: state.env });
    await Promise.all([stopped(victim.child), stopped(impostor.child)]);
    expect(shown.status).toBe(0);
    expect((JSON.parse(shown.stdout) as { name: string }).name).toBe(hexName);
  });

  it('records the parent of a container started inside a container (nesting)', () => {
    const [outer, inner] = [uniqueName('outer'), uniqueName('inner')];
    const r = contid(['exec', '--name', outer, '--', process.execPath, require.resolve('../helpers/cli').replace(/helpers\/cli\.ts$/, '../packages/cli/dist/main.js'), 'exec', '--name', inner, '--', 'true'], { env: state.env });
    expect(r.stderr).toBe('');
    const reg = registry();
    expect(reg.find(inner)?.parent).toBe(reg.find(outer)?.contid);
    expect(reg.children(reg.find(outer)!.contid).map((c) => c.name)).toEqual([inner]);
    reg.close();
  });

  it('records the namespaces, so containers sharing them are visible', () => {
    const [a, b] = [uniqueName('pod-a'), uniqueName('pod-b')];
    contid(['exec', '--name', a, '--', 'true'], { env: state.env });
    contid(['exec', '--name', b, '--', 'true'], { env: state.env });
    const reg = registry();
    expect(reg.find(a)?.namespaces.net).toBe(reg.find(b)?.namespaces.net);
    reg.close();
  });

  describe('privilege', () => {
    const nobody = ['setpriv', '--reuid', '65534', '--regid', '65534', '--clear-groups'];

    it('an unprivileged user cannot tag: one clear line, nothing in the registry', () => {
      const reg = registry();
      const before = reg.list().length;
      reg.close();
      const r = contid(['exec', '--name', uniqueName('evil'), '--', 'true'], { env: state.env, prefix: nobody });
      expect(r.status).toBe(77);
      expect(r.stderr).toBe('contid: tagging a container needs CAP_AUDIT_CONTROL and CAP_AUDIT_WRITE (run as root on the host, not inside a container)\n');
      const after = registry();
      expect(after.list()).toHaveLength(before);
      after.close();
    });

    it('an unprivileged child of a tagged process cannot renew its session', () => {
      const r = contid(['exec', '--name', uniqueName('p'), '--', ...nobody, 'sh', '-c', 'cat /proc/self/sessionid; echo; if ! echo 65534 > /proc/self/loginuid; then echo denied; fi; cat /proc/self/sessionid'], {
        env: state.env,
      });
      const [before, denied, after] = r.stdout.trim().split('\n');
      expect(denied).toBe('denied');
      expect(after).toBe(before);
    });
  });

  describe('bad input: one line, non-zero exit, no stack trace', () => {
    it.each([
      [['exec', '--parent', '-1', '--', 'true'], /invalid container ID "-1": negative/],
      [['exec', '--parent', '18446744073709551616', '--', 'true'], /larger than 2\^64-1/],
      [['exec', '--parent', '0', '--', 'true'], /reserved/],
      [['exec', '--parent', 'abc', '--', 'true'], /not a decimal number/],
      [['exec', '--'], /exec needs a command/],
      [['exec', '--setns', 'no-such-container', '--', 'true'], /unknown container "no-such-container" for --setns/],
      [['exec', '--', '/no/such/command'], /cannot run \/no\/such\/command: command not found/],
      [['show', 'no-such'], /unknown container "no-such"/],
    ])('%j', (args, message) => {
      const r = contid(args as string[], { env: state.env });
      expect(r.status).not.toBe(0);
      expect(r.stderr).toMatch(message);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    });

    it('an unwritable registry', () => {
      const r = contid(['exec', '--', 'true'], { env: { ...state.env, CONTID_STATE_DIR: '/proc/version/state' } });
      expect(r.status).toBe(1);
      expect(r.stderr).toBe('contid: registry directory /proc/version/state is not usable: cannot use directory /proc/version: ENOTDIR\n');
    });
  });

  describe('audit unavailable (libaudit hidden in a private mount namespace)', () => {
    const hideLibaudit = ['unshare', '-m', 'sh', '-c', 'mount --bind /dev/null "$(readlink -f /usr/lib/x86_64-linux-gnu/libaudit.so.1)" && exec "$@"', 'sh'];

    it('fail-closed (default) refuses and writes nothing', () => {
      const name = uniqueName('closed');
      const r = contid(['exec', '--name', name, '--', 'echo', 'ran'], { env: state.env, prefix: hideLibaudit });
      expect(r.status).toBe(1);
      expect(r.stdout).toBe('');
      expect(r.stderr).toBe('contid: libaudit.so.1 not found: install the libaudit1 package\n');
      const reg = registry();
      expect(reg.find(name)).toBeUndefined();
      reg.close();
    });

    it('fail-open runs, says so loudly and records the failure in the registry', () => {
      const name = uniqueName('open');
      const r = contid(['exec', '--fail-policy', 'open', '--name', name, '--', 'echo', 'ran'], { env: state.env, prefix: hideLibaudit });
      expect(r.status).toBe(0);
      expect(r.stdout).toBe('ran\n');
      expect(r.stderr).toMatch(/warning: FAIL-OPEN/);
      const reg = registry();
      expect(reg.find(name)?.auditError).toMatch(/libaudit/);
      reg.close();
      expect(ausearch(['--vm-name', name])).toEqual([]);
    });
  });

  it('ps, show and end see what exec did', async () => {
    const name = uniqueName('listed');
    const { child } = await longLived(name);
    expect(contid(['ps'], { env: state.env }).stdout).toContain(name);
    const shown = JSON.parse(contid(['show', name, '--json'], { env: state.env }).stdout);
    expect(shown).toMatchObject({ name, state: 'running', bindings: [{ op: 'create' }] });
    expect(contid(['end', name], { env: state.env }).status).toBe(0);
    await stopped(child);
    expect(contid(['ps'], { env: state.env }).stdout).not.toContain(name);
    expect(contid(['ps', '--all'], { env: state.env }).stdout).toContain(name);
    const records = await waitForAudit(['--vm-name', name], (l) => l.length === 2);
    expect(records.map((l) => field(l, 'op'))).toEqual(['create', 'end']);
  });

  it('a contid exec container whose process tree is gone is ended (op=end reason="found gone"), not listed, and cannot be entered', async () => {
    const [done, alive] = [uniqueName('done'), uniqueName('alive')];
    expect(contid(['exec', '--name', done, '--', 'true'], { env: state.env }).status).toBe(0);
    const { child } = await longLived(alive);
    try {
      const ps = contid(['ps'], { env: state.env }).stdout;
      expect(ps).not.toContain(done);
      expect(ps).toContain(alive);
      expect(contid(['ps', '--all'], { env: state.env }).stdout).toMatch(new RegExp(`${done}\\s+ended`));
      const records = await waitForAudit(['--vm-name', done], (l) => l.length === 2);
      expect(records.map((l) => [field(l, 'op'), field(l, 'reason') && decodeValue(field(l, 'reason')!)])).toEqual([
        ['create', undefined],
        ['end', 'found gone'],
      ]);
      const enter = contid(['exec', '--setns', done, '--', 'true'], { env: state.env });
      expect(enter.status).toBe(1);
      expect(enter.stderr).toMatch(/^contid: container \d+ \([^)]+\) has ended\n$/);
    } finally {
      await stopped(child);
    }
    // Its whole tree gone (sleep was its last process), the live one ends too.
    expect(contid(['ps'], { env: state.env }).stdout).not.toContain(alive);
  });

  it('refuses to enter a container whose init left its bound session (renewed its own)', async () => {
    const name = uniqueName('escaped');
    const child = spawn(process.execPath, [CONTID_MAIN, 'exec', '--name', name, '--', 'sh', '-c', 'echo 0 > /proc/self/loginuid; echo; exec sleep 60'], {
      env: state.env,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    await new Promise((resolve) => child.stdout!.once('data', resolve));
    try {
      const enter = contid(['exec', '--setns', name, '--', 'true'], { env: state.env });
      expect(enter.status).toBe(1);
      expect(enter.stderr).toMatch(new RegExp(`^contid: container \\d+ \\(${name}\\): its init \\(pid ${child.pid}\\) runs in session \\d+, not in its bound session \\d+; it left its identity, refusing to enter it\\n$`));
    } finally {
      await stopped(child);
    }
  });

  it('doctor reports this host healthy enough to tag', () => {
    const r = contid(['doctor'], { env: state.env });
    expect(r.stdout).toMatch(/^ok\s+privileges/m);
    expect(r.stdout).toMatch(/^ok\s+auditd: running/m);
    expect(r.stdout).toMatch(/^ok\s+loginuid_immutable/m);
    expect(run('auditctl', ['-s']).status).toBe(0);
  });
});

describe('contid install self', () => {
  it('puts a launcher on PATH that runs this CLI, and takes it away again', () => {
    const installed = contid(['install', 'self']);
    expect(installed.status).toBe(0);
    expect(installed.stdout).toMatch(/^installed \/usr\/local\/bin\/contid -> /);
    expect(run('/usr/local/bin/contid', ['--version']).stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
    // the text launcherScript makes (the search bench and the launcher tests run that same text)
    expect(readFileSync('/usr/local/bin/contid', 'utf8')).toBe(launcherScript(process.execPath, CONTID_MAIN, existsSync('/usr/local/libexec/contid/contid-lxc-fast')));
    // contid-spawn on PATH finds its library in /usr/local/libexec/contid (a usage error proves it ran).
    expect(installed.stdout).toContain('installed /usr/local/bin/contid-spawn -> /usr/local/libexec/contid/contid-spawn');
    const spawned = run('contid-spawn', ['--bogus'], { env: { ...process.env, PATH: `/usr/local/bin:${process.env.PATH}` } });
    expect(spawned.status).toBe(2);
    expect(spawned.stderr).toMatch(/^contid-spawn: unknown argument "--bogus"/);
    expect(contid(['uninstall', 'self']).stdout).toBe('removed /usr/local/bin/contid and /usr/local/bin/contid-spawn\n');
    expect(contid(['uninstall', 'self']).stdout).toBe('/usr/local/bin/contid is not installed\n');
  });
});
