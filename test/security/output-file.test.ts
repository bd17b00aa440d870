import { chmodSync, existsSync, lstatSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { contid, run, tempStateDir } from '../helpers/cli';
import { AS_NOBODY } from './harness';

/**
 * `contid tail --output FILE` runs as root and writes audit events. An unprivileged host user
 * who can create entries where FILE will be (a sticky, world-writable directory such as /tmp)
 * plants a file or a link there first, to receive the audit data or to make root write
 * somewhere else. Real CLI, real audit records on the plugin source.
 */
describe('tail --output: a file or link planted first by an unprivileged user (real CLI, real records)', () => {
  const state = tempStateDir('sec-output');
  const dir = mkdtempSync(join(tmpdir(), 'contid-sec-output-'));
  // Real records of this machine's log: what the plugin source would receive from auditd.
  const records = readFileSync('/var/log/audit/audit.log', 'latin1').split('\n').filter(Boolean).slice(-200).join('\n') + '\n';
  const asNobody = (script: string): void => {
    const r = run(AS_NOBODY[0], [...AS_NOBODY.slice(1), 'sh', '-c', script], { cwd: dir });
    expect([script, r.status, r.stderr]).toEqual([script, 0, '']);
  };
  const tail = (output: string): ReturnType<typeof contid> => contid(['tail', '--source', 'plugin', '--output', output], { env: state.env, input: records, timeout: 30_000 });

  beforeAll(() => chmodSync(dir, 0o1777));
  afterAll(() => {
    state.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a fresh path: created 0600, owned by root, the events in it', () => {
    const out = join(dir, 'fresh.log');
    const r = tail(out);
    expect([r.status, r.stderr.split('\n').filter((l) => /error|refus/.test(l))]).toEqual([0, []]);
    const st = statSync(out);
    expect([st.uid, st.mode & 0o777]).toEqual([0, 0o600]);
    expect(st.size).toBeGreaterThan(0);
  });

  const planted: [string, string, string][] = [
    ['a 0666 file of its own', 'touch planted.log && chmod 666 planted.log', 'planted.log'],
    ['a symlink to its own file', 'touch mine.log && chmod 666 mine.log && ln -s mine.log link.log', 'mine.log'],
    ['a dangling symlink to where it wants root to write', 'ln -s nobody-chose-this.log dangling.log', 'nobody-chose-this.log'],
  ];
  it.each(planted)('%s: refused with one line, nothing written', (_what, script, victimFile) => {
    asNobody(script);
    const name = script.includes('ln -s') ? /ln -s \S+ (\S+)/.exec(script)![1] : victimFile;
    const r = tail(join(dir, name));
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/^contid: refusing to write to .*\n$/);
    const target = join(dir, victimFile);
    expect(existsSync(target) ? statSync(target).size : 0).toBe(0);
  });

  it("a symlink to a root-only file: the file is untouched", () => {
    const secret = join(dir, 'root-only.conf');
    writeFileSync(secret, 'root\n', { mode: 0o600 });
    asNobody('ln -s root-only.conf to-root.log');
    const r = tail(join(dir, 'to-root.log'));
    expect(r.status).not.toBe(0);
    expect(readFileSync(secret, 'utf8')).toBe('root\n');
    expect(lstatSync(join(dir, 'to-root.log')).isSymbolicLink()).toBe(true);
  });
});
