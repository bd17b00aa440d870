import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import { chownSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ContainerRecord, Registry, decodeValue, formatContainerId } from '@contid/core';
import { field, waitForAudit } from '../helpers/audit';
import { contid, run, tempStateDir } from '../helpers/cli';
import { startServe } from '../helpers/serve';
import { waitFor } from '../helpers/wait';
import { createContainer, destroyContainer, lxcInitPid, lxcName, lxcStart, waitForState } from './lxc-host';

/**
 * Outside attack 9, L1: LXC's monitor listens on an abstract unix socket named after the
 * container (@LXCPATH/NAME/command). Abstract names have no owner, so an unprivileged host user
 * in contid serve's network namespace can bind the name of a stopped container. Real LXC, a
 * real `contid serve`, a real login user without privilege; her listener is Python's.
 */
const SQUATTER = `
import socket, sys, time
addr = '\\0' + sys.argv[1]
mode = sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(addr)
if mode == 'full':
    # backlog 0, filled by one connection of her own, never accepted: a blocking connect waits for ever
    s.listen(0)
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    c.setblocking(False)
    c.connect(addr)
    print('ready', flush=True)
    while True:
        time.sleep(3600)
s.listen(16)
print('ready', flush=True)
held = []
while True:
    conn = s.accept()[0]
    if mode == 'hold':
        held.append(conn)
    else:
        conn.close()
`;

type Mode = 'full' | 'hold' | 'close';

/** Pathname sockets bound at the RELATIVE path "@LXCPATH/NAME/command", each in its own directory under argv[1]. */
const LOOKALIKE = `
import os, socket, sys, time
rel = '@' + sys.argv[2]
keep = []
for i in range(5):
    d = os.path.join(sys.argv[1], 'd%d' % i)
    os.makedirs(os.path.join(d, os.path.dirname(rel)), exist_ok=True)
    os.chdir(d)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(rel)
    s.listen(1)
    keep.append(s)
print('ready', flush=True)
while True:
    time.sleep(3600)
`;

