import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseContainerId } from '@contid/core/dist/container-id';
import { EntryWitness, describeUntaggedEntry, untaggedEntryJson } from '../src/entries';
import { isEntryLine } from '../src/line-bytes';
import { searchLogs } from '../src/search';

// Record shapes as the kernel wrote them here (Linux 6.18, LXC 5.0.2): the init's pivot_root,
// lxc-attach's setns by pidfd, each with the container's rootfs as PATH item 0.
const NODE = '/usr/bin/node';
const ROOT = 'dev=fe:00 inode=1622071';
const login = (serial: number, ses: number) => `type=LOGIN msg=audit(1796010478.600:${serial}): pid=28932 uid=0 old-auid=4294967295 auid=0 tty=(none) old-ses=4294967295 ses=${ses} res=1`;
const create = (serial: number, ses: number, contid: number) =>
  `type=VIRT_CONTROL msg=audit(1796010478.610:${serial}): pid=28930 uid=0 auid=4294967295 ses=4294967295 msg='virt=lxc op=create vm="web" uuid="web" vm-pid=28932 vm-ses=${ses} contid=${contid} parent-contid=? ns=? node=? exe="${NODE}" hostname=? addr=? terminal=? res=success'`;
const syscall = (time: string, serial: number, nr: number, pid: number, auid: number, ses: number, root: string, name: string, exe = '/x', key = 'contid-lxc-entry') => [
  `type=SYSCALL msg=audit(${time}:${serial}): arch=c000003e syscall=${nr} success=yes exit=0 a0=5 a1=6e020000 a2=0 a3=0 items=1 ppid=1 pid=${pid} auid=${auid} uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=pts0 ses=${ses} comm="x" exe="${exe}" key="${key}"`,
  `type=CWD msg=audit(${time}:${serial}): cwd="/"`,
  `type=PATH msg=audit(${time}:${serial}): item=0 name="${name}" inode=${root.split('inode=')[1]} dev=${root.split(' ')[0].slice(4)} mode=040755 ouid=0 ogid=0 rdev=00:00 nametype=NORMAL cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 cap_frootid=0`,
  `type=PROCTITLE msg=audit(${time}:${serial}): proctitle=78`,
];

