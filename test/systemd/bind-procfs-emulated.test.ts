import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AUDIT_UNSET } from '@contid/core';
import { field } from '../helpers/audit';
import { waitForAudit } from '../helpers/audit';
import { contid, tempStateDir } from '../helpers/cli';

/**
 * `contid systemd bind` on a kernel with /proc/PID/audit_containerid. No kernel here has it,
 * so the proc files are EMULATED in a directory (CONTID_PROC_ROOT) with the patch set's file
 * format: decimal u64, unset printed as -1. Audit records go to the real kernel audit.
 */
describe('contid systemd bind (emulated procfs audit_containerid)', () => {
  const state = tempStateDir('systemd-procfs');
  const proc = join(state.dir, 'proc');
  const mainPid = 4242;
  const invocation = Array.from({ length: 32 }, () => Math.floor(Math.random() * 16).toString(16)).join('');
  const env = { ...state.env, CONTID_PROC_ROOT: proc, INVOCATION_ID: invocation, MAINPID: String(mainPid) };

  beforeAll(() => {
    for (const pid of ['self', String(mainPid)]) {
      mkdirSync(join(proc, pid), { recursive: true });
      writeFileSync(join(proc, pid, 'audit_containerid'), '-1\n');
      writeFileSync(join(proc, pid, 'sessionid'), `${AUDIT_UNSET}\n`);
    }
    // The emulated main process runs in the unit's cgroup: the one contid itself runs in here.
    writeFileSync(join(proc, String(mainPid), 'cgroup'), readFileSync('/proc/self/cgroup'));
  });
  afterAll(() => state.cleanup());

  test('emulated: writes the contid into $MAINPID audit_containerid, records it, once per invocation', async () => {
    const r = contid(['systemd', 'bind', '--unit', 'emu.service'], { env });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const id = /bound pid 4242 to (\d+)/.exec(r.stdout)![1];
    expect(readFileSync(join(proc, String(mainPid), 'audit_containerid'), 'utf8')).toBe(id);

    const again = contid(['systemd', 'bind', '--unit', 'emu.service'], { env });
    expect(again.stdout).toBe(`emu.service: pid 4242 is already bound to ${id}\n`);

    const lines = await waitForAudit(['-m', 'VIRT_CONTROL', '--uuid', invocation], (l) => l.some((x) => x.includes('op=create ')));
    const create = lines.filter((l) => l.includes('op=create '));
    expect(create).toHaveLength(1);
    expect(field(create[0], 'contid')).toBe(id);
    expect(field(create[0], 'vm-ses')).toBe('?');
    expect(field(create[0], 'vm')).toBe('emu.service');

    const end = contid(['systemd', 'end', '--unit', 'emu.service'], { env: { ...env, SERVICE_RESULT: 'success', EXIT_CODE: 'killed', EXIT_STATUS: 'TERM' } });
    expect(end.stdout).toBe(`emu.service: ended ${id}\n`);
    const ended = await waitForAudit(['-m', 'VIRT_CONTROL', '--uuid', invocation], (l) => l.some((x) => x.includes('op=end ')));
    expect(ended.find((l) => l.includes('op=end '))).toMatch(/reason=/);
  });
});
