import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { contid, tempStateDir } from '../helpers/cli';

/*
 * Outside attack 4 (finding 3): one line `node=vm … msg=audit(…:1000)` after vm's records made
 * search take a boot of vm, ending every binding epoch of vm, with nothing on stderr. A boot is
 * now inferred only when the node's next record counts on low too, and either verdict is said
 * on stderr with the node, serials, time and where the record is. The built CLI, no root.
 */
describe('contid search: boots inferred from serials are said on stderr (outside attack)', () => {
  const tmp = tempStateDir('search-boot-report');
  afterAll(() => tmp.cleanup());
  const T = 1796032600;
  const user = (sec: number, serial: number): string =>
    `node=vm type=USER msg=audit(${sec}.000:${serial}): pid=1 uid=0 auid=4294967295 ses=4294967295 msg='op=x res=success'`;
  const search = (lines: string[]): { stderr: string; status: number | null } => {
    const log = join(tmp.dir, `audit-${lines.length}.log`);
    writeFileSync(log, `${lines.join('\n')}\n`);
    const r = contid(['search', '--trust-dir', join(tmp.dir, 'trust'), '--no-index', '-if', log, '--format', 'raw'], { env: tmp.env });
    return { stderr: r.stderr, status: r.status };
  };

  it('a lone low-serial line between the old count is not a boot, and is named', () => {
    const { stderr, status } = search([user(T, 2457256), user(T + 1, 2457257), user(T + 2, 1000), user(T + 3, 2457258)]);
    expect(status).toBe(0);
    expect(stderr).toMatch(/a record of node vm at 2026-11-30T09:56:42\.000Z with serial 1000, far below the node's 2457257 \(\S+audit-4\.log byte \d+\), was not taken for a boot/);
    expect(stderr).not.toMatch(/booted again/);
  });

  it('a drop followed by the new count is a boot, and is said', () => {
    const { stderr } = search([user(T, 2457256), user(T + 1, 2457257), user(T + 20, 3), user(T + 21, 4), user(T + 22, 5)]);
    expect(stderr).toMatch(/node vm booted again at 2026-11-30T09:57:00\.000Z, inferred from its kernel serials \(2457257 then 3 at \S+audit-5\.log byte \d+, the next record 4\)/);
  });
});
