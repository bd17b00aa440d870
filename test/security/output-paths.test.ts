import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CONTID_MAIN, contid, run, tempStateDir } from '../helpers/cli';
import { PLUGIN_CONF_PATH, PLUGIN_LAUNCHER_PATH } from '@contid/audit';
import { AS_NOBODY } from './harness';

/**
 * Where contid writes as root (report --html pages, index and state directories): an
 * unprivileged user plants a symlinked directory in /tmp, names paths under /proc (Node 20's
 * recursive mkdir spins forever there), or labels groups so their pages share a file name.
 * Outside attack 6. Real CLI; a crafted log with node= prefixes gives report groups.
 */
describe('output paths chosen or prepared by someone else (real CLI)', () => {
  const state = tempStateDir('sec-outpaths');
  const dir = mkdtempSync(join(tmpdir(), 'contid-sec-outpaths-'));
  const victim = join(dir, 'victim');
  const sticky = join(dir, 'sticky');
  const rec = (node: string, n: number): string =>
    `node=${node} type=SYSCALL msg=audit(1700000000.${100 + n}:${n}): arch=c000003e syscall=59 success=yes exit=0 a0=0 a1=0 a2=0 a3=0 items=1 ppid=1 pid=${n} auid=0 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=pts0 ses=1 comm="true" exe="/usr/bin/true" key=(null)`;
  const log = join(dir, 'audit.log');

  beforeAll(() => {
    chmodSync(dir, 0o755);
    mkdirSync(victim, { mode: 0o755 });
    mkdirSync(join(dir, 'rootstate'), { mode: 0o755 });
    mkdirSync(sticky);
    chmodSync(sticky, 0o1777);
    writeFileSync(log, [rec('web:1', 1), rec('web;1', 2), rec('x'.repeat(120) + 'a', 3), rec('x'.repeat(120) + 'b', 4)].join('\n') + '\n');
  });
  afterAll(() => {
    state.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it("report --html under another user's symlinked directory in a sticky directory: refused, nothing written or created there", () => {
    const link = join(sticky, 'reports');
    const planted = run(AS_NOBODY[0], [...AS_NOBODY.slice(1), 'ln', '-s', victim, link]);
    expect([planted.status, planted.stderr]).toEqual([0, '']);
    for (const target of [join(link, 'r.html'), join(link, 'newdir', 'x.html')]) {
      const r = contid(['report', '-if', log, '--by', 'node', '-n', 'web:1', '--html', target], { env: state.env, timeout: 60_000 });
      expect(r.status).not.toBe(0);
      expect(r.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^contid: refusing to write under .*reports is a symbolic link owned by uid 65534/)]);
    }
    expect(readdirSync(victim)).toEqual([]);
  });

  it("a root directory its group may write without the sticky bit (as Debian's /var/local, root:staff 2775): a member could swap what is under it, so nothing is written there", () => {
    // root:nogroup 2775; nobody's group is nogroup, as a member of staff is staff's
    const shared = join(dir, 'local');
    const own = join(shared, 'r');
    mkdirSync(shared);
    expect(run('chown', ['0:65534', shared]).status).toBe(0);
    chmodSync(shared, 0o2775);
    mkdirSync(own, { mode: 0o755 });
    // her real position: she can rename root's directory away (and back) at any moment
    const swap = run(AS_NOBODY[0], [...AS_NOBODY.slice(1), 'sh', '-c', 'mv r r.away && mv r.away r'], { cwd: shared });
    expect([swap.status, swap.stderr]).toEqual([0, '']);
    const refused = /^contid: (registry directory \S+ is not usable: )?refusing to write under .*\/local\/r(\/\S+)?: .*\/local is a directory its group may write without the sticky bit \(mode 2775\)$/;
    for (const argv of [
      ['report', '-if', log, '--by', 'node', '-n', 'web:1', '--html', join(own, 'page.html')],
      ['tail', '--source', 'plugin', '--output', join(own, 'events.log')],
      ['ps', '--state-dir', join(own, 'state')],
    ]) {
      const r = contid(argv, { env: state.env, input: '', timeout: 60_000 });
      expect([argv[0], r.status === 0, r.stderr.trim().split('\n')]).toEqual([argv[0], false, [expect.stringMatching(refused)]]);
    }
    expect(readdirSync(own)).toEqual([]);
  });

  it.each([
    ['index', ['index', '--index-dir', '/proc/contid-sec-x']],
    ['report --html', ['report', '-if', '__LOG__', '--by', 'node', '--html', '/proc/contid-sec-x/x.html']],
    ['ps', ['ps', '--state-dir', '/proc/contid-sec-x']],
  ])('%s with a directory under /proc: one line and an exit, no endless mkdir', (_name, argv) => {
    const r = contid(argv.map((a) => (a === '__LOG__' ? log : a)), { env: state.env, timeout: 60_000 });
    expect(r.signal ?? null).toBeNull();
    expect(r.status).not.toBe(0);
    expect(r.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^contid: .*cannot create directory \/proc\/contid-sec-x: ENOENT$/)]);
  });

  it('report --html with groups whose names differ only in unsafe characters or beyond 100 characters: one page each', () => {
    const out = join(dir, 'pages');
    mkdirSync(out);
    const r = contid(['report', '-if', log, '--by', 'node', '--html', join(out, 'n.html'), '--quiet'], { env: state.env, timeout: 60_000 });
    expect([r.status, r.stderr.split('\n').filter((l) => /error|refus|share/.test(l))]).toEqual([0, []]);
    const pages = readdirSync(out);
    expect(pages).toHaveLength(4);
    expect(new Set(pages).size).toBe(4);
    for (const p of pages) expect(lstatSync(join(out, p)).isFile()).toBe(true);
    expect(existsSync(join(out, 'n.html'))).toBe(false);
  });

  it("install auditd-plugin log= her file in a sticky directory, or under her directory: refused, nothing installed (the launcher appends root's stderr there at every auditd start)", () => {
    const hers = join(dir, 'hers');
    mkdirSync(hers);
    expect(run('chown', ['65534:65534', hers]).status).toBe(0);
    const planted = run(AS_NOBODY[0], [...AS_NOBODY.slice(1), 'touch', join(sticky, 'plugin.log')]);
    expect([planted.status, planted.stderr]).toEqual([0, '']);
    const cases: Array<[string, RegExp]> = [
      [join(sticky, 'plugin.log'), /^contid: refusing log=.*\/sticky\/plugin\.log: others may write its directory \(mode 1777\); choose a file in a directory only root can write/],
      [join(sticky, 'new.log'), /^contid: refusing log=.*\/sticky\/new\.log: others may write its directory \(mode 1777\)/],
      [join(hers, 'plugin.log'), /^contid: refusing to write under .*\/hers: .*\/hers is a directory owned by uid 65534, not by root or you \(uid 0\)$/],
    ];
    try {
      for (const [logPath, refused] of cases) {
        const r = contid(['install', 'auditd-plugin', `output=${join(dir, 'live.jsonl')}`, `log=${logPath}`, 'restart=no'], { env: state.env, timeout: 60_000 });
        expect([r.status === 0, r.stderr.trim().split('\n')]).toEqual([false, [expect.stringMatching(refused)]]);
        expect([existsSync(PLUGIN_LAUNCHER_PATH), existsSync(PLUGIN_CONF_PATH)]).toEqual([false, false]);
      }
      expect(readdirSync(hers)).toEqual([]);
    } finally {
      if (existsSync(PLUGIN_LAUNCHER_PATH)) contid(['uninstall', 'auditd-plugin'], { env: state.env });
    }
  });

  it('install as non-root and search of an unreadable input: one clear line, not "internal error"', () => {
    const install = run(AS_NOBODY[0], [...AS_NOBODY.slice(1), process.execPath, CONTID_MAIN, 'install', 'auditd-plugin'], { env: { ...process.env, CONTID_STATE_DIR: join(dir, 'rootstate') } });
    expect(install.status).not.toBe(0);
    expect(install.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^contid: contid install auditd-plugin needs root: /)]);
    const mem = contid(['search', '-i', '/proc/self/mem'], { env: state.env, timeout: 60_000 });
    expect(mem.status).not.toBe(0);
    expect(mem.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^contid: cannot read \/proc\/self\/mem: EIO$/)]);
  });
});
