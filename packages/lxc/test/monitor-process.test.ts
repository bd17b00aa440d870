import { chownSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isMonitorProcess, monitoredContainers } from '../src/monitor-process';

// Ownership is the point (anyone can title a process "[lxc monitor] …"): building a root-owned
// and a user-owned fake /proc/PID takes root, which the suite has in CI.
const asRoot = process.getuid?.() === 0 ? it : it.skip;

describe('LXC monitors found from /proc (root-owned processes titled "[lxc monitor] LXCPATH NAME")', () => {
  asRoot('lists the names under one lxcpath whose monitor is root\'s; a user\'s process with the same title does not count', () => {
    const proc = mkdtempSync(join(tmpdir(), 'contid-proc-'));
    try {
      const HOST = 'pid:[4026531836]';
      const fake = (pid: number | 'self', cmdline: string, uid = 0, pidNs = HOST): void => {
        mkdirSync(join(proc, String(pid), 'ns'), { recursive: true });
        symlinkSync(pidNs, join(proc, String(pid), 'ns', 'pid'));
        writeFileSync(join(proc, String(pid), 'cmdline'), cmdline);
        chownSync(join(proc, String(pid)), uid, uid);
      };
      fake(10, '[lxc monitor] /var/lib/lxc web\0');
      fake(11, '[lxc monitor] /var/lib/lxc db'); // no trailing NUL
      fake(12, '[lxc monitor] /var/lib/lxc forged\0', 1000);
      fake(13, '[lxc monitor] /srv/lxc other\0');
      fake(14, 'lxc-start\0-n\0web\0');
      fake(15, '[lxc monitor] /var/lib/lxc two\0words\0');
      // root in a Docker container (its own pid namespace) titling a process of its own (outside attack 12, L1)
      fake(16, '[lxc monitor] /var/lib/lxc ghost\0', 0, 'pid:[4026532999]');
      fake('self', 'node\0');
      expect(monitoredContainers('/var/lib/lxc', proc)).toEqual(['db', 'web']);
      expect(monitoredContainers('/srv/lxc', proc)).toEqual(['other']);
      expect(isMonitorProcess(10, '/var/lib/lxc', 'web', proc)).toBe(true);
      expect(isMonitorProcess(10, '/var/lib/lxc', 'db', proc)).toBe(false);
      expect(isMonitorProcess(12, '/var/lib/lxc', 'forged', proc)).toBe(false);
      expect(isMonitorProcess(99, '/var/lib/lxc', 'web', proc)).toBe(false);
      expect(isMonitorProcess(16, '/var/lib/lxc', 'ghost', proc)).toBe(false);
    } finally {
      rmSync(proc, { recursive: true, force: true });
    }
  });

  it('finds nothing where there is no procfs', () => {
    expect(monitoredContainers('/var/lib/lxc', join(tmpdir(), 'contid-no-proc-here'))).toEqual([]);
  });
});
