import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry, formatContainerId } from '@contid/core';
import { field, waitForAudit } from '../../../test/helpers/audit';
import { contid, tempStateDir } from '../../../test/helpers/cli';

/**
 * The start-host hook on a kernel with /proc/PID/audit_containerid. No kernel here has it, so
 * the procfs root is emulated (CONTID_PROC_ROOT): the file's semantics (u64 decimal, "-1"
 * unset), sessionid and ns links. The audit records still go to the real kernel and auditd.
 */
describe('LXC start-host hook on a procfs-contid kernel (emulated procfs)', () => {
  const state = tempStateDir('lxc-procfs');
  let root: string;
  const pid = 4190001;
  const name = `contid-t-procfs-${process.pid}`;
  const env = (extra: Record<string, string>) => ({ ...state.env, CONTID_PROC_ROOT: root, LXC_NAME: name, LXC_PID: String(pid), ...extra });

  function fakeProcess(dir: string, session: number): void {
    mkdirSync(join(root, dir, 'ns'), { recursive: true });
    writeFileSync(join(root, dir, 'audit_containerid'), '-1\n');
    writeFileSync(join(root, dir, 'sessionid'), `${session}\n`);
    writeFileSync(join(root, dir, 'loginuid'), '0\n');
    symlinkSync('pid:[4026599999]', join(root, dir, 'ns', 'pid'));
    // every live process has a stat line (the tagger tells a gone process by its absence); starttime is field 22
    writeFileSync(join(root, dir, 'stat'), `${dir === 'self' ? process.pid : dir} (init) S 1 1 1 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 4242 0 0 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n`);
  }

  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'contid-lxc-proc-'));
    fakeProcess('self', 4294967295);
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));
  afterAll(() => state.cleanup());

  const withRegistry = <T>(f: (r: Registry) => T): T => {
    const r = Registry.open(state.env.CONTID_STATE_DIR!);
    try {
      return f(r);
    } finally {
      r.close();
    }
  };

  it('emulated procfs: without the wrapper, start-host writes a new contid into LXC_PID and post-stop ends it', async () => {
    fakeProcess(String(pid), 4294967295);
    const r = contid(['lxc', 'hook', name, 'lxc', 'start-host'], { env: env({}) });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const [action, id] = r.stdout.trim().split(' ');
    expect(action).toBe('procfs');
    expect(readFileSync(join(root, String(pid), 'audit_containerid'), 'utf8')).toBe(id);
    const c = withRegistry((reg) => reg.find(id))!;
    expect(c).toMatchObject({ orchestrator: 'lxc', name, state: 'running', initPid: pid, session: null, namespaces: { pid: 4026599999 } });

    const records = await waitForAudit(['-m', 'VIRT_CONTROL', '--vm-name', name], (l) => l.length > 0);
    expect(records).toHaveLength(1);
    expect([field(records[0], 'op'), field(records[0], 'vm-pid'), field(records[0], 'vm-ses'), field(records[0], 'contid')]).toEqual([
      'create',
      String(pid),
      '?',
      id,
    ]);

    const stop = contid(['lxc', 'hook', name, 'lxc', 'post-stop'], { env: env({}) });
    expect(stop.status).toBe(0);
    expect(withRegistry((reg) => reg.find(id)!.state)).toBe('ended');
  });

  it("emulated procfs: after contid lxc start, the init joins the wrapper's container (op=setns, same contid)", () => {
    const session = 4100000000 + (process.pid % 1000);
    const wrapper = withRegistry((reg) =>
      reg.registerContainer({ orchestrator: 'lxc', name, runtimeId: name, session }, { pid: 1, session, op: 'create', detail: {} }),
    );
    fakeProcess(String(pid), session);
    const r = contid(['lxc', 'hook', name, 'lxc', 'start-host'], { env: env({}) });
    expect(r.status).toBe(0);
    expect(readFileSync(join(root, String(pid), 'audit_containerid'), 'utf8')).toBe(formatContainerId(wrapper.contid));
    const bindings = withRegistry((reg) => reg.bindings(wrapper.contid));
    expect(bindings.map((b) => [b.op, b.pid, b.session])).toEqual([
      ['create', 1, session],
      ['setns', pid, null],
    ]);
    expect(withRegistry((reg) => reg.get(wrapper.contid)!.initPid)).toBe(pid);
  });
});
