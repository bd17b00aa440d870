import fc from 'fast-check';
import { isBindingLine, isEntryLine } from '../src/line-bytes';
import { kernelStamp } from '../src/boot-watch';
import { stampSpan } from '../src/event-key';
import { parseRecord, sessionOfRecordLine, sessionValue } from '../src/record';

/*
 * The first pass of `search` and `contid index` look at every line's head by bytes alone
 * (isBindingLine, isEntryLine, kernelStamp). These specs say the same on the line as text;
 * the byte tests must agree with them on any head, wherever the line lies in its buffer.
 */

/** `[node=X ]` (a line starting with `n`: up to its first blank, at most 256 bytes on): where `type=` starts, or -1. */
function specTypeAt(line: string): number {
  if (!line.startsWith('n')) return 0;
  const sp = line.indexOf(' ');
  return sp < 0 || sp > 256 ? -1 : sp + 1;
}

function specBinding(line: string): boolean {
  const t = specTypeAt(line);
  return t >= 0 && /^type=(LOGIN|VIRT_CONTROL|USER|CONTAINER_OP|UNKNOWN\[1020\]) /.test(line.slice(t));
}

function specEntry(line: string): boolean {
  const t = specTypeAt(line);
  if (t < 0 || !line.startsWith('type=SYSCALL ', t)) return false;
  const at = line.indexOf(' syscall=', t + 'type=SYSCALL '.length);
  return at >= 0 && ['155 ', '308 ', '217 ', '346 '].includes(line.slice(at + 9, at + 13));
}

const digitsValue = (s: string): number => [...s].reduce((v, c) => v * 10 + c.charCodeAt(0) - 0x30, 0);

/** `msg=audit(SEC.MS:SERIAL)` within 300 bytes of `type=`, not auditd's own DAEMON_* record. */
function specStamp(line: string): { serial: number; timeMs: number } | null {
  const t = specTypeAt(line);
  if (t < 0 || line.startsWith('type=DAEMON_', t)) return null;
  const open = line.indexOf('msg=audit(', t);
  if (open < 0 || open - t > 300) return null;
  const close = line.indexOf(')', open);
  if (close < 0) return null;
  const inner = line.slice(open + 'msg=audit('.length, close);
  const dot = inner.indexOf('.');
  const colon = dot < 0 ? -1 : inner.indexOf(':', dot + 1);
  if (colon < 0 || !/^\d*$/.test(inner.slice(colon + 1))) return null;
  return { serial: digitsValue(inner.slice(colon + 1)), timeMs: digitsValue(inner.slice(0, dot)) * 1000 + digitsValue(inner.slice(dot + 1, colon)) };
}

/** The index's reading (event-key.ts): `msg=audit(` within 300 bytes of the line's start, to the first `)`. */
function specSpan(line: string): { from: number; to: number } | null {
  const open = line.indexOf('msg=audit(');
  if (open < 0 || open > 300) return null;
  const close = line.indexOf(')', open);
  return close < 0 ? null : { from: open + 'msg=audit('.length, to: close };
}

/** The session a decoded path reads: the record parsed from the text, its fields split whole, the first ses= (sessionOf's rule). */
function specSession(line: string): number | null | undefined {
  const rec = parseRecord(line);
  const ses = rec?.fields.get('ses');
  return ses === undefined ? undefined : sessionValue(ses);
}

