import { ephemeralSigner, parseContainerId, signLifecycle } from '@contid/core';
import { Attributor, parseRecord } from '@contid/audit';
import { rejectionReport } from '../src/commands/trust-args';

/**
 * What search and tail print on stderr about bindings they could not verify: a log holding
 * bindings signed by many keys this reader lacks (a collector before the fleet's keys are
 * imported, or a flood of forgeries under made-up keys) gives a few lines, not one per key.
 */
const BOOT = '54f0d7e8a80944f09754f3cc4a654b57';

function signedBy(keys: number, bindingsOfFirst = 1): Attributor {
  const att = new Attributor();
  let serial = 1;
  for (let k = 0; k < keys; k++) {
    const signer = ephemeralSigner(`node-${k}`);
    for (let b = 0; b < (k === 0 ? bindingsOfFirst : 1); b++) {
      const ms = 1795000000000 + serial;
      const life = { op: 'create' as const, orchestrator: 'docker', name: `c-${serial}`, runtimeId: null, pid: 1, session: serial, contid: parseContainerId(String(serial)), parent: null, namespaces: {}, idPrefix: null };
      const stamp = `${Math.floor(ms / 1000)}.${String(ms % 1000).padStart(3, '0')}:${serial++}`;
      att.observeRecord(parseRecord(`node=node-${k} type=VIRT_CONTROL msg=audit(${stamp}): pid=1 uid=0 auid=0 ses=4294967295 msg='${signLifecycle(life, signer, BOOT, ms)} exe="/usr/bin/node" hostname=? addr=? terminal=? res=success'`)!);
    }
  }
  return att;
}

describe('rejectionReport', () => {
  it('bindings signed by 200 unknown keys: a few keys named (the most bindings first), then how many more', () => {
    const lines = rejectionReport(signedBy(200, 5), '/etc/contid/trusted-keys');
    expect(lines.length).toBeLessThanOrEqual(5);
    expect(lines[0]).toMatch(/^rejected 204 binding record\(s\) that could not be verified \(204 unknown-key\)/);
    expect(lines[1]).toMatch(/^5 binding\(s\) signed by node node-0 with key [0-9a-f]{16}, which is not in \/etc\/contid\/trusted-keys: on node-0 run/);
    expect(lines.join('\n')).toMatch(/and 197 more key\(s\) of 197 node\(s\) \(197 binding\(s\)\): import each node's key the same way/);
  });

  it('more unknown keys than the table keeps (a flood of made-up key ids): the busiest key still named, every binding still counted', () => {
    const att = signedBy(300, 5);
    expect(att.unknownKeys.size).toBeLessThanOrEqual(att.unknownKeys.max);
    const lines = rejectionReport(att, '/k');
    expect(lines[0]).toMatch(/^rejected 304 binding record\(s\)/);
    expect(lines[1]).toMatch(/^5 binding\(s\) signed by node node-0 with key /);
    // 2 more named with one binding each; the other 297 bindings summed, the keys said to be at least that many
    expect(lines.join('\n')).toMatch(/and at least \d+ more key\(s\) \(297 binding\(s\); only the 256 keys with the most bindings are kept\): import each node's key the same way/);
  });

  it('a few unknown keys are each named', () => {
    const lines = rejectionReport(signedBy(3), '/k');
    expect(lines.filter((l) => / signed by node node-\d with key /.test(l))).toHaveLength(3);
    expect(lines.join('\n')).not.toMatch(/more key/);
  });

  it('the trust directory the caller named is printed escaped (a backslash doubled, a newline as \\n)', () => {
    const [, key] = rejectionReport(signedBy(1), 'keys\\x41\nforged line');
    expect(key).toContain('which is not in keys\\\\x41\\nforged line:');
  });
});
