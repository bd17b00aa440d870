import fc from 'fast-check';
import {
  LifecycleRecord,
  decodeValue,
  encodeValue,
  formatLifecycle,
  parseLifecycle,
  signLifecycle,
  splitSignedBody,
  toContainerId,
  ephemeralSigner,
  TrustStore,
  verifySignature,
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
  idPrefix: null,
};

describe('lifecycle record format', () => {
  it('writes the fields ausearch --vm-name and --uuid match, with vm-ses (not ses)', () => {
    const text = formatLifecycle(sample);
    expect(text).toBe(
      'virt=docker op=create vm="web" uuid="4f1c2a9e" vm-pid=3541 vm-ses=9 contid=1795896418004992 parent-contid=? ns=mnt:4026532299,pid:4026532302 id-prefix=?',
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

  it('a runtime id made of hex digits reads back as itself (uuid= is encoded like every user string)', () => {
    const r = { ...sample, runtimeId: '41424344' };
    expect(parseLifecycle(fields(formatLifecycle(r)))?.runtimeId).toBe('41424344');
    expect(parseLifecycle(fields(formatLifecycle({ ...sample, runtimeId: 'a b"c' })))?.runtimeId).toBe('a b"c');
  });

  it('signs records so that a forgery without the private key does not verify (public key only)', () => {
    const signer = ephemeralSigner('node-a');
    const other = ephemeralSigner('node-a');
    const trailer = ' exe="/usr/bin/node" hostname=? addr=? terminal=? res=success';
    const body = signLifecycle(sample, signer, '54f0d7e8a80944f09754f3cc4a654b57', 1795896418455) + trailer;
    const split = splitSignedBody(body);
    if (typeof split === 'string') throw new Error(split);
    const trust = TrustStore.empty();
    trust.add(signer.publicEntry);
    const key = trust.get(signer.keyId)!.key;
    expect(split.fields.get('contid-key')).toBe(signer.keyId);
    expect(split.fields.get('contid-node')).toBe('node-a');
    expect(verifySignature(key, split.payload, split.signature)).toBe(true);
    expect(verifySignature(key, split.payload.replace('vm-ses=9', 'vm-ses=10'), split.signature)).toBe(false);
    expect(verifySignature(trust.get(signer.keyId)!.key, split.payload, other.sign(split.payload))).toBe(false);
    expect(split.signature).toMatch(/^[A-Za-z0-9_-]{86}$/);
  });

  it('takes the trailer from the end and refuses payload fields that repeat or are not contid\'s', () => {
    const signer = ephemeralSigner('node-a');
    const signed = signLifecycle(sample, signer, '54f0d7e8a80944f09754f3cc4a654b57', 1);
    expect(splitSignedBody(signed)).toBe('truncated'); // no libaudit trailer: cut by the kernel
    expect(splitSignedBody(`${formatLifecycle(sample)} exe="/x" hostname=? addr=? terminal=? res=success`)).toBe('unsigned');
    const shadow = signed.replace(' contid-sig=', ' exe="/usr/bin/node" contid-sig=');
    expect(splitSignedBody(`${shadow} exe="/tmp/evil" hostname=? addr=? terminal=? res=success`)).toBe('malformed');
    const twice = signed.replace('op=create', 'op=create op=setns');
    expect(splitSignedBody(`${twice} exe="/x" hostname=? addr=? terminal=? res=success`)).toBe('malformed');
    const ok = splitSignedBody(`${signed} exe="/tmp/evil" hostname=? addr=? terminal=? res=success`);
    expect(typeof ok !== 'string' && ok.trailer.exe).toBe('"/tmp/evil"');
  });
});
