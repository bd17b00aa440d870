import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { scanSessions } from '../src/session-scan';

/**
 * The session scan holds a bounded number of open events (SCAN_MAX_OPEN by default). Past it the
 * oldest is completed early, as the reassembler does; a record of it that comes later is read as
 * an event of its own — never dropped, and counted (onCut) so that search says so on stderr.
 */
describe('session scan: the bound on open events', () => {
  const dir = mkdtempSync(join(tmpdir(), 'contid-scan-bound-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const T = 1795927031;
  const sys = (serial: number, ses: number): string =>
    `type=SYSCALL msg=audit(${T}.100:${serial}): arch=c000003e syscall=59 success=yes exit=0 a0=1 a1=2 a2=3 a3=4 items=1 ppid=1 pid=${serial} auid=0 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=${ses} comm="x" exe="/usr/bin/x" key=(null)`;
  const pt = (serial: number): string => `type=PROCTITLE msg=audit(${T}.100:${serial}): proctitle=78`;

  function scan(lines: string[], maxOpen?: number): { events: string[][]; cut: number } {
    const log = join(dir, `bound-${maxOpen ?? 'default'}.log`);
    writeFileSync(log, lines.join('\n') + '\n', 'latin1');
    const events: string[][] = [];
    let current: string[] = [];
    let cut = 0;
    scanSessions(log, [5], (line) => current.push(line), {
      maxOpen,
      onEventEnd: () => {
        events.push(current);
        current = [];
      },
      onCut: (n) => (cut += n),
    });
    return { events, cut };
  }

  // event 1 of session 5 opens, 10 other events open after it (one more than the bound of 10 below), then event 1's PROCTITLE
  const lines = [sys(1, 5), ...Array.from({ length: 10 }, (_, i) => sys(100 + i, 77)), pt(1)];

  it('within the bound: the event is whole, nothing counted', () => {
    expect(scan(lines)).toEqual({ events: [[sys(1, 5), pt(1)]], cut: 0 });
  });

  it('past the bound: the early-completed event and its late record both handed out, the record counted', () => {
    const { events, cut } = scan(lines, 10);
    expect(events).toEqual([[sys(1, 5)]]); // the late PROCTITLE opened an event of its own: no ses=5 in it
    expect(cut).toBe(1);
  });
});
