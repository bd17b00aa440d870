import fc from 'fast-check';
import {
  LifecycleRecord,
  decodeValue,
  encodeValue,
  formatLifecycle,
  parseLifecycle,
  signLifecycle,
  toContainerId,
  verifyMac,
} from '@contid/core';

/** Splits `k=v k=v` like the audit parser does (values never contain spaces once encoded). */
function fields(body: string): Map<string, string> {
  return new Map(body.split(' ').map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
}

const sample: LifecycleRecord = {
  op: 'create',
  orchestrator: 'docker',
  name: 'web',
  runtimeId: '4f1c2a9e',
  pid: 3541,
  session: 9,
  contid: toContainerId(1795896418004992n),
  parent: null,
  namespaces: { mnt: 4026532299, pid: 4026532302 },
  node: null,
};

describe('lifecycle record format', () => {
  it('writes the fields ausearch --vm-name and --uuid match, with vm-ses (not ses)', () => {
    const text = formatLifecycle(sample);
    expect(text).toBe(
      'virt=docker op=create vm="web" uuid=4f1c2a9e vm-pid=3541 vm-ses=9 contid=1795896418004992 parent-contid=? ns=mnt:4026532299,pid:4026532302 node=?',
    );
    expect(text).not.toMatch(/(^| )ses=/);
  });

  it('hex-encodes names the way audit_encode_nv_string does', () => {
    expect(encodeValue('web')).toBe('"web"');
    expect(encodeValue('my web')).toBe('6D7920776562');
    expect(encodeValue('a"b')).toBe('612262');
    fc.assert(fc.property(fc.string({ minLength: 1 }), (s) => expect(decodeValue(encodeValue(s))).toBe(s)));
  });

  it('parses back what it writes, for any name and IDs', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 40 }), fc.bigInt({ min: 1n, max: (1n << 64n) - 2n }), (name, id) => {
        const r = { ...sample, name, contid: toContainerId(id), parent: toContainerId(id) };
        expect(parseLifecycle(fields(formatLifecycle(r)))).toEqual({ ...r, reason: undefined });
      }),
    );
  });

  it('ignores VIRT_CONTROL records that are not contid bindings (libvirt)', () => {
    expect(parseLifecycle(fields('virt=lxc op=start reason=booted vm="x" uuid=? vm-pid=12'))).toBeNull();
  });

  it('signs records so a forgery without the key does not verify', () => {
    const key = Buffer.alloc(32, 7);
    const body = signLifecycle(sample, key) + ' exe="/usr/bin/node" hostname=? addr=? terminal=? res=success';
    expect(verifyMac(body, key)).toBe(true);
    expect(verifyMac(body.replace('vm-ses=9', 'vm-ses=10'), key)).toBe(false);
    expect(verifyMac(body, Buffer.alloc(32, 8))).toBe(false);
    expect(verifyMac(formatLifecycle(sample), key)).toBeNull();
  });
});
