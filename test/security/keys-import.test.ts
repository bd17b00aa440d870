import { createHash, generateKeyPairSync } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { PublicKeyEntry } from '@contid/core';
import { contid, tempStateDir } from '../helpers/cli';

/**
 * Outside attack 10, K1, from the position docs/fleet.md puts a reader in: an analyst or a
 * collector imports each node's `contid keys export`. Root on node B (a compromised fleet
 * member) writes into its export a key of its own under node `vm`'s name and vm's genuine key
 * marked revoked: `keys import` trusted both, so B's forged bindings verified as vm's and vm's
 * own were rejected (K1); imported before vm's own export, B's file claiming vm was trusted as
 * vm's (outside attack 11, K2). The importer says which node a file is from (`--node NODE`), and
 * a file that changes what is trusted for a node already trusted needs `--update`.
 */
type Entry = PublicKeyEntry;

function newKey(node: string): Entry {
  const der = generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'der' });
  return { v: 1, node, keyId: createHash('sha256').update(der).digest('hex').slice(0, 16), publicKey: der.toString('base64'), created: '2026-11-30T00:00:00.000Z' };
}

describe('keys import: a file cannot claim, re-key or revoke a node it does not come from (attacks 10 K1, 11 K2)', () => {
  const state = tempStateDir('keys-import');
  const trust = join(state.dir, 'trust');
  const env = { ...state.env, CONTID_TRUST_DIR: trust };
  afterAll(() => state.cleanup());

  const write = (name: string, entries: Entry[]): string => {
    const file = join(state.dir, name);
    writeFileSync(file, entries.map((e) => JSON.stringify(e)).join('\n') + '\n');
    return file;
  };
  const trusted = (): Entry[] => readdirSync(trust).filter((n) => n.endsWith('.json')).map((n) => JSON.parse(readFileSync(join(trust, n), 'utf8')) as Entry).sort((a, b) => a.keyId.localeCompare(b.keyId));
  const vm = newKey('vm');
  const b = newKey('node-b');
  const bAsVm = { ...newKey('vm') };

  beforeAll(() => {
    mkdirSync(trust, { mode: 0o755 });
    const first = contid(['keys', 'import', '--node', 'vm', write('vm.keys', [vm])], { env });
    expect([first.status, first.stderr]).toEqual([0, '']);
    expect(first.stdout).toBe(`trusted ${vm.keyId} of node vm (a node new here) in ${trust}\n`);
  });

  test("node B's export adding a key under vm's name and revoking vm's key is refused, nothing written", () => {
    const before = trusted();
    const forged = write('node-b.keys', [bAsVm, { ...vm, revoked: '2026-11-30T23:00:00.000Z' }]);
    const r = contid(['keys', 'import', '--node', 'node-b', forged], { env });
    expect([r.status, r.stdout]).toEqual([2, '']);
    expect(r.stderr).toBe("contid: the file holds keys of node vm, not of node-b as --node says: nothing imported (is it the export of vm, or one that claims vm's name?)\n");
    // even taken for vm's own, it changes vm's keys: refused without --update
    const asVm = contid(['keys', 'import', '--node', 'vm', forged], { env });
    expect(asVm.status).toBe(2);
    expect(asVm.stderr).toBe(
      `contid: the file adds key ${bAsVm.keyId}, revokes key ${vm.keyId} of node vm, which ${trust} already trusts (keys ${vm.keyId}): if vm rotated or revoked its key, check the file came from vm and import it with --update\n`,
    );
    expect(trusted()).toEqual(before);
  });

  test("K2: a file claiming a node not trusted yet is refused when imported as another node's", () => {
    const before = trusted();
    const claims = newKey('web-07');
    const r = contid(['keys', 'import', '--node', 'node-b', write('b-claims-web.keys', [claims])], { env });
    expect([r.status, r.stdout]).toEqual([2, '']);
    expect(r.stderr).toMatch(/^contid: the file holds keys of node web-07, not of node-b as --node says/);
    expect(trusted()).toEqual(before);
  });

  test('--node is required: one line, exit 2', () => {
    const r = contid(['keys', 'import', write('vm-again.keys', [vm])], { env });
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/node/);
  });

  test('a file naming two nodes is refused whole', () => {
    const before = trusted();
    const r = contid(['keys', 'import', '--node', 'node-b', write('mixed.keys', [b, bAsVm])], { env });
    expect([r.status, r.stdout, r.stderr]).toEqual([2, '', 'contid: the file holds keys of 2 nodes (node-b, vm): an export is one node\'s; import each node\'s own export\n']);
    expect(trusted()).toEqual(before);
  });

  test("B's own export is trusted for B; --update as node-b does not let a change to vm through", () => {
    const own = contid(['keys', 'import', '--node', 'node-b', write('b-own.keys', [b])], { env });
    expect([own.status, own.stdout]).toEqual([0, `trusted ${b.keyId} of node node-b (a node new here) in ${trust}\n`]);
    const wrongWord = contid(['keys', 'import', '--node', 'node-b', '--update', write('b-vm.keys', [bAsVm])], { env });
    expect(wrongWord.status).toBe(2);
    expect(trusted().map((e) => e.keyId).sort()).toEqual([vm.keyId, b.keyId].sort());
  });

  test("vm's own rotation, imported with --update, adds its new key; re-importing the same file changes nothing", () => {
    const rotated = newKey('vm');
    const file = write('vm-rotated.keys', [vm, rotated]);
    const refused = contid(['keys', 'import', '--node', 'vm', file], { env });
    expect(refused.status).toBe(2);
    const r = contid(['keys', 'import', '--node', 'vm', '--update', file], { env });
    expect([r.status, r.stderr]).toEqual([0, '']);
    expect(r.stdout).toBe(`${vm.keyId} of node vm: already trusted, unchanged in ${trust}\ntrusted ${rotated.keyId} of node vm (a new key of a node trusted before) in ${trust}\n`);
    const again = contid(['keys', 'import', '--node', 'vm', file], { env });
    expect([again.status, again.stdout]).toEqual([0, `${vm.keyId} of node vm: already trusted, unchanged in ${trust}\n${rotated.keyId} of node vm: already trusted, unchanged in ${trust}\n`]);
  });

  test('a revocation recorded here stays, whatever a later file says; a revocation in a file needs --update', () => {
    const revoked = contid(['keys', 'revoke', b.keyId], { env });
    expect(revoked.status).toBe(0);
    const stale = contid(['keys', 'import', '--node', 'node-b', write('b-stale.keys', [b])], { env });
    expect(stale.status).toBe(0);
    expect(stale.stdout).toMatch(new RegExp(`^${b.keyId} of node node-b: revoked here \\S+, stays revoked in `));
    expect(trusted().find((e) => e.keyId === b.keyId)?.revoked).toBeDefined();
    const vmRevokes = write('vm-revokes.keys', [{ ...vm, revoked: '2026-11-30T23:30:00.000Z' }]);
    expect(contid(['keys', 'import', '--node', 'vm', vmRevokes], { env }).status).toBe(2);
    const accepted = contid(['keys', 'import', '--node', 'vm', '--update', vmRevokes], { env });
    expect([accepted.status, accepted.stdout]).toEqual([0, `revoked ${vm.keyId} of node vm (the file says revoked 2026-11-30T23:30:00.000Z) in ${trust}\n`]);
    expect(trusted().find((e) => e.keyId === vm.keyId)?.revoked).toBe('2026-11-30T23:30:00.000Z');
  });
});