const head = fc.tuple(
  fc.constantFrom('', 'node=web01 ', 'node=a.example.com ', 'n ', 'nodeX', `node=${'h'.repeat(251)} `, `node=${'h'.repeat(252)} `, 'x'),
  fc.constantFrom('LOGIN', 'VIRT_CONTROL', 'USER', 'USER_START', 'CWD', 'CONTAINER_OP', 'CONTAINER_OPX', 'UNKNOWN[1020]', 'UNKNOWN[1021]', 'SYSCALL', 'SYSCALLX', 'DAEMON_START', 'DAEMON', 'PATH', 'L', ''),
  fc.constantFrom(' ', '', '  '),
  fc.constantFrom('', 'x'.repeat(280), 'x'.repeat(287), 'x'.repeat(288), 'x'.repeat(300)),
  fc.constantFrom('msg=audit(', 'msg=audit', 'msg=aud', 'msg=audit(msg=audit(', ''),
  fc.constantFrom('1795000000.123:456', '1795000000.123:4567890123', '17950a0000.1x3:456', '1795000000.123:45x6', '1795000000:456', '1795000000.123', '1.2:3:4', '.:', '', '1795000000.123:'),
  fc.constantFrom('): ', ')', '', '): arch=c000003e'),
  fc.constantFrom('arch=c000003e syscall=308 success=yes', 'arch=c000003e syscall=155 a', 'arch=40000003 syscall=346 ', 'syscall=308 ', 'arch=c000003e syscall=30', 'arch=c000003e syscall=59 success=yes', ' syscall=217 ', 'pid=1 uid=0 ses=7 msg=\'syscall=308 \'', ''),
  fc.constantFrom('', ' ses=7', ' ses=12 comm="x"', ' ses=4294967295 ', ' ses=', ' ses=x', ' ses=1234567890123456789', 'ses=5', ' auid=0 ses=3 msg=\'a ses=9\''),
);

/** The line between two other lines (or last in its buffer, with stale bytes after it), as the readers hand it out. */
const placed = fc.tuple(head, fc.constantFrom('', 'type=PATH msg=audit(1.2:3): a\n'), fc.constantFrom('\ntype=SYSCALL msg=audit(9.9:9): syscall=308 \n', '', '\n')).map(([[pfx, type, sep, pad, open, stamp, close, rest, ses], before, after]) => {
  const line = `${pfx}type=${type}${sep}${pad}${open}${stamp}${close}${rest}${ses}`;
  const buf = Buffer.from(`${before}${line}${after}`, 'latin1');
  return { line, buf, start: before.length, end: before.length + line.length };
});

describe('line head byte tests (first pass, index build and check): equal to their text specs', () => {
  test('isBindingLine, isEntryLine, kernelStamp, stampSpan, sessionOfRecordLine on any head (property)', () => {
    fc.assert(
      fc.property(placed, ({ line, buf, start, end }) => {
        expect(isBindingLine(buf, start, end)).toBe(specBinding(line));
        expect(isEntryLine(buf, start, end)).toBe(specEntry(line));
        const into = { serial: -1, timeMs: -1 };
        const got = kernelStamp(buf, start, end, into);
        expect(got ? into : null).toEqual(specStamp(line));
        const span = specSpan(line);
        expect(stampSpan(buf, start, end)).toEqual(span && { from: start + span.from, to: start + span.to });
        expect([line, sessionOfRecordLine(buf, start, end)]).toEqual([line, specSession(line)]);
      }),
      { numRuns: 3000 },
    );
  });

  test('the usual heads', () => {
    const at = (line: string): [Buffer, number, number] => [Buffer.from(line, 'latin1'), 0, line.length];
    expect(isBindingLine(...at("node=n1 type=VIRT_CONTROL msg=audit(1.2:3): pid=1 msg='op=create'"))).toBe(true);
    expect(isBindingLine(...at('type=USER_START msg=audit(1.2:3): pid=1'))).toBe(false);
    expect(isEntryLine(...at('type=SYSCALL msg=audit(1.2:3): arch=c000003e syscall=308 success=yes'))).toBe(true);
    expect(isEntryLine(...at('type=SYSCALL msg=audit(1.2:3): arch=c000003e syscall=3080 success=yes'))).toBe(false);
    const into = { serial: 0, timeMs: 0 };
    expect(kernelStamp(...at('type=PATH msg=audit(1795000000.123:4567): item=0'), into)).toBe(true);
    expect(into).toEqual({ serial: 4567, timeMs: 1795000000123 });
    expect(kernelStamp(...at('type=DAEMON_START msg=audit(1795000000.123:4567): op=start'), into)).toBe(false);
  });
});
