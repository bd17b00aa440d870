import { chmodSync, chownSync, copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Registry } from '@contid/core';
import { addExecveRule, deleteExecveRule, freezeSince, logMark } from '../helpers/audit';
import { contid, run, tempStateDir, uniqueName } from '../helpers/cli';
import { AS_NOBODY, FIXTURES } from './harness';

const TAMPER = resolve(FIXTURES, 'tamper-index.js');
/**
 * stderr without the lines on bindings that could not be verified: other suites running beside
 * this one write bindings signed by their own temporary keys (or forge some) into the slice.
 */
const warnings = (stderr: string): string[] => stderr.split('\n').filter((l) => l && !/^contid: (rejected \d+ binding record|\d+ binding\(s\) signed by node |and \d+ more key|unsigned bindings come from)/.test(l));
const keys = (out: string): string[] => [...out.matchAll(/msg=audit\(([0-9.]+:\d+)\)/g)].map((m) => m[1]);

/**
 * The search index is a cache beside the logs. An unprivileged host user who can write the
 * index directory an administrator searches with (`--index-dir /tmp/…`, $CONTID_INDEX_DIR)
 * rewrites it to hide a container, print another container's events as the victim's, or crash
 * search; a root-owned index that is corrupt must not do any of that either.
 */
describe('search index: crafted by an unprivileged user, or corrupt (real auditd log, real CLI)', () => {
  const state = tempStateDir('sec-index');
  const work = mkdtempSync(join(tmpdir(), 'contid-sec-index-'));
  const log = join(work, 'audit.log');
  const built = join(work, 'built');
  const victimName = uniqueName('idx-victim');
  const otherName = uniqueName('idx-other');
  const rule = `contid-hardening-idx-${process.pid}`;
  const sessions: Record<string, number> = {};
  let victimContid = '';

  beforeAll(() => {
    chmodSync(work, 0o755);
    const mark = logMark();
    addExecveRule(rule);
    try {
      for (const [name, script] of [[victimName, 'ls / >/dev/null; true'], [otherName, 'id >/dev/null; cat /etc/hostname >/dev/null; true']]) {
        const r = contid(['exec', '--name', name, '--', 'sh', '-c', script], { env: state.env });
        expect([name, r.status, r.stderr]).toEqual([name, 0, '']);
      }
    } finally {
      deleteExecveRule(rule);
    }
    const reg = Registry.open(state.env.CONTID_STATE_DIR!, { readonly: true });
    for (const n of [victimName, otherName]) sessions[n] = reg.find(n)!.session!;
    victimContid = String(reg.find(victimName)!.contid);
    reg.close();
    freezeSince(mark, log);
    expect(contid(['index', '-i', log, '--index-dir', built, '--quiet'], { env: state.env }).status).toBe(0);
  }, 120_000);
  afterAll(() => {
    state.cleanup();
    rmSync(work, { recursive: true, force: true });
  });

  const search = (ref: string, indexDir?: string): ReturnType<typeof contid> =>
    contid(['search', '-if', log, '-c', ref, ...(indexDir ? ['--index-dir', indexDir] : ['--no-index'])], { env: state.env });

  /** A copy of the real index, tampered with by `as` (nobody owns the directory, or root does). */
  function tampered(action: string, owner: 'nobody' | 'root'): string {
    const dir = join(work, `${action}-${owner}`);
    mkdirSync(dir, { mode: 0o700 });
    for (const f of readdirSync(built)) copyFileSync(join(built, f), join(dir, f));
    if (owner === 'nobody') {
      for (const f of ['', ...readdirSync(dir)]) chownSync(join(dir, f), 65534, 65534);
    }
    const prefix = owner === 'nobody' ? AS_NOBODY : [];
    const r = run(prefix[0] ?? process.execPath, [...prefix.slice(1), ...(prefix.length ? [process.execPath] : []), TAMPER, join(dir, 'search-index.db'), action, String(sessions[victimName]), String(sessions[otherName]), victimContid]);
    expect([action, r.status, r.stderr]).toEqual([action, 0, '']);
    return dir;
  }

  it('the honest index gives exactly what a scan gives', () => {
    const scanned = search(victimName);
    expect(keys(scanned.stdout).length).toBeGreaterThan(2);
    const indexed = search(victimName, built);
    expect([indexed.status, warnings(indexed.stderr), keys(indexed.stdout)]).toEqual([0, [], keys(scanned.stdout)]);
  });

  it.each(['swap', 'hide', 'crash', 'garbage'])("an index written by an unprivileged user (%s) is ignored with one line; results are the scan's", (action) => {
    const dir = tampered(action, 'nobody');
    const scanned = search(victimName);
    const r = search(victimName, dir);
    expect(r.status).toBe(0);
    expect(warnings(r.stderr)).toEqual([expect.stringMatching(new RegExp(`^contid: ignoring the search index in ${dir}: .*owned by uid 65534`))]);
    expect(keys(r.stdout)).toEqual(keys(scanned.stdout));
  });

  it.each(['swap', 'crash', 'garbage'])('a root-owned index whose content does not match the log (%s) never crashes search nor yields another event', (action) => {
    const dir = tampered(action, 'root');
    const scanned = search(victimName);
    const other = new Set(keys(search(otherName).stdout));
    const r = search(victimName, dir);
    expect([r.status, warnings(r.stderr)]).toEqual([0, [expect.stringMatching(/^contid: ignoring the search index in .*: (it does not match|it cannot be read)/)]]);
    expect(keys(r.stdout).filter((k) => other.has(k))).toEqual([]);
    expect(keys(r.stdout)).toEqual(keys(scanned.stdout));
  });
});
