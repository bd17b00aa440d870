import { AusearchInterpreter } from '@contid/audit';
import { eventsOf } from './events-of';

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
