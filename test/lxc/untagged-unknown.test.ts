import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { field, freezeSince, logMark, waitForAudit } from '../helpers/audit';
import { contid, run, tempStateDir } from '../helpers/cli';
import { createContainer, destroyContainer, lxcInitPid, lxcName, waitForState } from './lxc-host';
import { startTail, until } from '../tail/live-helpers';

/**
 * LXC containers contid never knew (no registry row, no hooks: the busybox template does not
 * include common.conf, so contid's global snippet does not reach them), started and entered
 * with plain lxc-start / lxc-attach, on real LXC, the real kernel audit subsystem and auditd.
 * `contid search --untagged` must name each entry — also for a rootfs on its own mount, which
 * the lxcpath directory rule cannot see — checked against ausearch on the same frozen log.
 */
describe('entries into LXC containers contid never knew (real LXC, real audit rules)', () => {
  const state = tempStateDir('lxc-unknown');
  const names: string[] = [];
  const mounts: string[] = [];
  const work = mkdtempSync(join(tmpdir(), 'contid-lxc-unknown-'));

  // the host-wide rules only: no container is installed, no contid serve runs
  beforeAll(() => expect(contid(['install', 'lxc'], { env: state.env }).status).toBe(0));
  afterAll(() => {
    for (const name of names) run('lxc-stop', ['-n', name, '-k']);
    for (const m of mounts) run('umount', [m]);
    names.forEach(destroyContainer);
    contid(['uninstall', 'lxc'], { env: state.env });
    rmSync(work, { recursive: true, force: true });
    state.cleanup();
  });

  function make(label: string): string {
    const name = lxcName(label);
    names.push(name);
    createContainer(name);
    return name;
  }

  /** `sh -c CMD` as a fresh login of auid 1000 (the first loginuid write needs no privilege). */
  const asLogin = (cmd: string) => run('sh', ['-c', `echo 1000 > /proc/self/loginuid && ${cmd}`]);

  /** PATH records of the frozen log whose inode and device are the root's (ausearch's view). */
  const rootEvents = (lines: string[], root: { ino: number; dev: number }): string[] => {
    const dev = `${(root.dev >> 8).toString(16).padStart(2, '0')}:${(root.dev & 0xff).toString(16).padStart(2, '0')}`;
    return lines.filter((l) => l.startsWith('type=PATH') && field(l, 'inode') === String(root.ino) && field(l, 'dev') === dev).map((l) => /audit\(([0-9.:]+)\)/.exec(l)![1]);
  };
  const syscallOf = (lines: string[], stamp: string): string => lines.find((l) => l.startsWith('type=SYSCALL') && l.includes(`audit(${stamp})`))!;
  const ausearchFrozen = (log: string, args: string[]): string[] =>
    run('ausearch', [...args, '--raw', '-if', log]).stdout.split('\n').filter((l) => l && !l.startsWith('----'));

  /**
   * A plain start and a plain attach of `name` as auid 1000, the log frozen once both are in
   * it; returns the frozen log and the oracle's start and attach (SYSCALL lines).
   */
  async function plainStartAndAttach(name: string, root: { ino: number; dev: number }): Promise<{ log: string; start: string; attach: string }> {
    const mark = logMark();
    expect(asLogin(`exec lxc-start -n ${name}`).status).toBe(0);
    await waitForState(name, 'RUNNING');
    const init = lxcInitPid(name);
    expect(asLogin(`exec lxc-attach -n ${name} -- true`).status).toBe(0);
    await waitForAudit(['-sc', 'setns', '-ua', '1000', '-ts', 'recent'], (l) => rootEvents(l, root).length > 0);
    await waitForAudit(['-sc', 'pivot_root', '-p', String(init), '-ts', 'recent'], (l) => rootEvents(l, root).length > 0);
    const log = join(work, `${name}.log`);
    freezeSince(mark, log);
    const pivots = ausearchFrozen(log, ['-sc', 'pivot_root', '-ua', '1000']);
    const joins = ausearchFrozen(log, ['-sc', 'setns', '-ua', '1000']);
    const starts = rootEvents(pivots, root);
    const attaches = rootEvents(joins, root);
    expect(starts).toHaveLength(1);
    expect(attaches).toHaveLength(1);
    const start = syscallOf(pivots, starts[0]);
    expect(field(start, 'pid')).toBe(String(init));
    return { log, start, attach: syscallOf(joins, attaches[0]) };
  }

  /** The two report lines search --untagged must print for the oracle's entries. */
  function expectReported(stdout: string, name: string, o: { start: string; attach: string }): void {
    const lines = stdout.split('\n').filter((l) => l.includes(`${name} (unknown to contid)`));
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(new RegExp(`^untagged start of ${name} \\(unknown to contid\\) by auid 1000 at \\S+Z \\(pid ${field(o.start, 'pid')}, session ${field(o.start, 'ses')}`));
    expect(lines[1]).toMatch(new RegExp(`^untagged attach into ${name} \\(unknown to contid\\) by auid 1000 at \\S+Z \\(pid ${field(o.attach, 'pid')}, session ${field(o.attach, 'ses')}`));
    const stamp = (l: string) => /audit\((\d+)\.(\d+):/.exec(l)!;
    const ms = (l: string) => Number(stamp(l)[1]) * 1000 + Number(stamp(l)[2]);
    expect(Date.parse(/ at (\S+Z)/.exec(lines[0])![1])).toBe(ms(o.start));
    expect(Date.parse(/ at (\S+Z)/.exec(lines[1])![1])).toBe(ms(o.attach));
  }

  it('a plain lxc-start and lxc-attach of a container with no registry row: search --untagged names both (text and JSON), doctor and ps warn', async () => {
    const name = make('unknown');
    const root = statSync(`/var/lib/lxc/${name}/rootfs`);
    const o = await plainStartAndAttach(name, root);

    const r = contid(['search', '--untagged', o.log], { env: state.env });
    expect(r.status).toBe(0);
    expectReported(r.stdout, name, o);
    // the same entries as JSON objects, one a line
    const json = contid(['search', '--untagged', '--format', 'json', o.log], { env: state.env });
    expect(json.status).toBe(0);
    const objects = json.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { untagged_entry: Record<string, unknown> }).map((x) => x.untagged_entry).filter((e) => e.container === name);
    expect(objects.map((e) => [e.kind, e.known, e.pid, e.session, e.auid])).toEqual([
      ['start', false, Number(field(o.start, 'pid')), Number(field(o.start, 'ses')), 1000],
      ['attach', false, Number(field(o.attach, 'pid')), Number(field(o.attach, 'ses')), 1000],
    ]);
    // nothing of it in a search of the containers contid knows, and no row was made
    expect(contid(['search', '--untagged', '--container', name, o.log], { env: state.env }).status).not.toBe(0);

    const doctor = contid(['doctor', '--json'], { env: state.env }).stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { check: string; status: string; detail: string });
    expect(doctor.find((d) => d.check === `lxc ${name}`)).toMatchObject({ status: 'warn', detail: expect.stringContaining('unknown to contid') });
    const ps = contid(['ps'], { env: state.env });
    expect(ps.status).toBe(0);
    expect(ps.stderr).toContain(`contid: LXC container ${name} runs unknown to contid`);
    expect(run('lxc-stop', ['-n', name, '-k']).status).toBe(0);
  });

  it('a rootfs on its own mount (a loop mount made after the rules were loaded): the plain start and attach are recorded and named', async () => {
    const name = make('ownmount');
    const rootfs = `/var/lib/lxc/${name}/rootfs`;
    const img = join(work, `${name}.img`);
    expect(run('truncate', ['-s', '64M', img]).status).toBe(0);
    expect(run('mkfs.ext4', ['-q', img]).status).toBe(0);
    const staging = join(work, `${name}.mnt`);
    expect(run('mkdir', [staging]).status).toBe(0);
    expect(run('mount', ['-o', 'loop', img, staging]).status).toBe(0);
    expect(run('cp', ['-a', `${rootfs}/.`, `${staging}/`]).status).toBe(0);
    expect(run('umount', [staging]).status).toBe(0);
    expect(run('mount', ['-o', 'loop', img, rootfs]).status).toBe(0);
    mounts.push(rootfs);
    const root = statSync(rootfs);
    expect(root.ino).toBe(2); // the loop filesystem's own root, not a directory under the lxcpath

    const o = await plainStartAndAttach(name, root);
    const r = contid(['search', '--untagged', o.log], { env: state.env });
    expect(r.status).toBe(0);
    expectReported(r.stdout, name, o);
    expect(run('lxc-stop', ['-n', name, '-k']).status).toBe(0);
  });

  it('contid tail reports them live: the JSON object in the stream, the same line as search on stderr', async () => {
    const name = make('tail');
    const root = statSync(`/var/lib/lxc/${name}/rootfs`);
    const tail = await startTail(['--format', 'json', '--source', 'multicast'], state.env);
    let o: { log: string; start: string; attach: string };
    try {
      o = await plainStartAndAttach(name, root);
      const mine = (): Record<string, unknown>[] =>
        tail.stdout().split('\n').filter((l) => l.includes('"untagged_entry"')).map((l) => (JSON.parse(l) as { untagged_entry: Record<string, unknown> }).untagged_entry).filter((e) => e.container === name);
      await until(() => mine().length >= 2);
      expect(mine().map((e) => [e.kind, e.known, e.pid, e.session, e.auid])).toEqual([
        ['start', false, Number(field(o.start, 'pid')), Number(field(o.start, 'ses')), 1000],
        ['attach', false, Number(field(o.attach, 'pid')), Number(field(o.attach, 'ses')), 1000],
      ]);
      // the same words as search --untagged, on tail's stderr
      const search = contid(['search', '--untagged', o.log], { env: state.env }).stdout.split('\n').filter((l) => l.includes(`${name} (unknown to contid)`));
      const said = tail.stderr().split('\n').filter((l) => l.includes(`${name} (unknown to contid)`));
      expect(said).toEqual(search.map((l) => `contid: ${l}`));
      expect(mine().map((e) => e.message)).toEqual(search);
    } finally {
      await tail.stop();
    }
    expect(run('lxc-stop', ['-n', name, '-k']).status).toBe(0);
  });
});
