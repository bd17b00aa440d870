import { MessageType, marshalCall, messageLength, parseMessage, signatureTypes, unitObjectPath, unitOfObjectPath } from '../src/dbus-wire';
import { endReason } from '../src/end-follower';
import { propertiesChanged } from './dbus-fixtures';

describe('D-Bus wire format (contid serve following PID 1)', () => {
  test('a signal of a unit: its path, interface and properties, byte arrays as Buffers', () => {
    const id = Buffer.from('2bd1f003bfc04d2dae489541ebee51f4', 'hex');
    const bytes = propertiesChanged(7, unitObjectPath('web.service'), 'org.freedesktop.systemd1.Unit', [
      ['ActiveState', 's', 'failed'],
      ['InvocationID', 'ay', id],
      ['SubState', 's', 'failed'],
    ]);
    expect(messageLength(bytes)).toBe(bytes.length);
    expect(messageLength(bytes.subarray(0, bytes.length - 1))).toBeNull();
    const m = parseMessage(bytes);
    expect(m).toMatchObject({ type: MessageType.Signal, serial: 7, path: '/org/freedesktop/systemd1/unit/web_2eservice', member: 'PropertiesChanged', signature: 'sa{sv}as' });
    const [iface, props, invalidated] = m.body;
    expect(iface).toBe('org.freedesktop.systemd1.Unit');
    expect(props).toBeInstanceOf(Map);
    const p = props as Map<string, unknown>;
    expect(p.get('ActiveState')).toBe('failed');
    expect((p.get('InvocationID') as Buffer).toString('hex')).toBe(id.toString('hex'));
    expect(invalidated).toEqual([]);
  });

  test('a service signal with int properties, and two messages in one read', () => {
    const a = propertiesChanged(1, unitObjectPath('a.service'), 'org.freedesktop.systemd1.Service', [
      ['Result', 's', 'exit-code'],
      ['ExecMainCode', 'i', 1],
      ['ExecMainStatus', 'i', 3],
    ]);
    const b = propertiesChanged(2, unitObjectPath('b.service'), 'org.freedesktop.systemd1.Unit', [['ActiveState', 's', 'active']]);
    const both = Buffer.concat([a, b]);
    const n = messageLength(both)!;
    expect(n).toBe(a.length);
    const p = parseMessage(both.subarray(0, n)).body[1] as Map<string, unknown>;
    expect([p.get('Result'), p.get('ExecMainCode'), p.get('ExecMainStatus')]).toEqual(['exit-code', 1, 3]);
    expect(parseMessage(both.subarray(n)).path).toBe('/org/freedesktop/systemd1/unit/b_2eservice');
  });

  test('with the properties named, a signal holds those alone; the others (strings, arrays) are skipped unread', () => {
    const bytes = propertiesChanged(9, unitObjectPath('a.service'), 'org.freedesktop.systemd1.Unit', [
      ['Description', 's', 'x'.repeat(300)],
      ['InvocationID', 'ay', Buffer.alloc(16, 0xab)],
      ['Names', 'ay', Buffer.alloc(1000, 1)],
      ['ActiveState', 's', 'inactive'],
      ['ExecMainStatus', 'i', -2],
    ]);
    const m = parseMessage(bytes, () => true, new Set(['ActiveState', 'InvocationID', 'ExecMainStatus']));
    const p = m.body[1] as Map<string, unknown>;
    expect([...p.keys()]).toEqual(['InvocationID', 'ActiveState', 'ExecMainStatus']);
    expect([(p.get('InvocationID') as Buffer).toString('hex'), p.get('ActiveState'), p.get('ExecMainStatus')]).toEqual(['ab'.repeat(16), 'inactive', -2]);
    // A header alone, when the body is not wanted.
    expect(parseMessage(bytes, () => false).body).toEqual([]);
  });

  test('a method call reads back as written (GetUnit with its string argument)', () => {
    const bytes = marshalCall(42, { path: '/org/freedesktop/systemd1', interface: 'org.freedesktop.systemd1.Manager', member: 'GetUnit', destination: 'org.freedesktop.systemd1', args: ['systemd-nspawn@box.service'] });
    const m = parseMessage(bytes);
    expect(m).toMatchObject({ type: MessageType.MethodCall, serial: 42, path: '/org/freedesktop/systemd1', interface: 'org.freedesktop.systemd1.Manager', member: 'GetUnit', signature: 's' });
    expect(m.body).toEqual(['systemd-nspawn@box.service']);
  });

  test('a message cut short or a value past its end is refused with one line, never read past', () => {
    const bytes = propertiesChanged(3, unitObjectPath('a.service'), 'org.freedesktop.systemd1.Unit', [['ActiveState', 's', 'active']]);
    const broken = Buffer.from(bytes);
    // The body's first string claims more bytes than the message has.
    const bodyAt = bytes.length - bytes.readUInt32LE(4);
    broken.writeUInt32LE(0xffff, bodyAt);
    expect(() => parseMessage(broken)).toThrow(/D-Bus: a message ends inside a value/);
    expect(() => signatureTypes('a{sv')).toThrow(/unbalanced signature/);
    expect(() => signatureTypes('z')).toThrow(/unknown type "z"/);
  });

  test("unit object paths as systemd escapes them, both ways; another path is no unit's", () => {
    for (const unit of ['web.service', 'systemd-nspawn@box.service', 'a-b_c.service', 'x\\x2dy.service']) {
      expect(unitOfObjectPath(unitObjectPath(unit))).toBe(unit);
    }
    expect(unitObjectPath('systemd-nspawn@box.service')).toBe('/org/freedesktop/systemd1/unit/systemd_2dnspawn_40box_2eservice');
    expect(unitOfObjectPath('/org/freedesktop/systemd1/job/12')).toBeNull();
  });

  test("the end reason in the ExecStopPost= line's words, from systemd's properties", () => {
    expect(endReason({ result: 'success', code: 1, status: 0 })).toBe('service-result:success,exit-code:exited,exit-status:0');
    expect(endReason({ result: 'exit-code', code: 1, status: 3 })).toBe('service-result:exit-code,exit-code:exited,exit-status:3');
    expect(endReason({ result: 'signal', code: 2, status: 15 })).toBe('service-result:signal,exit-code:killed,exit-status:TERM');
    expect(endReason({ result: 'success', code: 0, status: 0 })).toBe('service-result:success');
    expect(endReason({})).toBe('stopped');
  });
});
