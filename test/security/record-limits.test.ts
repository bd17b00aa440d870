import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Registry, TrustStore, configFromEnv } from '@contid/core';
import { checkBinding, parseRecord } from '@contid/audit';
import { waitForAudit } from '../helpers/audit';
import { contid, tempStateDir, uniqueName } from '../helpers/cli';

/**
 * Names and ids that would not fit in a record (the kernel keeps 8559 bytes of a user
 * record's text, measured: docs/records.md) are refused in one line before anything starts;
 * the longest accepted name, hex-encoded, still gives a whole record that verifies; a
 * runtime id of hex digits reads back as itself.
 */
describe('record size limits and uuid encoding (real kernel, real auditd)', () => {
  const state = tempStateDir('sec-limits');
  afterAll(() => state.cleanup());

  it('a 9 KB name (as in #17) is refused with one line and exit 2; the command never runs, nothing is registered', () => {
    const marker = join(state.dir, 'ran');
    const r = contid(['exec', '--name', 'é'.repeat(4500), '--', 'touch', marker], { env: state.env });
    expect(r.status).toBe(2);
    expect(r.stderr).toBe('contid: container name is 9000 bytes; at most 256 fit in an audit record\n');
    expect(existsSync(marker)).toBe(false);
    const stateDir = configFromEnv(state.env).stateDir;
    if (existsSync(join(stateDir, 'registry.db'))) {
      const reg = Registry.open(stateDir, { readonly: true });
      expect(reg.list().filter((c) => c.name.startsWith('é'))).toEqual([]);
      reg.close();
    }
    const id = contid(['exec', '--name', 'x', '--runtime-id', 'r'.repeat(257), '--', 'touch', marker], { env: state.env });
    expect([id.status, id.stderr]).toEqual([2, 'contid: runtime id is 257 bytes; at most 256 fit in an audit record\n']);
    expect(existsSync(marker)).toBe(false);
  });

  it('the longest accepted name (256 bytes that need hex) gives a whole record that verifies; uuid=41424344 reads back as itself', async () => {
    const name = `${uniqueName('lim')}-${'é'.repeat(100)}`.slice(0, 120);
    const padded = name + 'é'.repeat((256 - Buffer.byteLength(name)) >> 1);
    const r = contid(['exec', '--name', padded, '--runtime-id', '41424344', '--', 'true'], { env: state.env });
    expect([r.status, r.stderr]).toEqual([0, '']);
    const [line] = await waitForAudit(['-m', 'VIRT_CONTROL', '--uuid', '41424344'], (l) => l.some((x) => x.includes(Buffer.from(padded).toString('hex').toUpperCase())));
    const mine = (await waitForAudit(['-m', 'VIRT_CONTROL', '--uuid', '41424344'], () => true)).find((x) => x.includes(Buffer.from(padded).toString('hex').toUpperCase())) ?? line;
    expect(mine).toMatch(/ res=success'/);
    const check = checkBinding(parseRecord(mine.split('\x1d')[0])!, { trust: TrustStore.load(configFromEnv(state.env).trustDir) });
    expect(check).toMatchObject({ ok: true, binding: { life: { name: padded, runtimeId: '41424344' } } });
  });
});
