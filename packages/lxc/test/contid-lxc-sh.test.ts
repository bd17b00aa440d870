import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { processStartTime, readSessionId } from '@contid/core';
import { writeInstanceRecord } from '../src/instance-record';

// contid-lxc attach (sh) decides between its fast path and the Node command from the instance
// record alone. Here contid-spawn beside the copy and CONTID_CLI only print what they were
// given, so the decision table runs without root, LXC or a registry.
describe('contid-lxc attach: fast path or hand-over to the Node command', () => {
  const dir = mkdtempSync(join(tmpdir(), 'contid-lxc-sh-'));
  const bin = join(dir, 'bin');
  const stateDir = join(dir, 'state');
  mkdirSync(bin);
  copyFileSync(resolve(__dirname, '../../../integrations/bin/contid-lxc'), join(bin, 'contid-lxc'));
  writeFileSync(join(bin, 'contid-spawn'), '#!/bin/sh\necho spawn "$@"\n', { mode: 0o755 });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const attach = (args: string[]) => {
    const r = spawnSync('sh', [join(bin, 'contid-lxc'), 'attach', ...args], { env: { PATH: process.env.PATH, CONTID_STATE_DIR: stateDir, CONTID_CLI: 'echo node' }, encoding: 'utf8' });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  };
  // This test's own process stands in for the container's init.
  const me = { contid: 77n as never, session: readSessionId(process.pid), initPid: process.pid, initStart: processStartTime(process.pid)! };

  it('a live init in its recorded session: contid-spawn --setns, then lxc-attach with the arguments as given', () => {
    writeInstanceRecord(stateDir, 'web', me);
    expect(readFileSync(join(stateDir, 'lxc', 'web'), 'utf8')).toBe(`77 ${me.session} ${me.initPid} ${me.initStart}\n`);
    expect(attach(['web', '-e', '--', 'sh', '-c', 'x y'])).toEqual({
      status: 0,
      stdout: `spawn --setns 77 --orchestrator lxc --runtime-id web -- lxc-attach -n web -e -- sh -c x y\n`,
      stderr: '',
    });
  });

  it.each([
    ['no record', 'db', ['db', '--', 'true'], null],
    ['another start time (a reused pid)', 'web', ['web', '--', 'true'], { ...me, initStart: me.initStart + 1 }],
    ['another session (the init left its own)', 'web', ['web', '--', 'true'], { ...me, session: me.session + 1 }],
    ['a gone init', 'web', ['web', '--', 'true'], { ...me, initPid: 4194303 }],
    ['-n naming another container', 'web', ['web', '-n', 'db', '--', 'true'], me],
    ['--lxcpath', 'web', ['web', '--lxcpath=/srv', '--', 'true'], me],
    ['-P', 'web', ['web', '-P', '/srv', '--', 'true'], me],
    ['a name that is not an LXC name', '-web', ['-web', '--', 'true'], null],
  ])('%s: handed to the Node command unchanged', (_what, name, args, record) => {
    if (record) writeInstanceRecord(stateDir, name, record as typeof me);
    else rmSync(join(stateDir, 'lxc', name), { force: true });
    expect(attach(args)).toEqual({ status: 0, stdout: `node lxc attach ${args.join(' ')}\n`, stderr: '' });
  });

  it('-n after -- belongs to the command, not to lxc-attach', () => {
    writeInstanceRecord(stateDir, 'web', me);
    expect(attach(['web', '--', 'ps', '-n']).stdout).toMatch(/^spawn --setns 77 /);
  });

  it('usage errors: one line, exit 2', () => {
    expect(attach([])).toEqual({ status: 2, stdout: '', stderr: 'contid-lxc: attach needs a container name (usage: contid-lxc attach NAME [lxc-attach options] [-- CMD [ARG…]])\n' });
  });
});
