import fc from 'fast-check';
import { fieldValue, isEncodedField, kernelField, parseRecord } from '@contid/audit';

/** Hex decoding applies only to the fields auditd writes encoded: numbers are hex digits too. */
describe('field decoding', () => {
  it('decodes encoded fields (quoted or upper-case hex)', () => {
    expect(fieldValue('"/usr/bin/id"', 'name')).toBe('/usr/bin/id');
    expect(fieldValue('2F746D702F612062', 'name')).toBe('/tmp/a b');
    expect(fieldValue('6964002D756E', 'proctitle')).toBe('id\0-un');
    expect(fieldValue('2F746D70', 'a1', 'EXECVE')).toBe('/tmp');
  });

  it('leaves numbers alone: inodes, pids, and SYSCALL register arguments', () => {
    expect(fieldValue('2146456', 'inode')).toBe('2146456');
    expect(fieldValue('3478', 'pid')).toBe('3478');
    expect(fieldValue('10', 'a0', 'SYSCALL')).toBe('10');
    expect(isEncodedField('a0', 'SYSCALL')).toBe(false);
    expect(isEncodedField('a0', 'EXECVE')).toBe(true);
  });
});

describe('kernelField: one field without splitting the record', () => {
  it('equals fields.get for any text (quotes, tabs, parentheses, old-ses=, msg bodies)', () => {
    const token = fc.oneof(
      fc.constantFrom('ses=1', 'ses=22', 'old-ses=3', 'xses=4', '(ses=5', 'ses="6 7"', 'ses=', "msg='ses=8 a=b'", 'exe="/x ses=9"', 'a=b', 'tty=(none)', 'ses=4294967295', '\tses=10', 'ses=11\tb=c', 'comm="a', 'a=bses=12', 'x:ses=13', 'c="d"ses=14', 'old-ses=15', 'ses-x=16'),
      fc.string({ maxLength: 6 }),
    );
    fc.assert(
      fc.property(fc.array(token, { maxLength: 8 }), fc.constantFrom(' ', '  ', '\t', ','), (tokens, sep) => {
        const line = `type=SYSCALL msg=audit(1.000:1): ${tokens.join(sep)}`;
        const lazy = parseRecord(line);
        const split = parseRecord(line);
        if (!lazy || !split) return;
        for (const name of ['ses', 'a', 'exe', 'tty']) expect([name, kernelField(lazy, name)]).toEqual([name, split.fields.get(name)]);
      }),
      { numRuns: 2000 },
    );
  });
});
