import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { waitForAudit } from '../helpers/audit';
import { contid, tempStateDir, uniqueName } from '../helpers/cli';

interface Shown {
  signing: { keyId: string; node: string } | null;
  trusted: { keyId: string; node: string; revoked?: string }[];
}

/** `contid keys` as an administrator uses it: rotate, show, export, revoke, import; tagging signs with the current key. */
describe('contid keys', () => {
  const state = tempStateDir('keys-cli');
  const env = { ...state.env, CONTID_NODE_NAME: 'keys-node' };
  afterAll(() => state.cleanup());
  const show = (): Shown => JSON.parse(contid(['--json', 'keys', 'show'], { env }).stdout) as Shown;

  it('rotate keeps old public keys; revoke of the own key rotates; a revocation survives re-import; bad input is one line', async () => {
    const first = contid(['keys', 'rotate'], { env });
    expect(first.stdout).toMatch(/^node keys-node signs with [0-9a-f]{16}; export it/);
    const k1 = show().signing!.keyId;
    const second = contid(['keys', 'rotate'], { env });
    expect(second.stdout).toContain(`(was ${k1}, still trusted for old records)`);
    const k2 = show().signing!.keyId;
    expect(show().trusted.map((t) => [t.keyId, t.revoked === undefined]).sort()).toEqual([[k1, true], [k2, true]].sort());
    const exported = contid(['keys', 'export'], { env });
    expect(exported.stdout.trim().split('\n')).toHaveLength(2);
    writeFileSync(join(state.dir, 'node.keys'), exported.stdout);

    const revoked = contid(['keys', 'revoke', k2], { env });
    expect(revoked.stdout).toMatch(new RegExp(`revoked ${k2} of node keys-node .*\\nthis node now signs with [0-9a-f]{16}`));
    const k3 = show().signing!.keyId;
    expect(k3).not.toBe(k2);
    const again = contid(['keys', 'import', '--node', 'keys-node', join(state.dir, 'node.keys')], { env });
    expect(again.stdout).toContain(`${k2} of node keys-node: revoked here `);
    expect(show().trusted.find((t) => t.keyId === k2)?.revoked).toBeDefined();

    // tagging signs with the current key, and search verifies it
    const name = uniqueName('keys-web');
    expect(contid(['exec', '--name', name, '--', 'true'], { env }).status).toBe(0);
    const [line] = await waitForAudit(['-m', 'VIRT_CONTROL', '--vm-name', name], (l) => l.length > 0);
    expect(line).toContain(`contid-key=${k3} `);
    expect(line).toContain('contid-node=keys-node ');

    writeFileSync(join(state.dir, 'bad.keys'), '{"v":1,"node":"x"}\n');
    const bad = contid(['keys', 'import', '--node', 'x', join(state.dir, 'bad.keys')], { env });
    expect([bad.status, bad.stderr]).toEqual([2, `contid: ${join(state.dir, 'bad.keys')}:1: not a contid public key (needs v=1, node, keyId, publicKey)\n`]);
    const notId = contid(['keys', 'revoke', 'zz'], { env });
    expect([notId.status, notId.stderr]).toEqual([2, 'contid: "zz" is not a key id (16 hex digits)\n']);
  });
});
