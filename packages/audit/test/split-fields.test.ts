import fc from 'fast-check';
import { splitAuditFields } from '../src/record';

/** The split as it was written before its loop: FIELD's matches, the first of a name kept. */
function reference(text: string): Map<string, string> {
  const out = new Map<string, string>();
  const field = /([A-Za-z0-9_-]+)=("[^"]*"|\S*)/g;
  for (let m = field.exec(text); m; m = field.exec(text)) if (!out.has(m[1])) out.set(m[1], m[2]);
  return out;
}

describe('splitAuditFields', () => {
  test('kernel and user records: the fields FIELD finds', () => {
    const lines = [
      'arch=c000003e syscall=59 success=yes exit=0 a0=55d1 items=2 ppid=1 pid=2 auid=0 ses=4 comm="echo" exe="/usr/bin/echo" key=(null)',
      `pid=1 uid=0 auid=4294967295 ses=4294967295 msg='op=create contid=300 name="a b" exe="/usr/bin/node" hostname=? addr=? terminal=? res=success'`,
      'argc=3 a0="sh" a1="-c" a2=6563686F2022783D792220 a3= a4="unterminated x=1',
      'name=".." nametype=PARENT cap_fp=0 x.y=1 -=2 __proto__=3 0=4 a=b=c',
    ];
    for (const l of lines) expect([...splitAuditFields(l)]).toEqual([...reference(l)]);
  });

  test('any text, whatever its quotes, blanks (\\s of every kind) and equals signs: the fields FIELD finds', () => {
    const unit = fc.oneof(
      fc.constantFrom('=', '"', ' ', '\t', '\n', '\v', '\f', '\r', '\xa0', '\x85', '\u1680', '\u2000', '\u200a', '\u200b', '\u2028', '\u202f', '\u205f', '\u3000', '\ufeff', "'", '.', '-', '_', '\\'),
      fc.constantFrom('a', 'b', 'Z', '0', '9', 'ses', 'exe', 'msg'),
      fc.string({ maxLength: 3 }),
      fc.integer({ min: 0, max: 255 }).map((c) => String.fromCharCode(c)),
    );
    fc.assert(
      fc.property(fc.array(unit, { maxLength: 40 }), (units) => {
        const text = units.join('');
        expect([...splitAuditFields(text)]).toEqual([...reference(text)]);
      }),
      { numRuns: 3000 },
    );
  });
});
