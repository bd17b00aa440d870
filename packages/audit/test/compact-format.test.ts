import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry, formatContainerId } from '@contid/core';
import { LivePipeline } from '../src/live/pipeline';

// Record shapes as this machine's kernel and auditd write them.
const NODE = '/usr/bin/node';
const login = (ses: number, serial: number): string =>
  `type=LOGIN msg=audit(1795926138.739:${serial}): pid=30637 uid=0 old-auid=4294967295 auid=0 tty=(none) old-ses=4294967295 ses=${ses} res=1`;
const execve = (ses: number, serial: number): string[] => [
  `type=SYSCALL msg=audit(1795926138.740:${serial}): arch=c000003e syscall=59 success=yes exit=0 a0=15 a1=7ffe95371a28 a2=3 a3=8 items=2 ppid=30630 pid=30637 auid=0 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=${ses} comm="echo" exe="/usr/bin/echo" key=(null)`,
  `type=EXECVE msg=audit(1795926138.740:${serial}): argc=3 a0="/bin/echo" a1=68692074686572650A a2="x"`,
  `type=CWD msg=audit(1795926138.740:${serial}): cwd="/root"`,
  `type=PATH msg=audit(1795926138.740:${serial}): item=0 name="/bin/echo" inode=1837 dev=08:01 mode=0100755 ouid=0 ogid=0 rdev=00:00 nametype=NORMAL cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 cap_frootid=0`,
  `type=PATH msg=audit(1795926138.740:${serial}): item=1 name="/lib64/ld-linux-x86-64.so.2" inode=2049 dev=08:01 mode=0100755 ouid=0 ogid=0 rdev=00:00 nametype=NORMAL cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 cap_frootid=0`,
  `type=PROCTITLE msg=audit(1795926138.740:${serial}): proctitle=2F62696E2F6563686F0078`,
  `type=EOE msg=audit(1795926138.740:${serial}): `,
];

describe('--format compact (one typed object per event) and registry enrichment', () => {
  const dir = mkdtempSync(join(tmpdir(), 'contid-compact-'));
  const registry = Registry.open(dir);
  afterAll(() => {
    registry.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('records keyed by type, typed values, argv arrays, PATH a list, raw only on request', () => {
    const c = registry.registerContainer({ orchestrator: 'docker', name: 'web', image: 'nginx:1.25', labels: { tier: 'front' }, session: 980 }, { session: 980, pid: 1, op: 'create', detail: {} });
    const p = new LivePipeline({ format: 'compact', legacyTrustedExes: [NODE], registry });
    const [e] = (String(p.push(execve(980, 7))) + String(p.flush())).split('\n').filter(Boolean).map((l) => JSON.parse(l));
    expect(e).toEqual({
      time: '2026-11-29T04:22:18.740Z',
      serial: 7,
      container: { contid: formatContainerId(c.contid), name: 'web', orchestrator: 'docker', runtimeId: null, image: 'nginx:1.25', labels: { tier: 'front' } },
      SYSCALL: expect.objectContaining({ syscall: 59, success: 'yes', exit: 0, a0: '15', a1: '7ffe95371a28', pid: 30637, ses: 980, comm: 'echo', exe: '/usr/bin/echo', key: null }),
      EXECVE: { argc: 3, argv: ['/bin/echo', 'hi there\n', 'x'] },
      CWD: { cwd: '/root' },
      PATH: [expect.objectContaining({ item: 0, name: '/bin/echo', mode: '0100755', dev: '08:01' }), expect.objectContaining({ item: 1 })],
      PROCTITLE: { argv: ['/bin/echo', 'x'] },
    });
    const withRaw = new LivePipeline({ format: 'compact', rawRecords: true, legacyTrustedExes: [NODE], registry });
    expect(JSON.parse(String(withRaw.push(execve(980, 8)))).raw).toHaveLength(6);
    const json = String(new LivePipeline({ format: 'json', legacyTrustedExes: [NODE], registry }).push(execve(980, 9)));
    expect(Buffer.byteLength(JSON.stringify(e))).toBeLessThan(Buffer.byteLength(json) * 0.6);
  });

  test('an image the agent records after the binding still reaches the events (json and compact)', () => {
    // The binding record names no image; the Docker agent adds it to the registry later.
    const c = registry.registerContainer({ orchestrator: 'docker', name: 'late', session: 981 }, { session: 981, pid: 1, op: 'create', detail: {} });
    let now = 1000;
    const p = new LivePipeline({ format: 'json', legacyTrustedExes: [NODE], registry }, () => now);
    expect(JSON.parse(String(p.push(execve(981, 20)))).container.image).toBeNull();
    registry.enrich(c.contid, { image: 'redis:7' });
    now += 6000;
    expect(JSON.parse(String(p.push(execve(981, 21)))).container.image).toBe('redis:7');
    const compact = new LivePipeline({ format: 'compact', legacyTrustedExes: [NODE], registry }, () => now);
    expect(JSON.parse(String(compact.push(execve(981, 22)))).container.image).toBe('redis:7');
    // A new session waits for its binding; unbound after the grace, it goes out with no container.
    const fresh = new LivePipeline({ format: 'compact', legacyTrustedExes: [NODE], registry, bindingGraceMs: 100 }, () => now);
    expect(String(fresh.push([login(982, 30), ...execve(982, 31)]))).toBe('');
    now += 200;
    expect(String(fresh.expire()).split('\n').filter(Boolean).map((l) => JSON.parse(l).container)).toEqual([null, null]);
  });
});
