import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkUnitProcess } from '../src';

/** $MAINPID is trusted only as a process of the unit: systemd lets the unit's own Environment= set it. */
describe('checkUnitProcess: $MAINPID must be in the unit cgroup', () => {
  const proc = mkdtempSync(join(tmpdir(), 'contid-unit-process-'));
  const inv = (cgroup: string) => ({ invocationId: 'a'.repeat(32), unit: 'web.service', cgroup });
  const pidIn = (pid: number, text: string): number => {
    mkdirSync(join(proc, String(pid)), { recursive: true });
    writeFileSync(join(proc, String(pid), 'cgroup'), text);
    return pid;
  };
  afterAll(() => rmSync(proc, { recursive: true, force: true }));

  it.each([
    ['the unit cgroup itself', '0::/system.slice/web.service\n', '/system.slice/web.service'],
    ['a sub-cgroup of a delegated unit', '0::/system.slice/web.service/payload\n', '/system.slice/web.service'],
    ["the binder in a delegated unit's .control", '0::/system.slice/web.service\n', '/system.slice/web.service/.control'],
    ['cgroup v1 (name=systemd)', '12:cpu:/\n1:name=systemd:/system.slice/web.service\n', '/system.slice/web.service'],
  ])('accepts %s', (_what, text, unitCgroup) => {
    expect(() => checkUnitProcess(pidIn(100, text), inv(unitCgroup), proc)).not.toThrow();
  });

  it.each([
    ['another unit', '0::/system.slice/db.service\n'],
    ['a login session', '0::/user.slice/user-0.slice/session-3.scope\n'],
    ['a unit whose name only starts like it', '0::/system.slice/web.service2\n'],
    ['the parent slice', '0::/system.slice\n'],
  ])('refuses a process of %s, in one line', (_what, text) => {
    expect(() => checkUnitProcess(pidIn(200, text), inv('/system.slice/web.service'), proc)).toThrow(/^\$MAINPID 200 is not a process of web\.service \(cgroup [^\n]*\); not binding its session$/);
  });

  it('refuses when the unit cgroup is unknown, and a pid that is gone', () => {
    expect(() => checkUnitProcess(pidIn(300, '0::/\n'), inv(''), proc)).toThrow(/not a process of web\.service/);
    expect(() => checkUnitProcess(999, inv('/system.slice/web.service'), proc)).toThrow('$MAINPID 999 of web.service is gone');
  });
});
