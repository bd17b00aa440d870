import { chownSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { auditdRunner as runnerOf, restartAdvice } from '../src/live/auditd-service';

describe('how the host runs auditd (for restarting it the same way)', () => {
  const root = mkdtempSync(join(tmpdir(), 'contid-auditd-runner-'));
  const proc = join(root, 'proc');
  const systemd = join(root, 'run-systemd-system');
  /** A /proc/PID of a daemon whose executable is `exe` (/bin/sh stands for a root-owned auditd). */
  const fakeAuditd = (pid: number, cgroup: string, argv: string[], exe = '/bin/sh'): void => {
    mkdirSync(join(proc, String(pid)), { recursive: true });
    writeFileSync(join(proc, String(pid), 'cgroup'), cgroup);
    writeFileSync(join(proc, String(pid), 'cmdline'), argv.join('\0') + '\0');
    symlinkSync(exe, join(proc, String(pid), 'exe'));
  };
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  /** /bin/sh stands for auditd's installed executable here. */
  const auditdRunner = (pid: number, procRoot: string, systemdDir: string) => runnerOf(pid, procRoot, systemdDir, ['/bin/sh']);

  test('systemd host, auditd in its unit: systemctl restart', () => {
    mkdirSync(systemd, { recursive: true });
    fakeAuditd(10, '0::/system.slice/auditd.service\n', ['/sbin/auditd']);
    const r = auditdRunner(10, proc, systemd);
    expect(r).toEqual({ kind: 'systemd', unit: 'auditd.service' });
    expect(restartAdvice(r, 10)).toBe('systemctl restart auditd.service');
  });

  test('started by hand, or no systemd at all: its own executable with auditd’s own options again', () => {
    fakeAuditd(11, '0::/user.slice/session-3.scope\n', ['auditd', '-n', '-c', '/etc/audit dir', '-s', 'nochange']);
    expect(restartAdvice(auditdRunner(11, proc, systemd), 11)).toBe(`kill -TERM 11; /bin/sh -n -c '/etc/audit dir' -s nochange`);
    fakeAuditd(12, '0::/system.slice/auditd.service\n', ['/sbin/auditd']);
    expect(auditdRunner(12, proc, join(root, 'absent'))).toEqual({ kind: 'process', argv: ['/bin/sh'] });
  });

  test('no command line from /proc is run when it is not auditd’s own: the advice says why', () => {
    // arguments auditd does not take (a rewritten cmdline), a relative config dir
    fakeAuditd(13, '0::/\n', ['auditd', '-c', '/tmp/x', ';', 'id']);
    fakeAuditd(14, '0::/\n', ['auditd', '-c', 'etc']);
    for (const pid of [13, 14]) {
      const r = auditdRunner(pid, proc, join(root, 'absent'));
      expect(r.kind).toBe('unknown');
      expect(restartAdvice(r, pid)).toMatch(new RegExp(`^restart auditd \\(pid ${pid}\\) the way this host started it \\(contid will not: auditd \\(pid ${pid}\\) runs with arguments contid does not pass on`));
    }
    // an executable another user could have replaced
    const theirs = join(root, 'theirs');
    writeFileSync(theirs, '#!/bin/sh\n', { mode: 0o755 });
    if (process.getuid?.() === 0) chownSync(theirs, 65534, 65534);
    fakeAuditd(15, '0::/\n', ['auditd'], theirs);
    expect(runnerOf(15, proc, join(root, 'absent'), [theirs])).toEqual({ kind: 'unknown', why: `auditd's executable ${JSON.stringify(theirs)} is not a root-owned file only root can write` });
    // a root-owned program that is not auditd's, with arguments that pass auditd's option check
    // (`-c` is also sh's): outside attack 6's `dash -c CMD` in a reused pid
    fakeAuditd(16, '0::/\n', ['/sbin/auditd', '-c', '/tmp/evil; sleep 30'], '/usr/bin/dash');
    expect(auditdRunner(16, proc, join(root, 'absent'))).toEqual({ kind: 'unknown', why: `pid 16 runs "/usr/bin/dash", not auditd's installed executable (/bin/sh)` });
    expect(runnerOf(16, proc, join(root, 'absent'))).toMatchObject({ kind: 'unknown' });
    // gone
    expect(auditdRunner(99, proc, join(root, 'absent'))).toEqual({ kind: 'unknown', why: 'auditd (pid 99) is gone or unreadable' });
  });
});
