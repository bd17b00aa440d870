import { spawn } from 'node:child_process';
import { existsSync, readFileSync, readlinkSync } from 'node:fs';
import { ContainerRecord, Registry, formatContainerId } from '@contid/core';
import { GLOBAL_SNIPPET, SYSTEMD_DROP_IN } from '@contid/lxc';
import { addExecveRule, ausearch, deleteExecveRule, field, waitForAudit } from '../helpers/audit';
import { CONTID_MAIN, contid, run, tempStateDir } from '../helpers/cli';
import { createContainer, destroyContainer, lxcInitPid, lxcName, lxcStateOf, processTree, sessionOf, waitForState } from './lxc-host';

/**
 * contid's LXC adapter on real LXC (busybox containers), the real kernel audit subsystem and
 * the real auditd as the witness. Hooks are run by LXC itself, through the built CLI.
 */
describe('LXC through contid (real LXC, real kernel audit, real auditd)', () => {
  const state = tempStateDir('lxc');
  const stateDir = state.env.CONTID_STATE_DIR!;
  const key = `contid-lxc-${process.pid}`;
  const names: string[] = [];

  beforeAll(() => addExecveRule(key));
  afterAll(() => {
    names.forEach(destroyContainer);
    deleteExecveRule(key);
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
  const rowCount = (): number => withRegistry((r) => r.list().length + r.list().reduce((n, c) => n + r.bindings(c.contid).length, 0));

  const lifecycle = (name: string, op: string): Promise<string[]> =>
    waitForAudit(['-m', 'VIRT_CONTROL', '--vm-name', name], (l) => l.some((x) => field(x, 'op') === op)).then((l) => l.filter((x) => field(x, 'op') === op));

  async function startTagged(name: string): Promise<{ init: number; session: number; wrapperPid: number }> {
    const r = contid(['lxc', 'start', name], { env: state.env });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    await waitForState(name, 'RUNNING');
    const init = lxcInitPid(name);
    return { init, session: sessionOf(init), wrapperPid: r.pid };
  }

  // start → attach → stop → restart run in order on one container.
  let name = '';
  let first: ContainerRecord;

  it('start via the wrapper: the init and every process under it carry one fresh session, bound and logged', async () => {
    name = make('start');
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

    // The kernel logged the renewal by the wrapper; contid logged the binding.
    const login = await waitForAudit(['-m', 'LOGIN', '--session', String(session)], (l) => l.length > 0);
    expect(login).toHaveLength(1);
    expect(field(login[0], 'pid')).toBe(String(wrapperPid));
    const [create] = await lifecycle(name, 'create');
    expect(field(create, 'virt')).toBe('lxc');
    expect(field(create, 'vm-ses')).toBe(String(session));
    expect(field(create, 'contid')).toBe(formatContainerId(c.contid));

    // The execs of the container's processes (kernel SYSCALL records, our rule) are all in its session.
    const ours = new Set(tree.map(String));
    const execs = (await waitForAudit(['-k', key], (l) => l.some((x) => x.startsWith('type=SYSCALL') && ours.has(field(x, 'pid')!)))).filter(
      (l) => l.startsWith('type=SYSCALL') && ours.has(field(l, 'pid')!),
    );
    expect(execs.length).toBeGreaterThan(0);
    expect(execs.map((l) => field(l, 'ses'))).toEqual(execs.map(() => String(session)));
  });

  it('attach: the attached command gets a fresh session bound to the same contid as op=setns', async () => {
    const r = contid(['lxc', 'attach', name, '--', 'sh', '-c', 'echo $(cat /proc/self/sessionid); /bin/true; hostname'], { env: state.env });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const [ses, host] = r.stdout.trim().split('\n');
    const attached = Number(ses);
    expect(host).toBe(name);
    expect(attached).not.toBe(first.session);
    expect(attached).not.toBe(sessionOf('self'));

    const bindings = withRegistry((reg) => reg.bindings(first.contid));
    expect(bindings.map((b) => [b.op, b.session])).toEqual([
      ['create', first.session],
      ['setns', attached],
    ]);
    expect(withRegistry((reg) => reg.containerOfSession(attached)?.contid)).toBe(first.contid);
    const [setns] = await lifecycle(name, 'setns');
    expect(field(setns, 'vm-ses')).toBe(String(attached));
    expect(field(setns, 'contid')).toBe(formatContainerId(first.contid));
    // the container's /bin/true ran in the attach session
    const execs = await waitForAudit(['--session', String(attached), '-k', key], (l) => l.some((x) => field(x, 'comm') === 'true'));
    expect(execs.some((x) => x.startsWith('type=SYSCALL') && field(x, 'comm') === 'true')).toBe(true);
    // lxc-attach's exit status is the command's
    expect(contid(['lxc', 'attach', name, '--', 'sh', '-c', 'exit 3'], { env: state.env }).status).toBe(3);
  });

  it('stop: the post-stop hook ends the container (op=end)', async () => {
    expect(run('lxc-stop', ['-n', name]).status).toBe(0);
    expect(lxcStateOf(name)).toBe('STOPPED');
    expect(containersNamed(name).map((c) => c.state)).toEqual(['ended']);
    const [end] = await lifecycle(name, 'end');
    expect(field(end, 'contid')).toBe(formatContainerId(first.contid));
    const attach = contid(['lxc', 'attach', name, '--', 'true'], { env: state.env });
    expect(attach.status).toBe(1);
    expect(attach.stderr).toMatch(/^contid: LXC container "[^"]+" is stopped, not running\n$/);
  });

  it('restart: a new start is a new container ID in a new session', async () => {
    const { init, session } = await startTagged(name);
    expect(session).not.toBe(first.session);
    const again = containersNamed(name);
    expect(again.map((c) => c.state)).toEqual(['ended', 'running']);
    expect(again[1].contid).not.toBe(first.contid);
    expect(again[1]).toMatchObject({ session, initPid: init });
    expect(run('lxc-stop', ['-n', name]).status).toBe(0);
    expect(containersNamed(name).map((c) => c.state)).toEqual(['ended', 'ended']);
  });
});
