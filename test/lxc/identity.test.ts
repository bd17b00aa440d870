import { readFileSync, readdirSync } from 'node:fs';
import { ContainerRecord, Registry, decodeValue, formatContainerId } from '@contid/core';
import { field, waitForAudit } from '../helpers/audit';
import { contid, run, tempStateDir } from '../helpers/cli';
import { waitFor } from '../helpers/wait';
import { startServe } from '../helpers/serve';
import { createContainer, destroyContainer, lxcAttach, lxcInitPid, lxcName, lxcStart, sessionOf, waitForState } from './lxc-host';

/**
 * The identity an LXC container gets must hold: root inside cannot leave it, and the registry
 * tells the truth about which instance runs (real LXC, real kernel, real auditd).
 */
describe('LXC identity holds (real LXC, real kernel audit, real auditd)', () => {
  const state = tempStateDir('lxcid');
  const names: string[] = [];
  let serve = startServe(state.env, state.dir);
  afterAll(async () => {
    names.forEach(destroyContainer);
    await serve.stop();
    state.cleanup();
  });

  function make(label: string): { name: string; config: string } {
    const name = lxcName(label);
    names.push(name);
    return { name, config: createContainer(name) };
  }
  const rows = (name: string): ContainerRecord[] => {
    const r = Registry.open(state.env.CONTID_STATE_DIR!);
    try {
      return r.list({ orchestrator: 'lxc' }).filter((c) => c.runtimeId === name);
    } finally {
      r.close();
    }
  };
  const doctor = (): { check: string; status: string; detail: string; fix?: string }[] =>
    contid(['doctor', '--json'], { env: state.env })
      .stdout.split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { check: string; status: string; detail: string; fix?: string });
  const capBnd = (pid: number): bigint => BigInt('0x' + /^CapBnd:\s*([0-9a-f]+)$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);
  const AUDIT_CONTROL = 1n << 30n;
  const SYS_ADMIN = 1n << 21n;
  const escape = "echo 0 > /proc/self/loginuid && cat /proc/self/sessionid";

  const sessionCarried = (session: number): boolean =>
    readdirSync('/proc')
      .filter((p) => /^\d+$/.test(p))
      .some((p) => {
        try {
          return sessionOf(Number(p)) === session;
        } catch {
          return false;
        }
      });

  async function start(name: string, quiet = true): Promise<number> {
    const r = lxcStart([name], state.env);
    if (quiet) expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    await waitForState(name, 'RUNNING');
    const init = lxcInitPid(name);
    // contid serve records what contid-lxc and its start-host hook spooled.
    await serve.drained();
    await waitFor(`${name}'s row`, () => rows(name).length > 0);
    return init;
  }

  it('contid install lxc NAME drops audit_control: root in the container cannot renew its session', async () => {
    const { name, config } = make('capdrop');
    const install = contid(['install', 'lxc', name], { env: state.env });
    expect(install.status).toBe(0);
    expect(install.stderr).toBe('');
    expect(readFileSync(config, 'utf8')).toMatch(/^lxc\.cap\.drop = audit_control$/m);
    const init = await start(name);
    expect(capBnd(init) & AUDIT_CONTROL).toBe(0n);

    const attach = lxcAttach([name, '--', 'sh', '-c', escape], state.env);
    expect(attach.status).not.toBe(0);
    expect(attach.stdout).toBe('');
    expect(doctor().find((r) => r.check === 'containers with CAP_AUDIT_CONTROL')).toMatchObject({ status: 'ok' });
    expect(run('lxc-stop', ['-n', name, '-k']).status).toBe(0);
  });

  it('a privileged container with no AppArmor confinement keeps CAP_SYS_ADMIN: root in it reaches kernel.core_pattern through a fresh /proc, and doctor says it can leave (outside attack 13, F8)', async () => {
    const { name } = make('sysadmin');
    expect(contid(['install', 'lxc', name], { env: state.env }).status).toBe(0);
    const init = await start(name);
    expect(capBnd(init) & AUDIT_CONTROL).toBe(0n);
    expect(capBnd(init) & SYS_ADMIN).toBe(SYS_ADMIN);
    const [c] = rows(name);

    // The route is open: root inside mounts a fresh procfs and may write the host-wide
    // core_pattern (written back unchanged here; an attacker names a program in its rootfs,
    // which the kernel then runs as host root in no audit session).
    const reach = lxcAttach([name, '--', 'sh', '-c', 'mkdir -p /tmp/p && mount -t proc proc /tmp/p && v=$(cat /tmp/p/sys/kernel/core_pattern) && printf "%s\\n" "$v" > /tmp/p/sys/kernel/core_pattern && umount /tmp/p && echo open'], state.env);
    expect(reach.stdout.trim()).toBe('open');

    const warned = doctor().filter((r) => r.check === 'containers with CAP_SYS_ADMIN on the host' && r.detail.includes(formatContainerId(c.contid)));
    expect(warned).toHaveLength(1);
    expect(warned[0]).toMatchObject({ status: 'warn', fix: expect.stringContaining('lxc.idmap') });
    expect(warned[0].detail).toContain(`pid ${init}`);
    expect(warned[0].detail).toContain('core_pattern');

    // with sys_admin dropped as the fix says, the route is closed and doctor has nothing to say of it
    expect(run('lxc-stop', ['-n', name, '-k']).status).toBe(0);
    await serve.drained();
    run('sh', ['-c', `echo 'lxc.cap.drop = sys_admin' >> /var/lib/lxc/${name}/config`]);
    const again = await start(name);
    expect(capBnd(again) & SYS_ADMIN).toBe(0n);
    expect(lxcAttach([name, '--', 'sh', '-c', 'mkdir -p /tmp/p && mount -t proc proc /tmp/p && echo open'], state.env).stdout.trim()).not.toBe('open');
    expect(doctor().filter((r) => r.check === 'containers with CAP_SYS_ADMIN on the host' && r.detail.includes(`pid ${again}`))).toEqual([]);
    expect(run('lxc-stop', ['-n', name, '-k']).status).toBe(0);
  });

  it('a config that keeps audit_control: install warns, doctor names the live init and the LXC fix, and root can indeed leave', async () => {
    const { name, config } = make('capkeep');
    // What an administrator might write: LXC refuses drop and keep together, so contid leaves the keep.
    run('sh', ['-c', `sed -i '/^lxc.cap.drop/d' ${config} && echo 'lxc.cap.keep = sys_admin audit_control' >> ${config}`]);
    const install = contid(['install', 'lxc', name], { env: state.env });
    expect(install.status).toBe(0);
    expect(install.stderr).toMatch(new RegExp(`^contid: warning: LXC container "${name}" keeps CAP_AUDIT_CONTROL \\(${config}: lxc.cap.keep = sys_admin audit_control\\)`));
    expect(readFileSync(config, 'utf8')).not.toMatch(/^lxc\.cap\.drop/m);
    const init = await start(name);
    expect(capBnd(init) & AUDIT_CONTROL).toBe(AUDIT_CONTROL);

    const [c] = rows(name);
    const holders = doctor().filter((r) => r.check === 'containers with CAP_AUDIT_CONTROL' && r.detail.includes(formatContainerId(c.contid)));
    expect(holders).toHaveLength(1);
    expect(holders[0]).toMatchObject({ status: 'warn', fix: expect.stringContaining('lxc.cap.drop = audit_control') });
    expect(holders[0].detail).toContain(`pid ${init}`);

    // The escape doctor warns about is real: the attached shell gets an unbound session.
    const attach = lxcAttach([name, '--', 'sh', '-c', escape], state.env);
    expect(attach.status).toBe(0);
    const r = Registry.open(state.env.CONTID_STATE_DIR!);
    expect(r.containerOfSession(Number(attach.stdout.trim()))).toBeUndefined();
    r.close();
    expect(run('lxc-stop', ['-n', name, '-k']).status).toBe(0);
  });

  it('a stale row (stopped while contid serve was down), then a plain lxc-start: doctor warns, attach refuses, ps ends the row as found gone', async () => {
    const { name } = make('stale');
    // Hooks off and contid serve down: nothing records the stop or the untagged restart.
    await serve.stop();
    expect(lxcStart([name], state.env).status).toBe(0);
    await waitForState(name, 'RUNNING');
    const [stale] = rows(name);
    expect(run('lxc-stop', ['-n', name, '-k']).status).toBe(0);
    // LXC's monitor (which carries the session) exits a moment after lxc-stop returns.
    await waitFor('the old monitor to exit', () => !sessionCarried(stale.session!));
    expect(rows(name).map((c) => c.state)).toEqual(['running']);
    expect(run('lxc-start', ['-n', name]).status).toBe(0);
    await waitForState(name, 'RUNNING');
    expect(sessionOf(lxcInitPid(name))).not.toBe(stale.session);

    // Doctor reads only: it must not call this instance tagged.
    const check = doctor().find((r) => r.check === `lxc ${name}`);
    expect(check).toMatchObject({ status: 'warn', fix: `lxc-stop -n ${name} && contid lxc start ${name}` });
    expect(check?.detail).not.toMatch(/^tagged/);

    const attach = lxcAttach([name, '--', 'true'], state.env);
    expect(attach.status).toBe(1);
    expect(attach.stderr).toMatch(new RegExp(`^contid: LXC container "${name}" is running but not in the registry .*\\n$`));
    expect(rows(name)).toMatchObject([{ contid: stale.contid, state: 'ended' }]);
    const ends = await waitForAudit(['-m', 'VIRT_CONTROL', '--vm-name', name], (l) => l.some((x) => field(x, 'op') === 'end'));
    const end = ends.find((x) => field(x, 'op') === 'end' && field(x, 'contid') === formatContainerId(stale.contid));
    expect(end && decodeValue(field(end, 'reason')!)).toBe('found gone');

    const ps = contid(['ps'], { env: state.env });
    expect(ps.status).toBe(0);
    expect(ps.stdout).not.toContain(formatContainerId(stale.contid));
    expect(contid(['ps', '--all'], { env: state.env }).stdout).toContain(formatContainerId(stale.contid));
    expect(run('lxc-stop', ['-n', name, '-k']).status).toBe(0);
    serve = startServe(state.env, state.dir);
    await serve.drained();
  });
});
