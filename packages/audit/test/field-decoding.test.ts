import { fieldValue, isEncodedField } from '@contid/audit';

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
