import { spawn, spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { ContainerRecord, Registry, decodeValue, formatContainerId } from '@contid/core';
import { GLOBAL_SNIPPET, SYSTEMD_DROP_IN } from '@contid/lxc';
import { addExecveRule, deleteExecveRule, field, freezeSince, logMark, waitForAudit } from '../helpers/audit';
import { CONTID_MAIN, REPO_ROOT, contid, run, tempStateDir } from '../helpers/cli';
import { startServe } from '../helpers/serve';
import { waitFor } from '../helpers/wait';
import { CONTID_LXC, buildLxcFast, createContainer, destroyContainer, lxcAttach, lxcInitPid, lxcName, lxcStart, lxcStateOf, processTree, sessionOf, waitForState, withCli } from './lxc-host';

/**
 * contid's LXC adapter on real LXC (busybox containers), the real kernel audit subsystem and
 * the real auditd as the witness. Hooks are run by LXC itself, through the built CLI.
 */
/** The hook's Node code as its own executable (the built one), for use by hand. */
const HOOK_MAIN_DIST = `${REPO_ROOT}/packages/lxc/dist/hook-main.js`;

describe('LXC through contid (real LXC, real kernel audit, real auditd)', () => {
  const state = tempStateDir('lxc');
  const stateDir = state.env.CONTID_STATE_DIR!;
  const key = `contid-lxc-${process.pid}`;
  const names: string[] = [];

  // contid lxc start/attach and the hooks only spool (contid-lxc, no Node): contid serve binds.
  let serve = startServe(state.env, state.dir);
  const attach = (args: string[]) => lxcAttach(args, state.env);

  // where auditd was writing before this file's first record: the search test reads a frozen copy from here
  let mark: ReturnType<typeof logMark>;
  beforeAll(() => {
    mark = logMark();
    addExecveRule(key);
  });
  afterAll(async () => {
    names.forEach(destroyContainer);
    deleteExecveRule(key);
    await serve.stop();
    state.cleanup();
  });

  /** A fresh busybox container with contid's hooks in its config (using this test's registry). */
  function make(label: string, install = true): string {
    const name = lxcName(label);
    names.push(name);
    createContainer(name);
    if (install) expect(contid(['install', 'lxc', name], { env: state.env }).status).toBe(0);
    return name;
  }

  function withRegistry<T>(f: (r: Registry) => T): T {
    const r = Registry.open(stateDir);
    try {
      return f(r);
    } finally {
      r.close();
    }
  }
  const containersNamed = (name: string): ContainerRecord[] => withRegistry((r) => r.list({ orchestrator: 'lxc' }).filter((c) => c.runtimeId === name));
  /** The rows of NAME once contid serve has recorded what LXC and contid-lxc spooled. */
  const settled = async (name: string, states: string[]): Promise<ContainerRecord[]> => {
    await serve.drained();
    await waitFor(`${name} to be ${states.join(', ')}`, () => JSON.stringify(containersNamed(name).map((c) => c.state)) === JSON.stringify(states), 30_000).catch(() => undefined);
    expect(containersNamed(name).map((c) => c.state)).toEqual(states);
    return containersNamed(name);
  };
  const rowCount = (): number => withRegistry((r) => r.list().length + r.list().reduce((n, c) => n + r.bindings(c.contid).length, 0));

  const doctorOn = (name: string): { status: string; detail: string; fix?: string } | undefined =>
    contid(['doctor', '--json'], { env: state.env })
      .stdout.split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { check: string; status: string; detail: string; fix?: string })
      .find((r) => r.check === `lxc ${name}`);

  /** contid's records for exactly this name (ausearch --vm-name also matches longer names). */
  const lifecycle = (name: string, op: string): Promise<string[]> => {
    const mine = (x: string): boolean => field(x, 'op') === op && field(x, 'vm') === name;
    return waitForAudit(['-m', 'VIRT_CONTROL', '--vm-name', name], (l) => l.some(mine)).then((l) => l.filter(mine));
  };

  async function startTagged(name: string): Promise<{ init: number; session: number; wrapperPid: number }> {
    const r = lxcStart([name], state.env);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    await waitForState(name, 'RUNNING');
    const init = lxcInitPid(name);
    // The init, as the start-host hook spooled it, recorded by contid serve.
    await serve.drained();
    await waitFor(`${name}'s init ${init} in the registry`, () => containersNamed(name).some((c) => c.state === 'running' && c.initPid === init));
    return { init, session: sessionOf(init), wrapperPid: r.pid };
  }

  /** A raw record's time, seconds since the epoch (audit(SECONDS.MS:SERIAL)). */
  const recordTime = (line: string): number => Number(/audit\((\d+\.\d+):/.exec(line)?.[1] ?? 0);

  // start → attach → stop → restart run in order on one container.
  let name = '';
  let first: ContainerRecord;

  it('start via the wrapper: the init and every process under it carry one fresh session, bound and logged', async () => {
    name = make('start');
    const startedAt = Date.now();
    const { init, session, wrapperPid } = await startTagged(name);
    expect(session).not.toBe(sessionOf('self'));

    // busybox init forks syslogd and gettys: wait for them, then check the whole tree.
    let tree = processTree(init);
    for (let i = 0; i < 50 && tree.length < 3; i++) {
      await new Promise((r) => setTimeout(r, 100));
      tree = processTree(init);
    }
    expect(tree.length).toBeGreaterThanOrEqual(3);
    expect(tree.map(sessionOf)).toEqual(tree.map(() => session));

    const [c] = containersNamed(name);
    first = c;
    expect(c).toMatchObject({ orchestrator: 'lxc', name, state: 'running', session, initPid: init, parent: null });
    expect(c.namespaces.pid).toBe(Number(/\[(\d+)\]/.exec(readlinkSync(`/proc/${init}/ns/pid`))![1]));
    expect(c.labels['lxc.config']).toBe(`/var/lib/lxc/${name}/config`);
    expect(doctorOn(name)).toMatchObject({ status: 'ok', detail: `tagged as contid ${formatContainerId(c.contid)} (session ${session})` });

    // The kernel logged the renewal by the wrapper; contid logged the binding.
    const login = await waitForAudit(['-m', 'LOGIN', '--session', String(session)], (l) => l.length > 0);
    expect(login).toHaveLength(1);
    expect(field(login[0], 'pid')).toBe(String(wrapperPid));
    const [create] = await lifecycle(name, 'create');
    expect(field(create, 'virt')).toBe('lxc');
    expect(field(create, 'vm-ses')).toBe(String(session));
    expect(field(create, 'contid')).toBe(formatContainerId(c.contid));
    // The create record names the wrapper (host namespaces); op=update names the real init and its namespaces.
    const [update] = await lifecycle(name, 'update');
    expect(field(update, 'contid')).toBe(formatContainerId(c.contid));
    expect(field(update, 'vm-pid')).toBe(String(init));
    expect(field(update, 'vm-ses')).toBe(String(session));
    expect(field(update, 'ns')).toContain(`pid:${c.namespaces.pid}`);
    expect(field(create, 'ns')).not.toContain(`pid:${c.namespaces.pid}`);

    // The execs of the container's processes (kernel SYSCALL records, made by our rule) are all in its
    // session. Matched by pid and time, not by our rule's key: the kernel keys a record with the first
    // rule that matches, and another suite's catch-all execve rule listed first would take it.
    const ours = new Set(tree.map(String));
    const mine = (l: string): boolean => l.startsWith('type=SYSCALL') && ours.has(field(l, 'pid')!) && recordTime(l) >= startedAt / 1000 - 1;
    const execs = (await waitForAudit(['-sc', 'execve', '-ts', 'recent'], (l) => l.some(mine))).filter(mine);
    expect(execs.length).toBeGreaterThan(0);
    expect(execs.map((l) => field(l, 'ses'))).toEqual(execs.map(() => String(session)));
  });

  it('attach: the attached command gets a fresh session bound to the same contid as op=setns (spooled, bound by contid serve)', async () => {
    const r = attach([name, '--', 'sh', '-c', 'echo $(cat /proc/self/sessionid); /bin/true; hostname']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const [ses, host] = r.stdout.trim().split('\n');
    const attached = Number(ses);
    expect(host).toBe(name);
    expect(attached).not.toBe(first.session);
    expect(attached).not.toBe(sessionOf('self'));

    await serve.drained();
    const bindings = withRegistry((reg) => reg.bindings(first.contid));
    expect(bindings.map((b) => [b.op, b.session])).toEqual([
      ['create', first.session],
      ['setns', attached],
    ]);
    // The fast path: contid-lxc wrote a spool entry (no Node ran), contid serve bound it.
    expect(bindings[1].detail.spoolEntry).toMatch(new RegExp(`^${attached}-setns-\\d+\\.entry$`));
    expect(withRegistry((reg) => reg.containerOfSession(attached)?.contid)).toBe(first.contid);
    const [setns] = await lifecycle(name, 'setns');
    expect(field(setns, 'vm-ses')).toBe(String(attached));
    expect(field(setns, 'contid')).toBe(formatContainerId(first.contid));
    // the container's /bin/true ran in the attach session
    // By session (unique within a boot), not by our rule's key (see the start test).
    const execs = await waitForAudit(['--session', String(attached), '-sc', 'execve', '-ts', 'recent'], (l) => l.some((x) => field(x, 'comm') === 'true'));
    expect(execs.some((x) => x.startsWith('type=SYSCALL') && field(x, 'comm') === 'true')).toBe(true);
    // lxc-attach's exit status is the command's
    expect(attach([name, '--', 'sh', '-c', 'exit 3']).status).toBe(3);
  });

  it('stop: contid serve records the end when the container\'s monitor exits (op=end; no post-stop hook runs)', async () => {
    expect(readFileSync(`/var/lib/lxc/${name}/config`, 'utf8')).not.toMatch(/lxc\.hook\.post-stop/);
    expect(run('lxc-stop', ['-n', name]).status).toBe(0);
    expect(lxcStateOf(name)).toBe('STOPPED');
    await settled(name, ['ended']);
    const [end] = await lifecycle(name, 'end');
    expect(field(end, 'contid')).toBe(formatContainerId(first.contid));
    expect(decodeValue(field(end, 'reason')!)).toBe('stopped');
    const stopped = attach([name, '--', 'true']);
    expect(stopped.status).toBe(1);
    expect(stopped.stderr).toMatch(/^contid: LXC container "[^"]+" is stopped, not running\n$/);
  });

  it("contid search --container returns exactly the events of the container's sessions (ausearch --session)", () => {
    const events = (lines: string[]): string[] =>
      [...new Set(lines.map((l) => /audit\(([0-9.]+:\d+)\)/.exec(l)?.[1]).filter((x): x is string => x !== undefined))].sort();
    // The create session plus one per attach earlier in this file.
    const sessions = withRegistry((r) => r.bindings(first.contid).map((b) => b.session!));
    expect(sessions.length).toBeGreaterThanOrEqual(2);
    expect(new Set(sessions).size).toBe(sessions.length);
    // Both read the same frozen copy of the log: auditd flushes asynchronously, so two reads of
    // the live log at different moments can differ by the records written in between.
    const log = `${state.dir}/frozen.log`;
    freezeSince(mark, log);
    const expected = events(sessions.flatMap((ses) => spawnSync('ausearch', ['--session', String(ses), '--raw', '-if', log], { encoding: 'utf8', maxBuffer: 64 << 20 }).stdout.split('\n')));
    expect(expected.length).toBeGreaterThan(0);
    const r = contid(['search', '--container', formatContainerId(first.contid), '-if', log], { env: state.env, maxBuffer: 64 << 20 });
    expect(r.status).toBe(0);
    expect(events(r.stdout.split('\n'))).toEqual(expected);
  });

  it('restart: a new start is a new container ID in a new session', async () => {
    const { init, session } = await startTagged(name);
    expect(session).not.toBe(first.session);
    const again = await settled(name, ['ended', 'running']);
    expect(again[1].contid).not.toBe(first.contid);
    expect(again[1]).toMatchObject({ session, initPid: init });
    expect(run('lxc-stop', ['-n', name]).status).toBe(0);
    await settled(name, ['ended', 'ended']);
  });

  it('reboot (lxc-stop -r): the monitor and its session stay, so the same contid continues with the new init', async () => {
    const { init, session } = await startTagged(name);
    const before = containersNamed(name).filter((c) => c.state === 'running');
    expect(before).toHaveLength(1);
    expect(run('lxc-stop', ['-n', name, '-r']).status).toBe(0);
    let rebooted = 0;
    for (let i = 0; i < 100 && !(rebooted > 0 && rebooted !== init); i++) {
      await waitForState(name, 'RUNNING');
      rebooted = lxcInitPid(name);
      if (rebooted === init) await new Promise((r) => setTimeout(r, 100));
    }
    expect(rebooted).not.toBe(init);
    expect(sessionOf(rebooted)).toBe(session);
    await serve.drained();
    await waitFor('the rebooted init in the registry', () => containersNamed(name).some((c) => c.initPid === rebooted));
    const after = containersNamed(name).filter((c) => c.state === 'running');
    expect(after).toMatchObject([{ contid: before[0].contid, initPid: rebooted, session }]);
    // contid lxc start cleared the hook list for its start (the monitor keeps that for its life):
    // contid serve learned the new init from the monitor (op=update naming it), not from a hook.
    const updates = await waitForAudit(['-m', 'VIRT_CONTROL', '--vm-name', name], (l) => l.some((x) => field(x, 'op') === 'update' && field(x, 'vm-pid') === String(rebooted)));
    expect(updates.filter((x) => field(x, 'op') === 'update' && field(x, 'vm-pid') === String(rebooted)).map((x) => field(x, 'contid'))).toEqual([formatContainerId(before[0].contid)]);
    expect(run('lxc-stop', ['-n', name, '-k']).status).toBe(0);
    await serve.drained();
    await waitFor('every row of it ended', () => containersNamed(name).every((c) => c.state === 'ended'));
  });

  it('contid lxc start records the init itself, so LXC runs no start-host hook for its start; any other start of the container still runs it (untagged)', async () => {
    const name = make('own');
    const { init, session } = await startTagged(name);
    const [c] = containersNamed(name);
    expect(c).toMatchObject({ state: 'running', session, initPid: init, initStart: expect.any(Number) });
    expect(c.labels).toEqual({ 'lxc.config': `/var/lib/lxc/${name}/config`, 'lxc.rootfs': `/var/lib/lxc/${name}/rootfs` });
    // The instance record, for contid-lxc attach's fast path.
    expect(readFileSync(`${stateDir}/lxc/${name}`, 'utf8')).toBe(`${formatContainerId(c.contid)} ${session} ${init} ${c.initStart}\n`);
    // Every exec of the start's session is in the log (this suite's execve rule): lxc-start's and
    // the init's, but no hook's — LXC runs one as `sh -c "exec …/contid-lxc … hook"` (dash).
    const execs = await waitForAudit(['-m', 'SYSCALL', '--session', String(session)], (l) => l.some((x) => field(x, 'pid') === String(init) && field(x, 'syscall') === '59'));
    expect(execs.filter((x) => field(x, 'syscall') === '59').map((x) => field(x, 'exe'))).toContain('/usr/bin/lxc-start');
    expect(execs.filter((x) => field(x, 'syscall') === '59' && /\/(dash|sh)$/.test(field(x, 'exe') ?? ''))).toEqual([]);
    expect(run('lxc-stop', ['-n', name, '-k']).status).toBe(0);
    await settled(name, ['ended']);
    // The cleared hook list was that start's only: a plain start of the same container runs the
    // hook, which records it as untagged.
    expect(run('sh', ['-c', `echo 0 > /proc/self/loginuid && exec lxc-start -n ${name}`]).status).toBe(0);
    await waitForState(name, 'RUNNING');
    const plainInit = lxcInitPid(name);
    const rows = await settled(name, ['ended', 'untagged']);
    expect(rows[1]).toMatchObject({ initPid: plainInit, session: sessionOf(plainInit) });
    expect(run('lxc-stop', ['-n', name, '-k']).status).toBe(0);
    await settled(name, ['ended', 'ended']);
  });

  it("a monitor killed with SIGKILL (LXC removes its pid file only on a normal exit): contid serve records the end and removes contid lxc start's STATE_DIR/lxc/.monitor-SESSION", async () => {
    const name = make('monkill');
    // contid lxc start records the init itself once contid serve has made STATE_DIR/lxc (run alone, this test's start is the first).
    mkdirSync(`${stateDir}/lxc`, { recursive: true, mode: 0o700 });
    const { init, session } = await startTagged(name);
    const file = `${stateDir}/lxc/.monitor-${session}`;
    const monitor = Number(readFileSync(file, 'utf8').trim());
    expect(readFileSync(`/proc/${monitor}/cmdline`, 'utf8')).toMatch(/^\[lxc monitor\] /);
    try {
      process.kill(monitor, 'SIGKILL');
      await settled(name, ['ended']);
      await waitFor(`${file} removed`, () => !existsSync(file));
    } finally {
      // The init, left without its monitor, is nobody's to stop now (lxc-stop asks the monitor).
      process.kill(init, 'SIGKILL');
    }
  });

  it("contid lxc start reads the config as LXC does: an admin's start-host hook written with a tab before its = (or in an include so written, or a CRLF line) still runs — the own start is taken only when contid's hook is the only one (outside attack 17, F2)", async () => {
    const marker = `/tmp/contid-test-lxc-${process.pid}-admin-hook`;
    const hook = `${marker}.sh`;
    const extra = `${marker}.conf`;
    writeFileSync(hook, `#!/bin/sh\necho "$LXC_NAME" >> ${marker}\n`, { mode: 0o755 });
    writeFileSync(extra, `lxc.hook.start-host = ${hook}\n`);
    // Destroyed here, before the include file goes: a config naming a missing include cannot
    // even be stopped (afterAll would leave the container running).
    const made: string[] = [];
    try {
      for (const line of [`lxc.hook.start-host\t= ${hook}`, `lxc.include\t= ${extra}`, `lxc.hook.start-host =\t${hook}\r`, `\tlxc.include =\t${extra} \r`]) {
        const name = make('tab');
        made.push(name);
        appendFileSync(`/var/lib/lxc/${name}/config`, `${line}\n`);
        rmSync(marker, { force: true });
        await startTagged(name);
        expect([line, existsSync(marker) ? readFileSync(marker, 'utf8') : 'the admin hook did not run']).toEqual([line, `${name}\n`]);
        expect(run('lxc-stop', ['-n', name, '-k']).status).toBe(0);
        await settled(name, ['ended']);
      }
    } finally {
      made.forEach(destroyContainer);
      for (const f of [marker, hook, extra]) rmSync(f, { force: true });
    }
  });

  it('a container started without the wrapper is recorded as untagged (its session is not bound), then ended', async () => {
    const name = make('plain');
    // A session of its own, but one contid never bound: what a login shell would give it.
    expect(run('sh', ['-c', `echo 0 > /proc/self/loginuid && exec lxc-start -n ${name}`]).status).toBe(0);
    await waitForState(name, 'RUNNING');
    const init = lxcInitPid(name);
    const [c] = await settled(name, ['untagged']);
    expect(c).toMatchObject({ state: 'untagged', initPid: init, session: sessionOf(init) });
    expect(withRegistry((r) => r.containerOfSession(sessionOf(init)))).toBeUndefined();
    const [untagged] = await lifecycle(name, 'untagged');
    expect(field(untagged, 'vm-pid')).toBe(String(init));
    expect(field(untagged, 'contid')).toBe(formatContainerId(c.contid));

    expect(doctorOn(name)).toMatchObject({ status: 'warn', fix: `lxc-stop -n ${name} && contid lxc start ${name}` });
    // Searching it cannot answer "it did nothing": one line saying why, exit 1.
    const search = contid(['search', '--container', name, '--start', 'recent'], { env: state.env });
    expect(search.stdout).toBe('');
    // (other suites' unverifiable records in the same log may be counted on a line before it)
    expect(search.stderr.trimEnd().split('\n').pop()).toMatch(
      new RegExp(`^contid: container "${name}" is untagged: ${name} \\(contid ${formatContainerId(c.contid)}\\) was found running without an audit session of its own .*restart it through contid$`),
    );
    expect(search.status).toBe(1);
    // lxc-attach through contid still binds its own session, to the untagged container's ID.
    const entered = attach([name, '--', 'cat', '/proc/self/sessionid']);
    expect(entered.status).toBe(0);
    await serve.drained();
    expect(withRegistry((r) => r.containerOfSession(Number(entered.stdout))?.contid)).toBe(c.contid);

    expect(run('lxc-stop', ['-n', name, '-k']).status).toBe(0);
    await settled(name, ['ended']);
    await lifecycle(name, 'end');
  });

  it('attach while contid serve is down: the Node command records what waits in the spool first, then attaches', async () => {
    const name = make('down');
    await serve.stop();
    try {
      expect(lxcStart([name], state.env)).toMatchObject({ status: 0, stderr: '' });
      await waitForState(name, 'RUNNING');
      // No instance record yet (nothing recorded the init): contid-lxc hands over to Node.
      expect(containersNamed(name)).toEqual([]);
      const entered = attach([name, '--', 'cat', '/proc/self/sessionid']);
      expect(entered.stderr).toBe('');
      expect(entered.status).toBe(0);
      const [c] = containersNamed(name);
      expect(c).toMatchObject({ state: 'running', initPid: lxcInitPid(name), session: sessionOf(lxcInitPid(name)) });
      expect(withRegistry((r) => r.containerOfSession(Number(entered.stdout))?.contid)).toBe(c.contid);
    } finally {
      serve = startServe(state.env, state.dir);
    }
    expect(run('lxc-stop', ['-n', name, '-k']).status).toBe(0);
    await settled(name, ['ended']);
  });

  it('start of a container without contid\'s hook: tagged, with a warning; contid serve still records its end', async () => {
    const name = make('nohook', false);
    // contid-lxc cannot vouch for hooks that are not there: the Node command warns and binds.
    const r = lxcStart([name], state.env);
    expect(r.status).toBe(0);
    const warnings = r.stderr.trim().split('\n');
    expect(warnings).toEqual([expect.stringMatching(/^contid: warning: LXC container "[^"]+" has no contid lxc\.hook\.start-host: .*run "contid install lxc /)]);
    await waitForState(name, 'RUNNING');
    const [row] = containersNamed(name);
    expect(row).toMatchObject({ state: 'running', session: sessionOf(lxcInitPid(name)) });
    expect(run('lxc-stop', ['-n', name, '-k']).status).toBe(0);
    // No hook, and no spool entry (the Node command bound it): contid serve finds the open row
    // (it looks every few seconds) and records the end once the monitor is gone.
    await settled(name, ['ended']);
    const [end] = await lifecycle(name, 'end');
    expect(field(end, 'contid')).toBe(formatContainerId(row.contid));
  });

  it('two containers started at once get two IDs and two sessions, each on its own processes only', async () => {
    const pair = [make('one'), make('two')];
    const started = await Promise.all(
      pair.map(
        (name) =>
          new Promise<number | null>((done) => {
            const child = spawn(CONTID_LXC, ['start', name], { env: withCli(state.env), stdio: 'ignore' });
            child.on('exit', (code) => done(code));
          }),
      ),
    );
    expect(started).toEqual([0, 0]);
    await Promise.all(pair.map((n) => waitForState(n, 'RUNNING')));
    const inits = pair.map(lxcInitPid);
    const sessions = inits.map(sessionOf);
    expect(sessions[0]).not.toBe(sessions[1]);
    await serve.drained();
    await waitFor('both inits in the registry', () => pair.every((n, i) => containersNamed(n).some((c) => c.initPid === inits[i])));
    const rows = pair.map((n) => containersNamed(n));
    expect(rows.map((r) => r.length)).toEqual([1, 1]);
    expect(rows[0][0].contid).not.toBe(rows[1][0].contid);
    rows.forEach(([c], i) => expect(c).toMatchObject({ state: 'running', session: sessions[i], initPid: inits[i] }));
    inits.forEach((init, i) => expect(processTree(init).map(sessionOf).every((x) => x === sessions[i])).toBe(true));
    await Promise.all(pair.map((n) => new Promise((done) => spawn('lxc-stop', ['-n', n, '-k']).on('exit', done))));
    for (const n of pair) await settled(n, ['ended']);
  });

  it('nesting: a container started from inside a tagged container records it as its parent (hooks with lxc.hook.version = 1)', async () => {
    const name = make('nested');
    // and with hook.version 1, LXC passes the hook type in LXC_HOOK_TYPE instead of argv
    run('sh', ['-c', `echo 'lxc.hook.version = 1' >> /var/lib/lxc/${name}/config`]);
    const outer = `${name}-outer`;
    const r = contid(['exec', '--name', outer, '--', buildLxcFast(), 'start', name], { env: withCli(state.env) });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    await waitForState(name, 'RUNNING');
    const parent = withRegistry((reg) => reg.find(outer))!;
    await serve.drained();
    await waitFor(`${name}'s init in the registry`, () => containersNamed(name).some((c) => c.initPid === lxcInitPid(name)));
    const [c] = containersNamed(name);
    expect(c.parent).toBe(parent.contid);
    expect(c.initPid).toBe(lxcInitPid(name));
    expect(c.session).not.toBe(parent.session);
    const [create] = await lifecycle(name, 'create');
    expect(field(create, 'parent-contid')).toBe(formatContainerId(parent.contid));
    expect(run('lxc-stop', ['-n', name, '-k']).status).toBe(0);
    await settled(name, ['ended']);
  });

  // The installed hook (contid-lxc, sh) only spools; contid serve records. The Node ones record themselves.
  describe.each([
    ['contid-lxc hook (installed)', true, (args: string[]) => [CONTID_LXC, '--state-dir', stateDir, 'hook', ...args]],
    ['contid lxc hook', false, (args: string[]) => [process.execPath, CONTID_MAIN, 'lxc', 'hook', ...args]],
    ['hook-main.js', false, (args: string[]) => [process.execPath, HOOK_MAIN_DIST, '--state-dir', stateDir, ...args]],
  ])('the hook (%s) given bad environment fails with one line and writes nothing', (_entry, spooled, argv) => {
    const hook = (env: Record<string, string>, args: string[] = []) => {
      const [cmd, ...rest] = argv(args);
      return run(cmd, rest, { env: { ...state.env, ...env } });
    };
    const cases: [string, Record<string, string>, string[], number, RegExp][] = [
      ['no hook type', { LXC_NAME: 'contid-t-x' }, [], 2, /no hook type/],
      ['an unsupported hook type', { LXC_NAME: 'contid-t-x', LXC_HOOK_TYPE: 'pre-mount' }, [], 2, /unsupported LXC hook type "pre-mount"/],
      ['no LXC_NAME', { LXC_PID: '1' }, ['contid-t-x', 'lxc', 'start-host'], 2, /LXC_NAME is not set/],
      ['start-host without LXC_PID', { LXC_NAME: 'contid-t-x' }, ['contid-t-x', 'lxc', 'start-host'], 2, /LXC_PID is not set/],
      ['a non-numeric LXC_PID', { LXC_NAME: 'contid-t-x', LXC_PID: '12; rm' }, ['contid-t-x', 'lxc', 'start-host'], 2, /LXC_PID must be a pid/],
      ['an LXC_PID that is not running', { LXC_NAME: 'contid-t-x', LXC_PID: '4194303' }, ['contid-t-x', 'lxc', 'start-host'], 1, /LXC_PID 4194303 is not a running process/],
      ['post-stop for an unknown name', { LXC_NAME: 'contid-t-unknown', LXC_PID: '1' }, ['contid-t-unknown', 'lxc', 'post-stop'], 1, /no running LXC container "contid-t-unknown"/],
      ['arguments naming another container', { LXC_NAME: 'contid-t-x', LXC_PID: '1' }, ['contid-t-y', 'lxc', 'start-host'], 2, /LXC_NAME is "contid-t-x"/],
    ];
    it.each(cases)('%s', async (what, env, args, status, message) => {
      const before = rowCount();
      const r = hook(env, args);
      if (spooled && what === 'post-stop for an unknown name') {
        // The sh hook cannot read the registry: it spools the end, and contid serve ends nothing.
        expect(r).toMatchObject({ status: 0, stderr: '' });
      } else {
        expect(r.status).toBe(status);
        expect(r.stderr).toMatch(/^contid: [^\n]+\n$/);
        expect(r.stderr).toMatch(message);
      }
      if (spooled) await serve.drained();
      expect(rowCount()).toBe(before);
    });

    it('start-host for a process that shares an unbound session: untagged, with a warning naming the fix', async () => {
      const sleeper = spawn('sleep', ['30']);
      try {
        const r = hook({ LXC_NAME: 'contid-t-byhand', LXC_PID: String(sleeper.pid) }, ['contid-t-byhand', 'lxc', 'start-host']);
        expect(r.status).toBe(0);
        expect(r.stderr).toMatch(/^contid: warning: LXC container "contid-t-byhand" was started without contid .*Start it with "contid lxc start contid-t-byhand"\n$/);
        if (spooled) await serve.drained();
        expect(containersNamed('contid-t-byhand').filter((c) => c.initPid === sleeper.pid)).toMatchObject([{ state: 'untagged' }]);
      } finally {
        sleeper.kill();
      }
    });
  });

  it('install lxc (global): the common.conf.d snippet hooks containers that include common.conf; the lxc@.service command starts them tagged', async () => {
    for (const f of [GLOBAL_SNIPPET, SYSTEMD_DROP_IN]) expect(existsSync(f)).toBe(false);
    const name = make('global', false);
    run('sh', ['-c', `echo 'lxc.include = /usr/share/lxc/config/common.conf' >> /var/lib/lxc/${name}/config`]);
    try {
      const r = contid(['install', 'lxc'], { env: state.env });
      expect(r.status).toBe(0);
      expect(readFileSync(GLOBAL_SNIPPET, 'utf8')).toContain(`lxc.hook.start-host = ${CONTID_LXC} --state-dir ${stateDir} hook\n`);
      // What systemd would run for lxc@NAME.service: the unit's last ExecStart, %i filled in.
      const execStart = readFileSync(SYSTEMD_DROP_IN, 'utf8').split('\n').filter((l) => l.startsWith('ExecStart=')).pop()!;
      const argv = execStart.slice('ExecStart='.length).split(' ').map((w) => (w === '%i' ? name : w));
      expect(argv).toEqual([CONTID_LXC, '--state-dir', stateDir, 'start', name, '--', '-F']);
      // systemd would set CONTID_CLI from the drop-in's Environment= line.
      const cli = /^Environment="CONTID_CLI=(.+)"$/m.exec(readFileSync(SYSTEMD_DROP_IN, 'utf8'))![1];
      expect(cli).toBe(`${process.execPath} ${CONTID_MAIN}`);
      const unit = spawn(argv[0], argv.slice(1), { stdio: 'ignore', env: { ...process.env, CONTID_CLI: cli } });
      const exited = new Promise<number | null>((done) => unit.on('exit', (code) => done(code)));
      await waitForState(name, 'RUNNING');
      const init = lxcInitPid(name);
      // The hook came from the global snippet (this container's own config has none).
      await serve.drained();
      await waitFor(`${name}'s init in the registry`, () => containersNamed(name).some((c) => c.initPid === init));
      expect(containersNamed(name)).toMatchObject([{ state: 'running', initPid: init, session: sessionOf(init) }]);
      // No Node on the way: contid-lxc spooled the create itself.
      expect(withRegistry((r) => r.bindings(containersNamed(name)[0].contid)[0].detail.spoolEntry)).toMatch(new RegExp(`^${sessionOf(init)}-create-\\d+\\.entry$`));
      expect(run('lxc-stop', ['-n', name]).status).toBe(0);
      expect(await exited).toBe(0);
      await settled(name, ['ended']);
    } finally {
      const u = contid(['uninstall', 'lxc'], { env: state.env });
      expect(u.status).toBe(0);
    }
    for (const f of [GLOBAL_SNIPPET, SYSTEMD_DROP_IN]) expect(existsSync(f)).toBe(false);
  });

  it('install/uninstall lxc NAME edits only contid\'s block of the container config', async () => {
    const name = make('cfg', false);
    const file = `/var/lib/lxc/${name}/config`;
    const pristine = readFileSync(file, 'utf8');
    expect(contid(['install', 'lxc', name], { env: state.env }).status).toBe(0);
    expect(contid(['install', 'lxc', name], { env: state.env }).status).toBe(0);
    const installed = readFileSync(file, 'utf8');
    expect(installed.match(/lxc\.hook\.start-host = /g)).toHaveLength(1);
    expect(installed).not.toMatch(/lxc\.hook\.post-stop/);

    // A wrapper using another registry than the hooks: warned, and the hooks' registry sees an untagged start.
    const other = `${stateDir}-other`;
    const mismatched = lxcStart([name], { ...state.env, CONTID_STATE_DIR: other });
    expect(mismatched.status).toBe(0);
    expect(mismatched.stderr).toContain(`contid lxc.hook.start-host uses another registry than ${other}`);
    await settled(name, ['untagged']);
    expect(run('lxc-stop', ['-n', name, '-k']).status).toBe(0);
    rmSync(other, { recursive: true, force: true });
    expect(contid(['uninstall', 'lxc', name], { env: state.env }).stdout).toMatch(/removed contid's hooks/);
    expect(readFileSync(file, 'utf8').trimEnd()).toBe(pristine.trimEnd());
    const missing = contid(['install', 'lxc', 'contid-t-nosuch'], { env: state.env });
    expect(missing.status).toBe(1);
    expect(missing.stderr).toMatch(/^contid: LXC container "contid-t-nosuch" has no config at \/var\/lib\/lxc\/contid-t-nosuch\/config\n$/);
  });
});
