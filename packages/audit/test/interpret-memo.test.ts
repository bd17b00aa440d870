import fc from 'fast-check';
import { AusearchInterpreter } from '@contid/audit';
import { eventsOf } from './events-of';
import { quotedPlain } from '../src/interpret';
import { AUPARSE_ESC_TTY, AUPARSE_TYPE, cstr, libauparse } from '../src/libauparse';

/**
 * The memo of a SYSCALL record's tail (from ` auid=` on) prints what libauparse asked for
 * every field prints, whatever the head holds: a crafted log may put words, quotes or commas
 * before ` auid=` (the kernel never does), and then the record is walked whole.
 */
const tail = 'auid=0 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=3 comm="sh" exe="/usr/bin/dash" key=(null)';
const HEADS = [
  'arch=c000003e syscall=59 success=yes exit=0 a0=1 a1=2 a2=3 a3=8 items=0 ppid=1 pid=600',
  'arch=c000003e syscall=59 success=yes exit=0 a0=1 a1=2 a2=3 a3=8 items=0 ppid=1 pid=600 junk',
  'arch=c000003e syscall=59 success=yes exit="0 x" a0=1 a1=2 a2=3 a3=8 items=0 ppid=1 pid=600',
  "arch=c000003e syscall=59 success=yes exit=0 a0=1,2 a1=2 a2=3 a3=8 items=0 ppid=1 pid='600",
  'arch=c000003e syscall=59 success=yes exit=0 a0=1 a1=2 a2=3 a3=8 items=0 ppid=1 pid=600  ',
  'arch=40000003 syscall=11 success=no exit=-2 a0=1 a1=2 a2=3 a3=8 items=0 ppid=1 pid=601',
  // fronts (up to ppid=) that read the syscall's a0/a1: ioctl's request, socket's family, and a0/a1 after ppid=
  'arch=c000003e syscall=16 success=yes exit=0 a0=3 a1=5401 a2=7ffd0 a3=8 items=0 ppid=1 pid=602',
  'arch=c000003e syscall=41 success=yes exit=3 a0=2 a1=80802 a2=0 a3=0 items=0 ppid=1 pid=603',
  'arch=c000003e syscall=41 success=yes exit=3 items=0 ppid=1 a0=a a1=1 pid=604',
  'arch=c000003e syscall=41 success=yes exit=3 a0=2 a1=80802 a2=0 a3=0 items=0 pid=605',
];

test.each(HEADS)('SYSCALL head %j: memo (tail remembered, then hit) equals libauparse asked for every field', (head) => {
  const lines = [0, 1, 2].map((i) => `type=SYSCALL msg=audit(1795999836.528:${100 + i}): ${head} ${tail}`);
  lines.push(`type=SYSCALL msg=audit(1795999836.600:104): ${head} ${tail}\x1dARCH=x86_64 SYSCALL=execve AUID="root" UID="root" GID="root" EUID="root" SUID="root" FSUID="root" EGID="root" SGID="root" FSGID="root"`);
  const memo = AusearchInterpreter.open()!;
  const asked = AusearchInterpreter.open({ memo: false })!;
  const events = eventsOf(lines);
  expect(events).toHaveLength(4);
  for (const e of events) expect(memo.event(e)).toBe(asked.event(e));
});

test('every head, twice, through one memo (fronts shared, a0/a1 differing after them): equals libauparse asked for every field', () => {
  const heads = [...HEADS, 'arch=c000003e syscall=41 success=yes exit=3 items=0 ppid=1 a0=2 a1=1 pid=604'];
  const lines = [...heads, ...heads].map((head, i) => `type=SYSCALL msg=audit(1795999836.${String(i).padStart(3, '0')}:${200 + i}): ${head} ${tail}`);
  const memo = AusearchInterpreter.open()!;
  const asked = AusearchInterpreter.open({ memo: false })!;
  const events = eventsOf(lines);
  expect(events).toHaveLength(lines.length);
  for (const e of events) expect(memo.event(e)).toBe(asked.event(e));
});

