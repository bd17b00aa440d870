import { ChildProcess, spawn } from 'node:child_process';
import { chmodSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Tagger } from '@contid/core';
import { CONTID_MAIN, contid } from '../helpers/cli';
import { ServiceProcess, sessionOf } from './harness';

type Check = { check: string; status: string; detail: string; fix?: string };

/** `contid doctor`'s security checks against real files, a real service and real processes. */
describe('contid doctor: security checks (real service, real processes)', () => {
  const service = new ServiceProcess('doctor');
  const children: ChildProcess[] = [];
  beforeAll(() => service.start());
  afterAll(async () => {
    for (const c of children) c.kill('SIGKILL');
    await service.stop();
    service.cleanup();
  });

  const doctor = (): Map<string, Check> => {
    const r = contid(['doctor', '--json'], { env: service.env });
    return new Map(
      r.stdout
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Check)
        .map((c) => [c.check, c]),
    );
  };

  /**
   * A root process that dropped CAP_AUDIT_CONTROL (and CAP_SYS_ADMIN) from its bounding set
   * after putting them in its inheritable set: execve gives them back as permitted.
   */
  const HIDING = ['setpriv', '--inh-caps', '+audit_control,+sys_admin', 'setpriv', '--bounding-set', '-audit_control,-sys_admin'];

  /** A long-running process tagged by contid exec, optionally without CAP_AUDIT_CONTROL (or hiding it from its bounding set). */
  async function tagged(name: string, dropAuditControl: boolean | 'hidden'): Promise<number> {
    const cmd = dropAuditControl === 'hidden' ? [...HIDING, 'sleep', '60'] : dropAuditControl ? ['setpriv', '--bounding-set', '-audit_control', '--inh-caps', '-all', 'sleep', '60'] : ['sleep', '60'];
    const child = spawn(process.execPath, [CONTID_MAIN, 'exec', '--name', name, '--', ...cmd], { env: service.env, stdio: 'ignore' });
    children.push(child);
    const mine = sessionOf('self');
    for (let i = 0; i < 100 && (sessionOf(child.pid!) === mine || !readFileSync(`/proc/${child.pid}/comm`, 'utf8').startsWith('sleep')); i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    return child.pid!;
  }

  it('passes a root-only service socket and registry', async () => {
    await tagged('holds-nothing', true);
    const checks = doctor();
    expect(checks.get('service socket')).toMatchObject({ status: 'ok' });
    expect(checks.get('registry files')).toMatchObject({ status: 'ok' });
    expect(checks.get('untagged workloads')).toMatchObject({ status: 'ok' });
    expect(checks.get('containers with CAP_AUDIT_CONTROL')).toMatchObject({ status: 'ok' });
  });

  it('as a user other than root, says it cannot tell whether auditd runs, never that it does not (outside attack 6)', () => {
    const r = contid(['doctor', '--json'], { env: service.env, prefix: ['setpriv', '--reuid', '65534', '--regid', '65534', '--clear-groups'] });
    const checks = new Map(r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Check).map((c) => [c.check, c]));
    for (const name of ['audit', 'auditd']) {
      expect(checks.get(name)?.status).toBe('warn');
      expect(checks.get(name)?.detail).toMatch(/cannot tell/);
      expect(checks.get(name)?.fix).toMatch(/as root/);
    }
  });

  it('flags a container whose process holds CAP_AUDIT_CONTROL, and only that one', async () => {
    const pid = await tagged('holds-audit-control', false);
    const check = doctor().get('containers with CAP_AUDIT_CONTROL')!;
    expect(check.status).toBe('warn');
    expect(check.detail).toContain(`holds-audit-control`);
    expect(check.detail).toContain(`pid ${pid}`);
    expect(check.detail).not.toContain('holds-nothing');
  });

  // Outside attack 15, F4: the check read the bounding set alone; a process that dropped the
  // capability from it but kept it permitted was not named, and could still leave.
  it('flags a container whose process dropped CAP_AUDIT_CONTROL from its bounding set but still holds it', async () => {
    const pid = await tagged('hides-audit-control', 'hidden');
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const bit = (set: string) => (BigInt('0x' + new RegExp(`^${set}:\\s*([0-9a-f]+)$`, 'm').exec(status)![1]) >> 30n) & 1n;
    expect([bit('CapBnd'), bit('CapPrm')]).toEqual([0n, 1n]);
    const check = doctor().get('containers with CAP_AUDIT_CONTROL')!;
    expect(check.status).toBe('warn');
    expect(check.detail).toContain(`pid ${pid}`);
    // what it warns about is real: such a process renews its loginuid
    const leave = contid(['exec', '--name', 'hides-and-leaves', '--', ...HIDING, 'sh', '-c', 'echo 0 > /proc/self/loginuid && echo left'], { env: service.env });
    expect(leave.stdout.trim()).toBe('left');
  });

  // Outside attack 10, F3: the name is the container's (a nested orchestrator names its children
  // as it likes); printed raw, CR + ESC[2J cleared the warning and printed "all clear" instead.
  it('prints the name of the container it warns about escaped: it cannot erase its own warning', async () => {
    const name = 'doc-evil\r\x1b[2J\x1b[1;1Hcontid: all clear\nok    containers with CAP_AUDIT_CONTROL: none';
    const pid = await tagged(name, false);
    const r = contid(['doctor'], { env: service.env });
    const line = r.stdout.split('\n').find((l) => l.includes(`pid ${pid}`));
    expect(line).toMatch(/^WARN  containers with CAP_AUDIT_CONTROL: .*doc-evil\\r\\x1b\[2J\\x1b\[1;1Hcontid: all clear\\nok {4}containers/);
    expect(r.stdout).not.toMatch(/[\r\x1b]/);
    expect(r.stdout.split('\n').filter((l) => l.startsWith('ok    containers with CAP_AUDIT_CONTROL'))).toEqual([]);
  });

  it('lists untagged workloads', async () => {
    const sleeper = spawn('sleep', ['60'], { stdio: 'ignore' });
    children.push(sleeper);
    const tagger = Tagger.open({ stateDir: service.stateDir });
    tagger.recordUntagged({ orchestrator: 'systemd', name: 'legacy-daemon', pid: sleeper.pid! });
    tagger.close();
    expect(doctor().get('untagged workloads')).toMatchObject({ status: 'warn', detail: expect.stringContaining('legacy-daemon') });
  });

  it('fails on a service socket or registry files others can reach, with the fix', () => {
    chmodSync(dirname(service.socket), 0o755);
    chmodSync(service.socket, 0o666);
    chmodSync(join(service.stateDir, 'registry.db'), 0o644);
    const r = contid(['doctor'], { env: service.env });
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/FAIL {2}service socket: .* is mode 755.* — fix: chmod 700 /);
    expect(r.stdout).toMatch(/FAIL {2}registry files: .*registry\.db is mode 644/);
    chmodSync(dirname(service.socket), 0o700);
    chmodSync(service.socket, 0o600);
    chmodSync(join(service.stateDir, 'registry.db'), 0o600);
  });
});