describe('an unprivileged user squatting an LXC monitor socket name (outside attack 9 L1; real LXC, real contid serve, a real login user)', () => {
  const state = tempStateDir('lxcsquat');
  const env = state.env;
  const stateDir = env.CONTID_STATE_DIR!;
  const user = `ctsq${Math.random().toString(36).slice(2, 8)}`;
  let uid = -1;
  let gid = -1;
  let serve = startServe(env, state.dir);
  const names: string[] = [];
  const squatters: ChildProcess[] = [];

  beforeAll(() => {
    spawnSync('userdel', [user]);
    const added = spawnSync('useradd', ['--no-create-home', '--shell', '/usr/sbin/nologin', user], { encoding: 'utf8' });
    if (added.status !== 0) throw new Error(`useradd: ${added.stderr}`);
    uid = Number(spawnSync('id', ['-u', user], { encoding: 'utf8' }).stdout.trim());
    gid = Number(spawnSync('id', ['-g', user], { encoding: 'utf8' }).stdout.trim());
  });
  afterAll(async () => {
    squatters.forEach((s) => s.exitCode === null && s.kill('SIGKILL'));
    names.forEach(destroyContainer);
    await serve.stop();
    spawnSync('userdel', [user]);
    state.cleanup();
  }, 60_000);

  function make(label: string, hooked: boolean): string {
    const name = lxcName(label);
    names.push(name);
    createContainer(name);
    if (hooked) expect(contid(['install', 'lxc', name], { env }).status).toBe(0);
    return name;
  }

  function rowsOf(name: string): ContainerRecord[] {
    const r = Registry.open(stateDir, { readonly: true });
    try {
      return r.list({ orchestrator: 'lxc' }).filter((c) => c.runtimeId === name);
    } finally {
      r.close();
    }
  }

  /** Her listener on NAME's monitor socket name, as her own uid, no capability. */
  async function squat(name: string, mode: Mode): Promise<ChildProcess> {
    const child = spawn(
      'setpriv',
      ['--reuid', String(uid), '--regid', String(gid), '--clear-groups', '--inh-caps', '-all', '--', '/usr/bin/python3', '-c', SQUATTER, `/var/lib/lxc/${name}/command`, mode],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    squatters.push(child);
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    await waitFor(`${user}'s listener on ${name}'s name`, () => {
      if (child.exitCode !== null) throw new Error(`the squatter exited: ${out}`);
      return out.includes('ready');
    });
    return child;
  }

  async function startBound(name: string): Promise<ContainerRecord> {
    const r = lxcStart([name], env);
    expect(r.status).toBe(0);
    await waitForState(name, 'RUNNING');
    const init = lxcInitPid(name);
    // Bound promptly: the spool is drained and the init recorded (not blocked behind her socket).
    await waitFor(`contid serve to bind ${name} (init ${init})`, () => rowsOf(name).find((c) => c.state === 'running' && c.session !== null), 30_000);
    return rowsOf(name).find((c) => c.state === 'running')!;
  }

  const refusals = (): string[] => serve.log().split('\n').filter((l) => l.includes('refused the monitor socket'));

  // hooked: the start-host hook recorded the init, so serve knows the monitor from the process tree;
  // not hooked: a row the Node command bound without contid's hook (serve finds its monitor by its title).
  it.each([
    ['full', true],
    ['hold', false],
    ['close', true],
  ] as [Mode, boolean][])(
    'her listener (%s) on a stopped container\'s name (hook: %s) does not hang serve, keep or end a row for her, or hang doctor; serve names her once',
    async (mode, hooked) => {
      const stopped = make(`sq${mode[0]}`, hooked);
      const before = await startBound(stopped);
      // serve restarts (an upgrade) while the container stops: its row is open, its name free.
      await serve.stop();
      expect(run('lxc-stop', ['-n', stopped, '-k']).status).toBe(0);
      const eve = await squat(stopped, mode);
      try {
        await squatted(stopped, before, eve);
      } finally {
        eve.kill('SIGKILL');
      }
    },
    120_000,
  );

  // Outside attack 11, L2: /proc/net/unix prints a pathname socket bound at the relative path
  // "@/var/lib/lxc/NAME/command" exactly like the monitor's abstract name; serve took the first
  // such line for the monitor's listener, refused the real monitor and fell back to its 5 s check.
  it('her look-alike pathname sockets do not make serve refuse the real monitor', async () => {
    const name = make('slook', true);
    const dir = mkdtempSync(join(tmpdir(), 'ctsq-'));
    chownSync(dir, uid, gid);
    const eve = spawn('setpriv', ['--reuid', String(uid), '--regid', String(gid), '--clear-groups', '--inh-caps', '-all', '--', '/usr/bin/python3', '-c', LOOKALIKE, dir, `/var/lib/lxc/${name}/command`], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    squatters.push(eve);
    try {
      let out = '';
      eve.stdout!.on('data', (d: Buffer) => (out += d.toString()));
      eve.stderr!.on('data', (d: Buffer) => (out += d.toString()));
      await waitFor('her look-alike listeners', () => {
        if (eve.exitCode !== null) throw new Error(`the look-alike exited: ${out}`);
        return out.includes('ready');
      });
      const seen = readFileSync('/proc/net/unix', 'latin1').split('\n').filter((l) => l.endsWith(` @/var/lib/lxc/${name}/command`));
      expect(seen.length).toBeGreaterThanOrEqual(5);
      const before = refusals().length;
      const bound = await startBound(name);
      expect(run('lxc-stop', ['-n', name, '-k']).status).toBe(0);
      // the end comes from the monitor's connection ("stopped"), not from the 5 s check ("found stopped")
      await waitFor(`${name}'s end in serve's log`, () => serve.log().includes(`end ${name} ${formatContainerId(bound.contid)} (stopped)`), 20_000);
      expect(refusals().slice(before)).toEqual([]);
    } finally {
      eve.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);

  async function squatted(stopped: string, before: ContainerRecord, eve: ChildProcess): Promise<void> {
    serve = startServe(env, state.dir);
    await serve.ready();

    // serve still works: a container started now is tagged and bound promptly ...
    const next = make('snext', true);
    const bound = await startBound(next);
    expect(bound.session).not.toBe(before.session);
    // ... the stopped container's row ends as found stopped, not kept open by her socket nor
    // ended as if its monitor had closed ("stopped") ...
    await waitFor(`${stopped}'s row to end`, () => rowsOf(stopped).every((c) => c.state === 'ended'), 20_000);
    const ends = await waitForAudit(['-m', 'VIRT_CONTROL', '--vm-name', stopped], (l) => l.some((x) => field(x, 'op') === 'end' && field(x, 'vm') === stopped));
    expect(ends.filter((x) => field(x, 'op') === 'end' && field(x, 'vm') === stopped).map((x) => [field(x, 'contid'), decodeValue(field(x, 'reason')!)])).toEqual([
      [formatContainerId(before.contid), 'found stopped by contid serve'],
    ]);
    // ... and she is named once, in one escaped line (serve's stderr reaches us on its own time).
    await waitFor('the line naming her in serve\'s log', () => refusals().length > 0);
    expect(refusals()).toEqual([
      expect.stringMatching(
        new RegExp(`^contid serve: refused the monitor socket @/var/lib/lxc/${stopped}/command of LXC container ${stopped} ${formatContainerId(before.contid)}: is held by pid ${eve.pid} uid ${uid}: `),
      ),
    ]);

    // contid doctor answers while she squats (lxc-ls --running would wait on her socket).
    const doctor = contid(['doctor', '--json'], { env, timeout: 30_000 });
    const checks = doctor.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { check: string; status: string });
    expect(checks.find((c) => c.check === `lxc ${next}`)).toMatchObject({ status: 'ok' });
    expect(checks.find((c) => c.check === `lxc ${stopped}`)).toBeUndefined();

    // The new container's end is still told by its own monitor.
    expect(run('lxc-stop', ['-n', next, '-k']).status).toBe(0);
    // (serve logs the end after the registry has it)
    await waitFor(`${next}'s end in serve's log`, () => serve.log().includes(`end ${next} ${formatContainerId(bound.contid)} (stopped)`), 20_000);
    expect(rowsOf(next).map((c) => c.state)).toEqual(['ended']);
  }
});
