import { spawnSync } from 'node:child_process';
import { appendFileSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { contid, run, tempStateDir } from '../helpers/cli';
import { CONTID_LXC, buildLxcFast, createContainer, destroyContainer, lxcInitPid, lxcName, sessionOf, withCli } from './lxc-host';

/**
 * contid-lxc-fast (integrations/lxc/contid-lxc.c) is contid lxc start's recorded start compiled:
 * for the one shape it handles it must write what the sh contid-lxc writes, and hand every other
 * start to the sh before it changes anything. No contid serve runs here, so the entries stay in
 * the spool to be read (real LXC, busybox containers).
 */
describe('contid-lxc-fast: the sh contid-lxc start, compiled (real LXC)', () => {
  const state = tempStateDir('lxcfast');
  const stateDir = state.env.CONTID_STATE_DIR!;
  const spool = join(stateDir, 'spool');
  const names: string[] = [];
  const fast = buildLxcFast();
  afterAll(() => {
    names.forEach(destroyContainer);
    state.cleanup();
  });

  function make(label: string): string {
    const name = lxcName(label);
    names.push(name);
    createContainer(name);
    expect(contid(['install', 'lxc', name], { env: state.env }).status).toBe(0);
    return name;
  }
  const takeEntries = (): Record<string, string> => {
    const out: Record<string, string> = {};
    for (const n of readdirSync(spool)) {
      out[n] = readFileSync(join(spool, n), 'utf8');
      rmSync(join(spool, n));
    }
    return out;
  };
  const start = (program: string, args: string[], env = state.env) => run(program, ['start', ...args], { env: withCli(env) });
  const stop = (name: string) => expect(run('lxc-stop', ['-n', name, '-k']).status).toBe(0);

  beforeAll(() => {
    // What contid serve makes when it starts: the recorded start needs STATE_DIR/lxc.
    mkdirSync(join(stateDir, 'lxc'), { recursive: true, mode: 0o700 });
    mkdirSync(spool, { recursive: true, mode: 0o700 });
  });

  it('writes the entries the sh writes (create, then the init LXC started), byte for byte but for the numbers', () => {
    const name = make('same');
    const written: Record<string, Record<string, string>> = {};
    for (const [what, program] of [['sh', CONTID_LXC], ['fast', fast]] as const) {
      const r = start(program, [name]);
      expect([what, r.status, r.stderr]).toEqual([what, 0, '']);
      const init = lxcInitPid(name);
      const session = sessionOf(init);
      const entries = takeEntries();
      // The pid, session and start time are this start's own: the init's, as LXC started it.
      expect(Object.keys(entries).sort()).toEqual([`${session}-create-${r.pid}.entry`, `${session}-init-${r.pid}.entry`]);
      const initEntry = entries[`${session}-init-${r.pid}.entry`];
      expect(initEntry).toContain(`\npid=${init}\ninit-session=${session}\n`);
      const startTime = readFileSync(`/proc/${init}/stat`, 'utf8').split(') ')[1].split(' ')[19];
      expect(initEntry).toContain(`\ninit-start=${startTime}\n`);
      written[what] = Object.fromEntries(
        Object.entries(entries).map(([file, text]) => [
          file.replace(/^\d+-(\w+)-\d+\.entry$/, '$1'),
          text.replace(/^(wrapper-pid|session|old-session|pid|init-session|init-start)=\d+$/gm, '$1=N').replace(`old-session=N`, 'old-session=OLD'),
        ]),
      );
      stop(name);
    }
    expect(written.fast).toEqual(written.sh);
    expect(written.fast.init).toBe(
      `contid-spool 1\nop=init\nsubcommand=start\norchestrator=lxc\nid=${name}\nname=${name}\nwrapper-pid=N\nsession=N\npid=N\ninit-session=N\n` +
        `init-start=N\nconfig=/var/lib/lxc/${name}/config\nrootfs=/var/lib/lxc/${name}/rootfs\n--- end\n`,
    );
  });

  it('hands to the sh every start it does not record itself, before renewing anything: lxc-start options, an include, another start-host hook', () => {
    const name = make('handoff');
    const config = `/var/lib/lxc/${name}/config`;
    const original = readFileSync(config, 'utf8');
    const admin = `/tmp/contid-test-lxcfast-${process.pid}.sh`;
    writeFileSync(admin, '#!/bin/sh\nexit 0\n', { mode: 0o755 });
    try {
      // The sh's way: its create entry, then LXC runs contid's hook, which spools the init
      // (start-host); for an include it cannot read, the Node command binds the start itself.
      for (const [what, extra, args, spooled] of [
        ['lxc-start options after --', '', [name, '--', '-d'], ['create', 'init']],
        ['an admin start-host hook (tab before =)', `lxc.hook.start-host\t= ${admin}\n`, [name], ['create', 'init']],
        ['an lxc.include', `lxc.include = ${admin}.conf\n`, [name], ['init']],
        ['a namespace setting', 'lxc.namespace.keep = user\n', [name], ['create', 'init']],
      ] as const) {
        writeFileSync(config, original);
        if (extra) appendFileSync(config, extra);
        writeFileSync(`${admin}.conf`, '');
        const r = start(fast, [...args]);
        expect([what, r.status]).toEqual([what, 0]);
        const init = lxcInitPid(name);
        const taken = takeEntries();
        const entries = Object.keys(taken).map((n) => n.replace(/^\d+-(\w+)-\d+\.entry$/, '$1'));
        // Renewed once, by the sh: the session before it is the caller's, not one the program renewed.
        for (const text of Object.values(taken).filter((t) => t.includes('\nop=create\n'))) expect([what, text]).toEqual([what, expect.stringContaining(`\nold-session=${sessionOf('self')}\n`)]);
        expect([what, entries.sort()]).toEqual([what, spooled]);
        expect([what, sessionOf(init) > 0]).toEqual([what, true]);
        stop(name);
      }
    } finally {
      writeFileSync(config, original);
      for (const f of [admin, `${admin}.conf`]) rmSync(f, { force: true });
    }
  });

  it('under CONTID_FAIL_POLICY=closed a spool it cannot write starts nothing (exit 1, the sh\'s words)', () => {
    const name = make('closed');
    const ro = join(state.dir, 'ro-spool');
    mkdirSync(ro, { mode: 0o700 });
    expect(run('mount', ['--bind', '-o', 'ro', ro, ro]).status).toBe(0);
    try {
      expect(spawnSync('mount', ['-o', 'remount,bind,ro', ro]).status).toBe(0);
      const env = { ...state.env, CONTID_SPOOL_DIR: ro, CONTID_FAIL_POLICY: 'closed' };
      for (const program of [CONTID_LXC, fast]) {
        const r = start(program, [name], env);
        expect([program, r.status, r.stderr]).toEqual([program, 1, `contid-lxc: cannot write the spool entry in ${ro} (CONTID_FAIL_POLICY=closed: not starting lxc-start)\n`]);
        expect(run('lxc-info', ['-n', name, '-s']).stdout).toMatch(/STOPPED/);
      }
      expect(statSync(ro).isDirectory()).toBe(true);
    } finally {
      run('umount', [ro]);
    }
  });
});
