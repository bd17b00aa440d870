import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { loginNameOf } from '@contid/core';
import { changeRecord } from '../src/front/change-record';

const who = { uid: 1001, auid: 1001, session: 7, pid: 4242, exe: '/usr/bin/docker' };
const id = 'a'.repeat(64);

describe('changeRecord', () => {
  test('names the change, the container (name without its slash, full id) and the requester', () => {
    const text = changeRecord('cp', { id, name: '/web' }, who, 'PUT /v1.41/containers/web/archive?path=/etc');
    expect(text).toMatch(new RegExp(`^virt=docker resrc=container reason=cp vm="web" uuid="${id}" requester-uid=1001 requester-user=\\S+ requester-auid=1001 requester-ses=7 requester-pid=4242 requester-exe="/usr/bin/docker" request=[0-9A-F]+$`));
  });

  test("caller strings cannot add fields: a space, a quote or a ' is hex", () => {
    const text = changeRecord('update', { id, name: null }, { ...who, exe: "/tmp/x' requester-uid=0 '" }, "POST /containers/x'y/update");
    const fields = text.split(' ').map((f) => f.slice(0, f.indexOf('=')));
    expect(fields).toEqual(['virt', 'resrc', 'reason', 'vm', 'uuid', 'requester-uid', 'requester-user', 'requester-auid', 'requester-ses', 'requester-pid', 'requester-exe', 'request']);
    expect(text).toContain('vm=?');
    expect(text).toContain(`requester-exe=${Buffer.from("/tmp/x' requester-uid=0 '").toString('hex').toUpperCase()}`);
  });

  test('the login name comes from passwd (core loginNameOf); none: null', () => {
    const file = join(tmpdir(), `front13b-passwd-${process.pid}`);
    writeFileSync(file, 'root:x:0:0::/root:/bin/sh\nmallory:x:1001:1001::/home/m:/bin/sh\n');
    try {
      expect([loginNameOf(1001, file), loginNameOf(5, file), loginNameOf(1, '/nonexistent')]).toEqual(['mallory', null, null]);
    } finally {
      rmSync(file, { force: true });
    }
  });
});