describe('untagged entries (setns / pivot_root into a known root)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'contid-entries-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('the byte test takes setns and pivot_root SYSCALL lines only', () => {
    const yes = syscall('1.000', 1, 308, 1, 0, 1, ROOT, '/')[0];
    const test = (l: string) => isEntryLine(Buffer.from(l), 0, l.length);
    expect(test(yes)).toBe(true);
    expect(test(`node=a ${yes}`)).toBe(true);
    expect(test(syscall('1.000', 1, 155, 1, 0, 1, ROOT, '.')[0])).toBe(true);
    expect(test(yes.replace('syscall=308', 'syscall=3080'))).toBe(false);
    expect(test(yes.replace('syscall=308', 'syscall=59'))).toBe(false);
    expect(test(syscall('1.000', 1, 308, 1, 0, 1, ROOT, '/')[2])).toBe(false);
  });

  it('a setns into the root a tagged start pivoted into, from an unbound session, is one untagged attach; a tagged one is none', () => {
    const log = join(dir, 'audit.log');
    writeFileSync(
      log,
      [
        login(10, 7),
        create(11, 7, 5000),
        ...syscall('1796010478.652', 12, 155, 28936, 0, 7, ROOT, '.'), // the init, in the bound session
        ...syscall('1796010478.700', 13, 308, 28950, 0, 7, ROOT, '/'), // inside the container's own session
        ...syscall('1796010478.684', 14, 308, 28945, 1000, 11946, ROOT, '/'), // plain lxc-attach
        ...syscall('1796010478.690', 15, 308, 28946, 1000, 11946, 'dev=fe:00 inode=99', '/'), // another root
        ...syscall('1796010479.000', 16, 155, 29000, 1000, 11946, ROOT, '.'), // plain lxc-start
        '',
      ].join('\n'),
    );
    const witness = new EntryWitness();
    const r = searchLogs({
      files: [log],
      filter: { container: 'web' },
      attribution: { legacyTrustedExes: [NODE], onTrustedBinding: witness.onTrustedBinding },
      onEntryRecord: witness.onEntryRecord,
      onEvent: () => undefined,
    });
    const lines = witness.untagged(r.attributor, [{ file: log, base: 0, size: statSync(log).size }], new Set(['5000'])).map(describeUntaggedEntry);
    expect(lines).toEqual([
      'untagged attach into web by auid 1000 at 2026-11-30T03:47:58.684Z (pid 28945, session 11946; contid 5000): not through contid, so what it ran is not attributed to web (ausearch --session 11946)',
      'untagged start of web by auid 1000 at 2026-11-30T03:47:59.000Z (pid 29000, session 11946; contid 5000): not through contid, so what it ran is not attributed to web (ausearch --session 11946)',
    ]);
  });

  it('without a selection: entries into containers contid never knew, named by the host (RootNamer) or by their LXC starter; joins of other runtimes are not entries', () => {
    const log = join(dir, 'unknown.log');
    const OWN = 'dev=07:00 inode=2'; // a rootfs on its own (loop) mount
    const DOCKER = 'dev=00:3a inode=77';
    writeFileSync(
      log,
      [
        ...syscall('1796010480.000', 20, 155, 30000, 1000, 12000, ROOT, '.', '/usr/bin/lxc-start'), // plain start, a root the host names
        ...syscall('1796010480.100', 21, 308, 30010, 1000, 12001, ROOT, '/', '/memfd:lxc-attach (deleted)'), // plain attach into it
        ...syscall('1796010481.000', 22, 155, 30020, 0, 4294967295, OWN, '.', '/usr/bin/lxc-start'), // own mount, root nobody names now
        ...syscall('1796010481.100', 23, 308, 30030, 0, 12002, OWN, '/', '/memfd:lxc-attach (deleted)', 'contid-lxc-join'), // attach into it (join rule)
        ...syscall('1796010482.000', 24, 155, 30040, 0, 12003, DOCKER, '.', '/usr/bin/runc', 'someone-elses'), // runc init, by another rule: not LXC
        ...syscall('1796010482.100', 25, 308, 30050, 0, 12003, DOCKER, '/', '/usr/bin/runc', 'contid-lxc-join'), // runc exec: not LXC
        '',
      ].join('\n'),
    );
    const witness = new EntryWitness();
    const r = searchLogs({ files: [log], filter: {}, attribution: { onTrustedBinding: witness.onTrustedBinding }, onEntryRecord: witness.onEntryRecord, onEvent: () => undefined, firstPassOnly: true });
    const asked: string[] = [];
    const rootNamer = (root: string) => (asked.push(root), root === 'fe:00:1622071' ? { name: 'plain', contid: null } : null);
    const entries = witness.untagged(r.attributor, [{ file: log, base: 0, size: statSync(log).size }], null, {}, { rootNamer });
    expect(entries.map(describeUntaggedEntry)).toEqual([
      'untagged start of plain (unknown to contid) by auid 1000 at 2026-11-30T03:48:00.000Z (pid 30000, session 12000): not through contid, so what it ran is not attributed to plain (ausearch --session 12000)',
      'untagged attach into plain (unknown to contid) by auid 1000 at 2026-11-30T03:48:00.100Z (pid 30010, session 12001): not through contid, so what it ran is not attributed to plain (ausearch --session 12001)',
      'untagged start of an LXC container unknown to contid (root 07:00:2) by auid 0 at 2026-11-30T03:48:01.000Z (pid 30020, no session): not through contid, so what it ran is not attributed to it (ausearch -p 30020)',
      // the join rule's key proves no LXC root by itself: an LXC init pivoted into this one
      'untagged attach into an LXC container unknown to contid (root 07:00:2) by auid 0 at 2026-11-30T03:48:01.100Z (pid 30030, session 12002): not through contid, so what it ran is not attributed to it (ausearch --session 12002)',
    ]);
    expect(asked).toContain('00:3a:77');
    expect(JSON.parse(untaggedEntryJson(entries[0]))).toEqual({
      untagged_entry: { kind: 'start', container: 'plain', contid: null, known: false, time: '2026-11-30T03:48:00.000Z', auid: 1000, session: 12000, pid: 30000, node: null, root: 'fe:00:1622071', message: describeUntaggedEntry(entries[0]) },
    });
  });

  it('a root inode given to a newer directory: entries older than the directory the host names are not its container\'s, nor do they stay with the container a tagged start tied it to once a newer directory holds it', () => {
    // web (contid 5000) started through contid at 478.652; its rootfs was destroyed and the
    // inode given to the rootfs of "newer" (born 490.000), started plainly at 491.000
    const log = join(dir, 'reused.log');
    writeFileSync(
      log,
      [
        login(10, 7),
        create(11, 7, 5000),
        ...syscall('1796010478.652', 12, 155, 28936, 0, 7, ROOT, '.'), // web's init, bound
        ...syscall('1796010479.000', 13, 308, 28945, 1000, 11946, ROOT, '/'), // plain attach into web
        ...syscall('1796010485.000', 14, 155, 29000, 1000, 11950, 'dev=fe:00 inode=42', '.', '/usr/bin/lxc-start'), // a container since destroyed
        ...syscall('1796010485.100', 15, 308, 29010, 1000, 11951, 'dev=fe:00 inode=42', '/'), // attach into it
        ...syscall('1796010491.000', 16, 155, 29100, 0, 4294967295, ROOT, '.', '/usr/bin/lxc-start'), // plain start of newer
        ...syscall('1796010491.100', 17, 155, 29200, 0, 4294967295, 'dev=fe:00 inode=42', '.', '/usr/bin/lxc-start'), // plain start of third
        '',
      ].join('\n'),
    );
    const witness = new EntryWitness();
    const r = searchLogs({ files: [log], filter: {}, attribution: { legacyTrustedExes: [NODE], onTrustedBinding: witness.onTrustedBinding }, onEntryRecord: witness.onEntryRecord, onEvent: () => undefined, firstPassOnly: true });
    const bases = [{ file: log, base: 0, size: statSync(log).size }];
    const rootNamer = (root: string) =>
      root === 'fe:00:1622071' ? { name: 'newer', contid: null, bornMs: 1796010490000 } : root === 'fe:00:42' ? { name: 'third', contid: parseContainerId('6000'), bornMs: 1796010491050 } : null;
    const entries = witness.untagged(r.attributor, bases, null, {}, { rootNamer });
    expect(entries.map((e) => [e.kind, e.name, e.timeMs])).toEqual([
      ['attach', 'web', 1796010479000],
      ['start', null, 1796010485000],
      ['attach', null, 1796010485100],
      ['start', 'newer', 1796010491000],
      ['start', 'third', 1796010491100],
    ]);
    // asked about web, the search gives web's own entry only
    expect(witness.untagged(r.attributor, bases, new Set(['5000']), {}, { rootNamer }).map((e) => e.timeMs)).toEqual([1796010479000]);
    expect(witness.untagged(r.attributor, bases, new Set(['6000']), {}, { rootNamer }).map((e) => e.timeMs)).toEqual([1796010491100]);
  });
});
