import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { escapeHtml, reportHtml, reportJson, reportText, runReport, sockaddrText, timelineData, type EventItem } from '../src';
import { exactValue } from '../src/facts';

const hex = (s: string): string => Buffer.from(s).toString('hex').toUpperCase();
const NODE = '/usr/bin/node';

/** A small raw log: one container (session 700) doing one thing of each kind, and a host session. */
function log(): string {
  const common = (pid: number, ppid: number, ses: number, comm: string, exe: string): string =>
    `ppid=${ppid} pid=${pid} auid=1000 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=${ses} comm="${comm}" exe="${exe}"`;
  let serial = 100;
  const at = (): string => `1795927031.${String(serial % 1000).padStart(3, '0')}:${serial}`;
  const lines: string[] = [];
  const ev = (...records: string[]): void => {
    serial++;
    for (const r of records) lines.push(r.replace('@', at()));
  };
  ev(`type=LOGIN msg=audit(@): pid=50 uid=0 old-auid=4294967295 auid=1000 tty=(none) old-ses=4294967295 ses=700 res=1`);
  ev(`type=VIRT_CONTROL msg=audit(@): pid=50 uid=0 auid=1000 ses=4294967295 msg='virt=contid op=create vm="web" uuid=? vm-pid=50 vm-ses=700 contid=42 parent-contid=? ns=? node=? exe="${NODE}" hostname=? addr=? terminal=? res=success'`);
  ev(
    `type=SYSCALL msg=audit(@): arch=c000003e syscall=59 success=yes exit=0 a0=1 a1=2 a2=3 a3=4 items=2 ${common(51, 50, 700, 'ls', '/usr/bin/ls')} key="k"`,
    `type=EXECVE msg=audit(@): argc=1 a0="ls"`,
    `type=PATH msg=audit(@): item=0 name="/usr/bin/ls" inode=1 dev=fe:00 mode=0100755 ouid=0 ogid=0 rdev=00:00 nametype=NORMAL`,
    `type=PROCTITLE msg=audit(@): proctitle=6C73`,
  );
  // openat(…, O_WRONLY|O_CREAT|O_TRUNC): a write; a relative name is joined to the cwd
  ev(
    `type=SYSCALL msg=audit(@): arch=c000003e syscall=257 success=yes exit=3 a0=ffffff9c a1=5 a2=241 a3=1b6 items=2 ${common(52, 50, 700, 'sh', '/usr/bin/dash')} key="w"`,
    `type=CWD msg=audit(@): cwd="/srv"`,
    `type=PATH msg=audit(@): item=0 name="/srv/" inode=2 dev=fe:00 mode=040755 ouid=0 ogid=0 rdev=00:00 nametype=PARENT`,
    `type=PATH msg=audit(@): item=1 name="./out file" inode=3 dev=fe:00 mode=0100644 ouid=0 ogid=0 rdev=00:00 nametype=CREATE`,
    `type=PROCTITLE msg=audit(@): proctitle=7368`,
  );
  // a read-only open that failed: not a write, but a failure
  ev(
    `type=SYSCALL msg=audit(@): arch=c000003e syscall=257 success=no exit=-2 a0=ffffff9c a1=5 a2=0 a3=0 items=1 ${common(53, 50, 700, 'cat', '/usr/bin/cat')} key="r"`,
    `type=CWD msg=audit(@): cwd="/srv"`,
    `type=PATH msg=audit(@): item=0 name="/nonexistent" nametype=UNKNOWN`,
    `type=PROCTITLE msg=audit(@): proctitle=636174`,
  );
  ev(
    `type=SYSCALL msg=audit(@): arch=c000003e syscall=42 success=no exit=-111 a0=3 a1=5 a2=10 a3=0 items=0 ${common(54, 50, 700, 'bash', '/usr/bin/bash')} key="n"`,
    `type=SOCKADDR msg=audit(@): saddr=02000009${'7F000001'}0000000000000000`,
    `type=PROCTITLE msg=audit(@): proctitle=62617368`,
  );
  ev(`type=ANOM_ABEND msg=audit(@): auid=1000 uid=0 gid=0 ses=700 pid=55 comm="crash" exe="/usr/bin/crash" sig=11 res=1`);
  // a host session: not the container's
  ev(
    `type=SYSCALL msg=audit(@): arch=c000003e syscall=59 success=yes exit=0 a0=1 a1=2 a2=3 a3=4 items=1 ${common(60, 1, 9, 'id', '/usr/bin/id')} key="k"`,
    `type=PROCTITLE msg=audit(@): proctitle=6964`,
  );
  return lines.join('\n') + '\n';
}

