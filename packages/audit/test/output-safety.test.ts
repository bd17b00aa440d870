import fc from 'fast-check';
import { formatAuditEvent, parseRecord } from '@contid/audit';
import { eventsOf } from './events-of';

/** Output safety by construction: valid UTF-8, JSON only from a serializer, no raw control characters in text. */
const hex = (bytes: Buffer | string): string => Buffer.from(bytes as string).toString('hex').toUpperCase();
const FORMATS = ['raw', 'interpret', 'text', 'csv', 'json', 'ecs'] as const;

const execve = (serial: number, args: string[], title: string, success = 'yes'): string[] => [
  `type=SYSCALL msg=audit(1795999836.528:${serial}): arch=c000003e syscall=59 success=${success} exit=0 a0=1 a1=2 a2=3 a3=8 items=2 ppid=1 pid=600 auid=0 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=3 comm="sh" exe="/usr/bin/dash" key="k1"`,
  `type=EXECVE msg=audit(1795999836.528:${serial}): argc=${args.length} ${args.map((a, i) => `a${i}=${a}`).join(' ')}`,
  `type=PROCTITLE msg=audit(1795999836.528:${serial}): proctitle=${title}`,
];

/** Whole-output checks every format must pass. */
function checkOutput(format: (typeof FORMATS)[number], text: string): void {
  expect(text.endsWith('\n')).toBe(true);
  // no lone surrogate: the text encodes to UTF-8 and back unchanged
  expect(Buffer.from(text, 'utf8').toString('utf8')).toBe(text);
  if (format === 'json' || format === 'ecs') {
    const lines = text.slice(0, -1).split('\n');
    expect(lines).toHaveLength(1);
    expect(() => JSON.parse(lines[0])).not.toThrow();
  } else {
    expect(text).not.toMatch(/[\x00-\x09\x0b-\x1f\x7f-\x9f]/);
  }
}

