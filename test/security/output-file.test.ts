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

/**
 * `contid report --html FILE` runs as root and writes the page whole: a temporary file renamed
 * over FILE. Its temporary name was FILE.<pid>.tmp, opened through symlinks: an unprivileged
 * user who plants that name for every likely pid in a world-writable directory had root
 * overwrite a file of their choosing with the report (outside attack 5).
 */
describe('report --html: temporary names planted by an unprivileged user (real CLI, real records)', () => {
  const state = tempStateDir('sec-report-html');
  const dir = mkdtempSync(join(tmpdir(), 'contid-sec-html-'));
  const victim = join(dir, 'root-owned.conf');
  const log = join(dir, 'records.log');

  beforeAll(() => {
    chmodSync(dir, 0o1777);
    writeFileSync(victim, 'ORIGINAL\n', { mode: 0o644 });
    writeFileSync(log, readFileSync('/var/log/audit/audit.log', 'latin1').split('\n').filter(Boolean).slice(-200).join('\n') + '\n');
  });
  afterAll(() => {
    state.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it('the page is written; the planted links and the file they point at are untouched', () => {
    // every temporary name of the next 20,000 pids, and the page's own name, link to the victim
    const last = Number(readFileSync('/proc/sys/kernel/ns_last_pid', 'utf8'));
    const plant = `const fs = require('fs'); for (let p = ${last}; p < ${last + 20_000}; p++) fs.symlinkSync(${JSON.stringify(victim)}, 'web.html.' + p + '.tmp'); fs.symlinkSync(${JSON.stringify(victim)}, 'web.html');`;
    const planted = run(AS_NOBODY[0], [...AS_NOBODY.slice(1), process.execPath, '-e', plant], { cwd: dir });
    expect([planted.status, planted.stderr]).toEqual([0, '']);
    const r = contid(['report', '-if', log, '--by', 'node', '--html', 'web.html'], { env: state.env, cwd: dir });
    expect([r.status, r.stderr.split('\n')[0]]).toEqual([0, 'contid: wrote web.html']);
    expect(readFileSync(victim, 'utf8')).toBe('ORIGINAL\n');
    const page = lstatSync(join(dir, 'web.html'));
    expect([page.isFile(), page.uid, page.mode & 0o777]).toEqual([true, 0, 0o600]);
    expect(readFileSync(join(dir, 'web.html'), 'utf8')).toMatch(/^<!DOCTYPE html>/i);
  });
});
