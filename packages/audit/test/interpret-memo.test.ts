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