/**
 * Other records' repeating parts (PATH from dev=, user records from subj= or msg=) are
 * remembered whole: crafted texts where that name sits inside a quoted value, after a comma,
 * first in the record, or repeats, print what libauparse asked for every field prints.
 */
const PARTS = [
  'item=0 name="/usr/bin/cat" inode=1 dev=fe:00 mode=0100755 ouid=0 ogid=0 rdev=00:00 nametype=NORMAL cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 cap_frootid=0',
  'item=0 name="/tmp/x dev=fe:00 mode=0100755" inode=2 dev=fe:01 mode=040700 ouid=1000 ogid=1000 rdev=00:00 nametype=CREATE',
  'dev=fe:00 mode=0100755 ouid=0 ogid=0 rdev=00:00 nametype=NORMAL',
  'item=0 name=a,b dev=fe:00 mode=0100755 ouid=0 ogid=0',
  'item=0 name=(null) inode=3 dev=fe:00 mode=0100644 ouid=0 ogid=0 rdev=00:00 nametype=NORMAL dev=08:01',
  "item=1 name='x dev=1' dev=fe:00 mode=0100600",
  'item=0 name="/etc/x" inode=4 dev= mode=0100600 ouid=65534',
  'item=0 name="/etc/x" inode=4 dev=fe:00 mode="0100600',
];
const USER = [
  "pid=1 uid=0 auid=0 ses=1 subj=unconfined msg='op=PAM:session_open grantors=pam_unix acct=\"root\" exe=\"/usr/sbin/cron\" hostname=? addr=? terminal=cron res=success'",
  "pid=2 uid=0 auid=0 ses=2 msg='op=PAM:session_open acct=\"root\" exe=\"/usr/sbin/cron\" subj=x res=failed'",
  "pid=3 uid=0 auid=4294967295 ses=4294967295 subj=system_u:system_r:init_t:s0 msg='unit=cron comm=\"systemd\" exe=\"/usr/lib/systemd/systemd\" hostname=? addr=? terminal=? res=success'",
  "pid=4 uid=0 msg='a=1 msg=2 subj=3'",
];

test('PATH and user records: the memo of their repeating parts (remembered, then hit) equals libauparse asked for every field', () => {
  const lines: string[] = [];
  let serial = 300;
  for (let round = 0; round < 2; round++) {
    // the second round changes what comes before the repeating part: the part's memo is hit, not the whole record's
    const item = (p: string): string => p.replace(/^item=\d/, `item=${round + 5}`);
    const pid = (u: string): string => u.replace(/^pid=\d+/, (m) => `pid=${round}${m.slice(4)}`);
    for (const p of PARTS.map(item)) lines.push(`type=SYSCALL msg=audit(1795999836.${round}00:${serial}): arch=c000003e syscall=2 success=yes exit=3 a0=1 a1=2 a2=3 a3=4 items=1 ppid=1 pid=2 ${tail}`, `type=PATH msg=audit(1795999836.${round}00:${serial++}): ${p}`);
    for (const p of PARTS.map(item)) lines.push(`type=PATH msg=audit(1795999837.${round}00:${serial++}): ${p}\x1dOUID="root" OGID="root"`);
    for (const u of USER.map(pid)) lines.push(`type=USER_START msg=audit(1795999838.${round}00:${serial++}): ${u}`, `type=USER_START msg=audit(1795999838.${round}00:${serial++}): ${u}\x1dUID="root" AUID="root"`);
  }
  const memo = AusearchInterpreter.open()!;
  const asked = AusearchInterpreter.open({ memo: false })!;
  const events = eventsOf(lines);
  expect(events.length).toBeGreaterThan(30);
  for (const e of events) expect(memo.event(e)).toBe(asked.event(e));
});

test('fields and records that stop being remembered (values that never repeat), then repeat again: memo equals libauparse asked for every field', () => {
  const lines: string[] = [];
  for (let i = 0; i < 3000; i++) {
    // unique names and inodes first (the memo of those fields turns itself off), then a few repeating ones
    const n = i < 2000 ? i : i % 5;
    lines.push(`type=PATH msg=audit(1795999900.${String(i % 1000).padStart(3, '0')}:${1000 + i}): item=0 name="/srv/f-${n}" inode=${n} dev=fe:00 mode=0100644 ouid=${i % 3} ogid=0 rdev=00:00 nametype=NORMAL`);
  }
  const memo = AusearchInterpreter.open()!;
  const asked = AusearchInterpreter.open({ memo: false })!;
  const events = eventsOf(lines);
  expect(events).toHaveLength(3000);
  for (const e of events) expect(memo.event(e)).toBe(asked.event(e));
});