describe('contid report (no root: a hand-made log)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'contid-report-unit-'));
  const file = join(dir, 'audit.log');
  writeFileSync(file, log());
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const run = (by: 'container' | 'node' = 'container', keepEvents = false): ReturnType<typeof runReport> =>
    runReport({ files: [file], filter: { container: 'web' }, by, keepEvents, attribution: { legacyTrustedExes: [NODE] } /* unsigned fixture bindings: the report's grouping is under test, not trust */ });

  it('counts each table from the container\'s events only', () => {
    const { groups, stats } = run();
    // the LOGIN that opened session 700 is one of its events too (ausearch --session agrees)
    expect(stats.matched).toBe(6);
    expect(groups).toHaveLength(1);
    const g = groups[0];
    expect(g.identity.label).toBe('web');
    expect([g.events, g.failed]).toEqual([6, 2]);
    expect(g.executables.map((r) => [r.exe, r.count, r.execs, r.auids])).toEqual([
      ['/usr/bin/ls', 1, 1, ['1000']],
      ['/usr/bin/dash', 1, 0, ['1000']],
      ['/usr/bin/cat', 1, 0, ['1000']],
      ['/usr/bin/bash', 1, 0, ['1000']],
      ['/usr/bin/crash', 1, 0, ['1000']],
    ]);
    expect(g.files.map((r) => [r.path, r.count, r.syscalls])).toEqual([
      ['/srv/', 1, ['openat']],
      ['/srv/./out file', 1, ['openat']],
    ]);
    expect(g.network.map((r) => [r.call, r.address, r.count, r.failed])).toEqual([['connect', '127.0.0.1:9', 1, 1]]);
    expect(g.failures.map((r) => [r.errno, r.count, r.syscalls])).toEqual([
      ['ENOENT', 1, ['openat']],
      ['ECONNREFUSED', 1, ['connect']],
    ]);
    expect(g.anomalies.map((r) => [r.type, r.count])).toEqual([['ANOM_ABEND', 1]]);
    expect(g.entries.map((e) => [e.op, e.auid, e.session, e.name])).toEqual([['create', '1000', 700, 'web']]);
  });

  it('text is aureport-like and --summary keeps only the totals; JSON carries the same counts', () => {
    const { groups } = run();
    const text = reportText(groups);
    expect(text).toMatch(/^Container Report: web\n={21}\ncontid: +42\n/);
    expect(text).toMatch(/Executable Summary Report\n=+\ntotal +first +last +execs +auid +uid +file\n=+\n1 .* \/usr\/bin\/ls\n/);
    expect(text).toContain('Number of failed syscalls: 2');
    const summary = reportText(groups, { summaryOnly: true });
    expect(summary).toContain('Number of events: 6');
    expect(summary).not.toContain('Executable Summary Report');
    const json = JSON.parse(JSON.stringify(reportJson(groups))) as { container: { contid: string }; failures: { errno: string; count: number }[] }[];
    expect(json[0].container.contid).toBe('42');
    expect(json[0].failures.map((f) => [f.errno, f.count])).toEqual([['ENOENT', 1], ['ECONNREFUSED', 1]]);
  });

  it('groups by node, and a page embeds its events with the records each row links to', () => {
    expect(run('node').groups.map((g) => [g.identity.label, g.events])).toEqual([['(this node)', 6]]);
    const { groups } = run('container', true);
    const page = reportHtml(groups[0]);
    expect(page).not.toMatch(/<script[^>]+src=|<link |@import|url\(/);
    const data = JSON.parse(/<script type="application\/json" id="report-data">(.*?)<\/script>/s.exec(page)![1]);
    expect(data.timeline.t).toHaveLength(6);
    expect(data.raw[1][0]).toMatch(/^type=SYSCALL .*syscall=59/);
    expect(page).toMatch(/<a class="records" href="#details" id="executables-0" data-title="[^"]*" data-events="1">all<\/a>/);
  });

  it('caller-controlled text cannot break out of the page', () => {
    expect(escapeHtml('</script><img src=x onerror=alert(1)>"\'&')).toBe('&#60;/script&#62;&#60;img src=x onerror=alert(1)&#62;&#34;&#39;&#38;');
    const { groups } = run('container', true);
    groups[0].timeline[0].raw = ['</script><script>alert(1)</script>'];
    const page = reportHtml(groups[0]);
    expect(page.match(/<\/script>/g)).toHaveLength(2); // the data block's end and the script's
  });

  it('no control byte of a name reaches the page (cat page.html on a terminal runs none), escaped as the text report does', () => {
    const { groups } = run('container', true);
    const evil = 'web\x1b]0;owned\x07\x1b[2J\rroot\u202e';
    groups[0].identity.label = evil;
    groups[0].identity.chain[0].name = evil;
    const page = reportHtml(groups[0]);
    expect(page).not.toMatch(/[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e]/);
    expect(page).toContain('<title>contid report: web\\x1b]0;owned\\x07\\x1b[2J\\rroot\\u202e</title>');
    expect(reportText(groups)).toContain('web\\x1b]0;owned\\x07\\x1b[2J\\rroot\\u202e');
  });

  it('sockaddr: inet, inet6 (RFC 5952), unix, abstract unix, netlink', () => {
    expect(sockaddrText('0200005012345678' + '0'.repeat(16))).toBe('18.52.86.120:80');
    expect(sockaddrText('0A0001BB00000000' + '00000000000000000000000000000001' + '00000000')).toBe('[::1]:443');
    expect(sockaddrText('0A000050000000002001' + '0DB8' + '0'.repeat(20) + '0001' + '00000000')).toBe('[2001:db8::1]:80');
    expect(sockaddrText('0100' + hex('/run/x.sock') + '00')).toBe('unix:/run/x.sock');
    expect(sockaddrText('010000' + hex('abstract'))).toBe('unix:@abstract');
    expect(sockaddrText('100000000000000001000000')).toBe('netlink:pid=0');
    expect(sockaddrText('zz')).toBe('saddr=zz');
    // a path's bytes as UTF-8 text; an invalid byte as ausearch's \ooo, a backslash of the path itself as \134
    expect(sockaddrText('0100' + hex('/run/上.sock') + '00')).toBe('unix:/run/上.sock');
    expect(sockaddrText('0100' + hex('/run/a') + 'FF' + hex('\\377') + '00')).toBe('unix:/run/a\\377\\134377');
  });

  it('timeline lanes follow the process tree; many processes collapse into one lane per tree', () => {
    const item = (pid: number, ppid: number, t: number): EventItem => ({ timeMs: t, serial: t, pid, ppid, exe: `/bin/p${pid}`, syscall: 'execve', success: true, kind: 'exec', contid: '1', raw: null });
    const small = timelineData([item(10, 1, 0), item(12, 11, 1), item(11, 10, 2), item(20, 1, 3)]);
    expect(small.lanes.map((l) => [l.label, l.depth])).toEqual([
      ['10 /bin/p10', 0],
      ['11 /bin/p11', 1],
      ['12 /bin/p12', 2],
      ['20 /bin/p20', 0],
    ]);
    expect(small.lane).toEqual([0, 2, 1, 3]);
    const many = timelineData(Array.from({ length: 1000 }, (_, i) => item(1000 + i, i === 0 ? 1 : 1000 + Math.floor((i - 1) / 2), i)));
    expect(many.lanes).toHaveLength(1);
    expect(new Set(many.lane)).toEqual(new Set([0]));
  });
});

describe('names that differ in bytes stay apart (an outside attack: an invalid byte and a literal backslash read alike)', () => {
  it('exactValue gives /tmp/\\xffbad and a file named /tmp/\\377bad different text, and leaves names without a backslash as fieldValue shows them', () => {
    const invalid = exactValue(Buffer.from('/tmp/\xffbad', 'latin1').toString('hex').toUpperCase(), 'exe', 'SYSCALL');
    const literal = exactValue(hex('/tmp/\\377bad'), 'exe', 'SYSCALL');
    expect(invalid).toBe('/tmp/\\377bad');
    expect(literal).toBe('/tmp/\\134377bad');
    expect(exactValue('"/tmp/a\\b"', 'exe', 'SYSCALL')).toBe('/tmp/a\\134b');
    expect(exactValue('"/usr/bin/ls"', 'exe', 'SYSCALL')).toBe('/usr/bin/ls');
    expect(exactValue(hex('/tmp/上'), 'exe', 'SYSCALL')).toBe('/tmp/上');
  });
});
