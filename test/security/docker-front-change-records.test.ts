import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { uniqueName } from '../helpers/cli';
import { field, waitForAudit } from '../helpers/audit';
import { FrontSuite } from '../docker/front-suite';
import type { LoginUser } from '../docker/login-user';

// Outside attack 13, F9, from the attacker's real position: mallory, a non-root login user in
// group docker, on a real `contid docker front`, changes root's plain container (made on
// dockerd's own socket, as root's usually are): `docker cp` of a file of hers into it, `docker
// update`. dockerd makes the change itself (the cp's file is written by dockerd's child, auid
// unset) and the front noted changes only on a container that already had a note of its own —
// so no record anywhere named her. Each change the front relays must leave an audit record
// (real auditd, found with ausearch) naming her, the container and the change.
const suite = FrontSuite.withContidDefault('frontrec', { name: 'local/busybox-frontrec:1', links: { 'bin/sleep': 'busybox', 'bin/cat': 'busybox' } });
const { engine } = suite;
let mallory: LoginUser;

beforeAll(async () => {
  mallory = suite.loginUser('contid-fr-mallory');
  await suite.start();
}, 180_000);

afterAll(async () => {
  await suite.stop();
}, 120_000);

/** The front's VIRT_RESOURCE records for container ID (ausearch --uuid), raw. */
const recordsOf = (id: string, reason: string) => waitForAudit(['-m', 'VIRT_RESOURCE', '--uuid', id], (l) => l.some((x) => field(x, 'reason') === reason));

describe("her changes of root's container are in the audit trail, naming her", () => {
  test("docker cp of her file into root's container, and docker update of it: one record each, with her uid, login, auid and the container", async () => {
    const name = uniqueName('rootweb');
    // Root's, on dockerd's own socket: no note of the front's.
    expect(engine.docker(['run', '-d', '--name', name, engine.image, 'sleep', '600']).status).toBe(0);
    const id = engine.docker(['inspect', '-f', '{{.Id}}', name]).stdout.trim();
    const evil = join(mallory.home, 'evil');
    writeFileSync(evil, 'planted\n');
    const cp = suite.docker(mallory, ['cp', evil, `${name}:/bin/evil`]);
    expect({ status: cp.status, stderr: cp.stderr }).toEqual({ status: 0, stderr: '' });
    expect(engine.docker(['exec', name, 'cat', '/bin/evil']).stdout).toBe('planted\n');
    const up = suite.docker(mallory, ['update', '--restart', 'on-failure:3', name]);
    expect(up.status).toBe(0);

    const cps = (await recordsOf(id, 'cp')).filter((l) => field(l, 'reason') === 'cp');
    expect(cps).toHaveLength(1);
    const rec = cps[0]!;
    expect({
      vm: field(rec, 'vm'),
      uuid: field(rec, 'uuid'),
      uid: field(rec, 'requester-uid'),
      user: field(rec, 'requester-user'),
      auid: field(rec, 'requester-auid'),
      exe: field(rec, 'requester-exe'),
    }).toEqual({ vm: name, uuid: id, uid: String(mallory.uid), user: mallory.name, auid: String(mallory.uid), exe: expect.stringMatching(/docker$/) });
    // Her request as she sent it, hex-encoded (it holds a space).
    expect(Buffer.from(field(rec, 'request')!, 'hex').toString('utf8')).toMatch(new RegExp(`^PUT /v[0-9.]+/containers/${name}/archive\\?`));

    const updates = (await recordsOf(id, 'update')).filter((l) => field(l, 'reason') === 'update');
    expect(updates.map((l) => [field(l, 'requester-uid'), field(l, 'vm')])).toEqual([[String(mallory.uid), name]]);
  }, 120_000);
});