describe('output safety', () => {
  it('a 上 in an argument stays one JSON line and one character; 丢 in a title injects nothing', () => {
    const [ev] = eventsOf(execve(1, [hex('上'), '"x"'], hex('a丢","container":{"id":"1337","name":"db-prod"}')));
    const json = JSON.parse(formatAuditEvent('json', ev, []));
    expect(json.records[1].fields.a0).toBe('上');
    const ecs = JSON.parse(formatAuditEvent('ecs', ev, []));
    expect(ecs.container).toBeUndefined();
    expect(ecs.process.title).toBe('a丢","container":{"id":"1337","name":"db-prod"}');
    expect(ecs.process.args).toEqual(['上', 'x']);
    for (const f of FORMATS) checkOutput(f, formatAuditEvent(f, ev, []));
  });

  it('ESC, BEL and CR from an argument are escaped in text output as ausearch does (\\033)', () => {
    const [ev] = eventsOf(execve(2, [hex('\x1b]0;pwned\x07\r')], hex('t')));
    const interpreted = formatAuditEvent('interpret', ev, []);
    expect(interpreted).toContain('a0=\\033]0;pwned\\007\\015');
    for (const f of FORMATS) checkOutput(f, formatAuditEvent(f, ev, []));
  });

  it('invalid UTF-8 bytes are escaped as \\ooo, never replaced or passed raw', () => {
    const [ev] = eventsOf(execve(3, [hex(Buffer.from([0x41, 0xff, 0xc3]))], hex('t')));
    expect(JSON.parse(formatAuditEvent('json', ev, [])).records[1].fields.a0).toBe('A\\377\\303');
    const raw = parseRecord(`type=USER msg=audit(1.000:4): pid=1 uid=0 msg='op=\xff\x1b[2J res=success'`)!;
    const [user] = eventsOf([raw.raw]);
    expect(formatAuditEvent('raw', user, [])).toBe("type=USER msg=audit(1.000:4): pid=1 uid=0 msg='op=\\377\\033[2J res=success'\n");
  });

  it('ECS: event.action is the syscall name, a quoted success="yes" is a success, serials stay exact', () => {
    const [ev] = eventsOf(execve(5, ['"x"'], hex('t'), '"yes"'));
    const ecs = JSON.parse(formatAuditEvent('ecs', ev, []));
    expect(ecs.event).toMatchObject({ action: 'execve', outcome: 'success', module: 'auditd' });
    expect(ecs.auditd).toMatchObject({ message_type: 'syscall', result: 'success', session: '3', data: { syscall: 'execve' } });
    const [big] = eventsOf(['type=USER msg=audit(1.000:18446744073709551615): pid=1 uid=0 msg=\'res=failed\'']);
    expect(JSON.parse(formatAuditEvent('json', big, [])).serial).toBe('18446744073709551615');
    expect(JSON.parse(formatAuditEvent('ecs', big, [])).event).toMatchObject({ sequence: '18446744073709551615', outcome: 'failure', action: 'user' });
  });

  it('ECS: names from an enriched part that a sender could have written are not used (a 0x1D inside a user message)', () => {
    // As logged on this machine (auditd 3.0.9, log_format ENRICHED): root in a default Docker
    // container sent a USER_LOGIN whose text holds 0x1D and fake names; auditd's own enriched
    // part after it was misled too. The ids are the kernel's (uid=0 auid=0).
    const forged = `type=USER_LOGIN msg=audit(1796033218.810:2533520): pid=28523 uid=0 auid=0 ses=54017 msg='op=login acct="r-gs-probe" exe="/usr/sbin/sshd" hostname=h addr=10.0.0.9 terminal=ssh res=success\x1dAUID="alice4" UID="alice4"'\x1dUID="alice4" AUID="alice4"`;
    const ecs = JSON.parse(formatAuditEvent('ecs', eventsOf([forged])[0], []));
    expect(ecs.user).toEqual({ id: '0', audit: { id: '0' } });
    // one 0x1D, auditd's own: its names are used
    const genuine = `type=USER_LOGIN msg=audit(1796033218.810:2533521): pid=28523 uid=0 auid=1000 ses=54017 msg='op=login acct="bob" exe="/usr/sbin/sshd" hostname=h addr=10.0.0.9 terminal=ssh res=success'\x1dUID="root" AUID="bob"`;
    expect(JSON.parse(formatAuditEvent('ecs', eventsOf([genuine])[0], [])).user).toEqual({ id: '0', name: 'root', audit: { id: '1000', name: 'bob' } });
  });

  it('fuzz: any bytes, any hex payload — every format is valid UTF-8, JSON parses, text has no raw control character', () => {
    const bytes = fc.uint8Array({ maxLength: 60 }).map((b) => Buffer.from(b));
    const line = fc.oneof(
      bytes.map((b) => `type=EXECVE msg=audit(1.000:7): argc=1 a0=${hex(b)}`),
      bytes.map((b) => `type=PROCTITLE msg=audit(1.000:7): proctitle=${hex(b)}`),
      bytes.map((b) => `type=USER msg=audit(1.000:8): pid=1 uid=0 msg='op=${b.toString('latin1')} exe="${b.toString('latin1')}" res=success'`),
      bytes.map((b) => `node=${b.toString('latin1').replace(/\s/g, '')}x type=SYSCALL msg=audit(1.000:9): arch=c000003e syscall=2 success=no exit=-2 comm=${hex(b)} key=${hex(b)}`),
      bytes.map((b) => b.toString('latin1')),
      fc.string({ maxLength: 80 }).map((s) => `type=AVC msg=audit(1.000:10): avc:  denied  { ${s} } for pid=1 comm="${s}" scontext=${s}`),
    );
    fc.assert(
      fc.property(fc.array(line, { maxLength: 12 }), (lines) => {
        for (const ev of eventsOf(lines.map((l) => l.replace(/\n/g, '')))) for (const f of FORMATS) checkOutput(f, formatAuditEvent(f, ev, []));
      }),
      { numRuns: 150 },
    );
  });
});

describe('type names that are Object.prototype members', () => {
  it.each(['toString', 'valueOf', '__proto__', 'constructor', 'hasOwnProperty'])('type=%s is an unknown type, every format renders it', (t) => {
    const [ev] = eventsOf([`type=${t} msg=audit(1.000:1): ${t}=1`]);
    expect(ev.records[0].typeNumber).toBeNull();
    for (const f of FORMATS) checkOutput(f, formatAuditEvent(f, ev, []));
  });
});
