import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { auditdRunner, restartAdvice } from '../src/live/auditd-service';

describe('how the host runs auditd (for restarting it the same way)', () => {
  const root = mkdtempSync(join(tmpdir(), 'contid-auditd-runner-'));
  const proc = join(root, 'proc');
  const systemd = join(root, 'run-systemd-system');
  const fakeAuditd = (pid: number, cgroup: string, argv: string[]): void => {
    mkdirSync(join(proc, String(pid)), { recursive: true });
    writeFileSync(join(proc, String(pid), 'cgroup'), cgroup);
    writeFileSync(join(proc, String(pid), 'cmdline'), argv.join('\0') + '\0');
  };
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  test('systemd host, auditd in its unit: systemctl restart', () => {
    mkdirSync(systemd, { recursive: true });
    fakeAuditd(10, '0::/system.slice/auditd.service\n', ['/sbin/auditd']);
    const r = auditdRunner(10, proc, systemd);
    expect(r).toEqual({ kind: 'systemd', unit: 'auditd.service' });
    expect(restartAdvice(r, 10)).toBe('systemctl restart auditd.service');
  });

  test('systemd host but auditd started by hand, or no systemd at all: the same command line again', () => {
    fakeAuditd(11, '0::/user.slice/session-3.scope\n', ['auditd', '-c', '/etc/audit dir']);
    expect(restartAdvice(auditdRunner(11, proc, systemd), 11)).toBe(`kill -TERM 11; auditd -c '/etc/audit dir'`);
    fakeAuditd(12, '0::/system.slice/auditd.service\n', ['/sbin/auditd']);
    expect(auditdRunner(12, proc, join(root, 'absent'))).toEqual({ kind: 'process', argv: ['/sbin/auditd'] });
    expect(auditdRunner(99, proc, join(root, 'absent'))).toEqual({ kind: 'process', argv: ['auditd'] });
  });
});