/**
 * A quoted ESCAPED value of printable ASCII is printed without asking libauparse
 * (quotedPlain): for any such text, quotes inside it included, and for values it leaves to
 * the library, what the library prints.
 */
test('quotedPlain prints what libauparse prints for an ESCAPED value, or leaves it to the library', () => {
  const au = libauparse()!;
  const asked = (val: string): string => {
    const p = au.interpret(AUPARSE_TYPE.ESCAPED, { machine: 0, syscall: 0, a0: 0n, a1: 0n, cwd: null, name: cstr('a2'), val: cstr(val) }, AUPARSE_ESC_TTY);
    const out = au.bytes(p) ?? '';
    au.free(p);
    return out;
  };
  const printable = fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: 60 });
  const any = fc.string({ unit: fc.integer({ min: 1, max: 0xff }).map((c) => String.fromCharCode(c)), maxLength: 30 });
  fc.assert(
    fc.property(fc.oneof(printable.map((s) => `"${s}"`), printable.map((s) => `"${s}`), any.map((s) => `"${s}"`), any), (val) => {
      const fast = quotedPlain(val);
      if (fast !== null) expect(fast).toBe(asked(val));
    }),
    { numRuns: 3000 },
  );
  expect(quotedPlain('"a\tb"')).toBeNull();
  expect(quotedPlain('"/srv/a b"')).toBe('/srv/a b');
});

/**
 * Output that is not printable ASCII (bytes of a crafted log, a proctitle with control bytes)
 * is escaped, and what the memo remembers stays plain: records that repeat, plain and not,
 * print what libauparse asked for every field prints.
 */
test('records with bytes that must be escaped, repeated among plain ones: memo equals libauparse asked for every field', () => {
  const bodies = [
    'item=0 name="/srv/caf\xe9" inode=7 dev=fe:00 mode=0100644 ouid=0 ogid=0 rdev=00:00 nametype=NORMAL',
    'item=0 name="/srv/plain" inode=7 dev=fe:00 mode=0100644 ouid=0 ogid=0 rdev=00:00 nametype=NORMAL',
    'item=0 name=2F7372762F0161 inode=8 dev=fe:00 mode=0100644 ouid=0 ogid=0 rdev=00:00 nametype=NORMAL',
    'item=0 name="/srv/\x7f" inode=9 dev=fe:00 mode=0100644 ouid=0 ogid=0 rdev=00:00 nametype=NORMAL',
  ];
  const lines: string[] = [];
  let serial = 5000;
  for (let round = 0; round < 3; round++)
    for (const b of bodies) {
      lines.push(`type=SYSCALL msg=audit(1795999950.${round}00:${serial}): arch=c000003e syscall=2 success=yes exit=3 a0=1 a1=2 a2=3 a3=4 items=1 ppid=1 pid=2 ${tail.replace('comm="sh"', round === 1 ? 'comm=7368010A' : 'comm="sh"')}`);
      lines.push(`type=PROCTITLE msg=audit(1795999950.${round}00:${serial}): proctitle=${round === 2 ? '7368002D6301' : '7368002D63'}`);
      lines.push(`type=PATH msg=audit(1795999950.${round}00:${serial++}): ${b}`);
    }
  const memo = AusearchInterpreter.open()!;
  const asked = AusearchInterpreter.open({ memo: false })!;
  const events = eventsOf(lines);
  expect(events).toHaveLength(12);
  const texts = events.map((e) => memo.event(e));
  expect(texts).toEqual(events.map((e) => asked.event(e)));
  expect(texts[0]).toContain('caf\\351');
  expect(texts.join('')).not.toMatch(/[\x00-\x09\x0b-\x1f\x7f]/);
});
