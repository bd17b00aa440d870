import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT, run } from '../helpers/cli';

/**
 * A unit's command lines run through contid-systemd with the unit's own environment
 * (Environment=, EnvironmentFile=). A unit that set CONTID_SPOOL_DIR sent its entry where
 * contid serve never looks: the line ran in a fresh session never bound, exit 0, nothing said
 * (outside attack 5). As installed, the line names its registry (--state-dir) and no contid
 * setting comes from the environment. Run as systemd runs an Exec line: $INVOCATION_ID set.
 */
describe('a unit’s own environment against contid-systemd (the line as the installer writes it)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'contid-unit-env-'));
  const state = join(dir, 'state');
  const elsewhere = join(dir, 'elsewhere');
  const entries = (d: string): string[] => {
    try {
      return readdirSync(d).filter((n) => n.endsWith('.entry'));
    } catch {
      return [];
    }
  };
  beforeAll(() => mkdirSync(elsewhere, { recursive: true }));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test('Environment=CONTID_SPOOL_DIR / CONTID_STATE_DIR / CONTID_FAIL_POLICY: the entry still goes to the installed registry’s spool', () => {
    const env = {
      PATH: process.env.PATH,
      INVOCATION_ID: '0123456789abcdef0123456789abcdef',
      CONTID_SPOOL_DIR: elsewhere,
      CONTID_STATE_DIR: elsewhere,
      CONTID_FAIL_POLICY: 'open',
    };
    const r = run(join(REPO_ROOT, 'integrations/bin/contid-systemd'), ['--state-dir', state, '--cli', process.execPath, join(REPO_ROOT, 'packages/cli/dist/main.js'), 'exec', '--unit', 'envtest.service', '--', 'true'], { env });
    expect([r.status, r.stderr]).toEqual([0, '']);
    expect(entries(elsewhere)).toEqual([]);
    expect(entries(join(state, 'spool'))).toHaveLength(1);
  });
});
