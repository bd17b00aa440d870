import { LiveEntryWatch } from '../src/entries-live';
import { LivePipeline } from '../src/live/pipeline';

// The record shapes of the measured entries (see entries.test.ts), as a live stream delivers them.
const NODE = '/usr/bin/node';
const login = (serial: number, ses: number) => `type=LOGIN msg=audit(1796010478.600:${serial}): pid=28932 uid=0 old-auid=4294967295 auid=0 tty=(none) old-ses=4294967295 ses=${ses} res=1`;
const create = (serial: number, ses: number, contid: number) =>
  `type=VIRT_CONTROL msg=audit(1796010478.610:${serial}): pid=28930 uid=0 auid=4294967295 ses=4294967295 msg='virt=lxc op=create vm="web" uuid="web" vm-pid=28932 vm-ses=${ses} contid=${contid} parent-contid=? ns=? node=? exe="${NODE}" hostname=? addr=? terminal=? res=success'`;
const entry = (time: string, serial: number, nr: number, pid: number, auid: number, ses: number, inode: number, exe: string) => [
  `type=SYSCALL msg=audit(${time}:${serial}): arch=c000003e syscall=${nr} success=yes exit=0 a0=5 a1=6e020000 a2=0 a3=0 items=1 ppid=1 pid=${pid} auid=${auid} uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=pts0 ses=${ses} comm="x" exe="${exe}" key="contid-lxc-entry"`,
  `type=PATH msg=audit(${time}:${serial}): item=0 name="." inode=${inode} dev=fe:00 mode=040755 ouid=0 ogid=0 rdev=00:00 nametype=NORMAL cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 cap_frootid=0`,
  `type=PROCTITLE msg=audit(${time}:${serial}): proctitle=78`,
  `type=EOE msg=audit(${time}:${serial}): `,
];

function live(format: 'json' | 'raw') {
  const said: string[] = [];
  let watch: LiveEntryWatch | null = null;
  let now = 0;
  const pipeline = new LivePipeline({ format, legacyTrustedExes: [NODE], onEmit: (e, c) => watch!.onEmit(e, c) }, () => now);
  watch = new LiveEntryWatch(pipeline.attributor, {
    json: format === 'json',
    report: (l) => said.push(l),
    rootNamer: (root) => (root === 'fe:00:500' ? { name: 'plain', contid: null } : null),
  });
  return { pipeline, said, advance: (ms: number) => (now += ms) };
}

describe('tail: untagged entries as they happen', () => {
  it('a plain start and attach of a container contid never knew: one JSON object each in the stream, the search line on stderr', () => {
    const { pipeline, said } = live('json');
    const out = String(pipeline.push([...entry('1796010480.000', 20, 155, 30000, 1000, 12000, 500, '/usr/bin/lxc-start'), ...entry('1796010480.100', 21, 308, 30010, 1000, 12001, 500, '/memfd:lxc-attach (deleted)')]));
    const objects = out.split('\n').filter((l) => l.includes('untagged_entry')).map((l) => JSON.parse(l).untagged_entry);
    expect(objects.map((o) => [o.kind, o.container, o.known, o.pid, o.session])).toEqual([
      ['start', 'plain', false, 30000, 12000],
      ['attach', 'plain', false, 30010, 12001],
    ]);
    expect(said).toEqual(objects.map((o) => o.message));
    expect(said[0]).toMatch(/^untagged start of plain \(unknown to contid\) by auid 1000 at 2026-11-30T03:48:00\.000Z \(pid 30000, session 12000\)/);
  });

  it('a tagged start whose binding comes after its pivot_root (the fresh session waits for it) is no entry; a raw tail says it on stderr only', () => {
    const { pipeline, said, advance } = live('raw');
    let out = String(pipeline.push([login(10, 7), ...entry('1796010478.652', 12, 155, 28936, 0, 7, 600, '/usr/bin/lxc-start')]));
    advance(100);
    out += String(pipeline.push([create(11, 7, 5000)]));
    expect(said).toEqual([]);
    // then a plain attach into web's root: untagged, named by the start contid bound
    out += String(pipeline.push(entry('1796010479.000', 13, 308, 28950, 1000, 11946, 600, '/memfd:lxc-attach (deleted)')));
    expect(said).toEqual([expect.stringMatching(/^untagged attach into web by auid 1000 .*; contid 5000\)/)]);
    expect(out).not.toContain('untagged_entry');
  });
});
