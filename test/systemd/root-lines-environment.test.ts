import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { AUDIT_UNSET } from '@contid/core';
import { CONTID_MAIN, tempStateDir, uniqueName } from '../helpers/cli';
import { GuestServe, Machine, bootMachine, ensureTree, startGuestServe } from './nspawn-host';

/**
 * A confined unit's service against the root lines contid adds to it (outside attack 14, F2).
 * contid's drop-in gives a User= unit `ExecStartPost=+… bind` and `ExecStopPost=+… end`: `+`
 * runs them as unconfined root, but with the unit's own environment (Environment=,
 * EnvironmentFile=), which its service user may write. Before: the service's own `sleep` (first
 * in its PATH) ran as uid 0 from the bind's wait, LD_PRELOAD from its EnvironmentFile loaded
 * into the root sh, NODE_OPTIONS ran in the root Node command, and a `+` line of the unit's own
 * written as a bare name ran the service's program of that name. Real systemd (PID 1 in
 * systemd-nspawn), real generator; the service user writes its files itself.
 */
const GUEST_STATE = '/var/lib/contid-test/state';
const GUEST_CONTID = [process.execPath, CONTID_MAIN, '--state-dir', GUEST_STATE];
const USER = 'contid-atk';
const HOME = '/opt/contid-atk';
const HITS = '/tmp/contid-atk-hits';

let machine: Machine;
let serve: GuestServe;
let state: ReturnType<typeof tempStateDir>;

function guest(args: string[]): string {
  const r = machine.exec(args);
  if (r.status !== 0) throw new Error(`${args.join(' ')} in the guest: ${r.stderr || r.stdout}`);
  return r.stdout.trim();
}
/** A shell command run as the service user, as the compromised service itself would. */
const asService = (script: string): string => guest(['runuser', '-u', USER, '--', 'sh', '-c', script]);
const unitProperty = (unit: string, property: string): string => guest(['systemctl', 'show', '-p', property, '--value', unit]);
const install = (unit: string): string => guest(['env', `CONTID_STATE_DIR=${GUEST_STATE}`, ...GUEST_CONTID.slice(0, 2), 'install', 'systemd', unit]);
/** A unit with these [Service] lines (as many restarts as a test likes), installed and loaded. */
const writeUnit = (unit: string, lines: string[]): void => {
  guest(['sh', '-c', `cat > /etc/systemd/system/${unit} <<'EOF'\n[Unit]\nStartLimitIntervalSec=0\n[Service]\n${lines.join('\n')}\nEOF`]);
  install(unit);
  guest(['systemctl', 'daemon-reload']);
};
/** What the service's hooks noted, one line each: `HOOK uid=N WHAT`. */
const hits = (): string[] => machine.exec(['cat', HITS]).stdout.split('\n').filter(Boolean);
const asRoot = (lines: string[]): string[] => lines.filter((l) => / uid=0 /.test(`${l} `));

beforeAll(async () => {
  ensureTree();
  state = tempStateDir('systemd-rootenv');
  mkdirSync(state.dir, { recursive: true });
  state.env.CONTID_STATE_DIR = join(state.dir, 'state');
  // The service's LD_PRELOAD library, built here (the guest is the same Debian release, no compiler).
  const so = spawnSync('gcc', ['-shared', '-fPIC', '-o', join(state.dir, 'hook.so'), '-x', 'c', '-'], {
    input:
      '#include <stdio.h>\n#include <unistd.h>\n' +
      '__attribute__((constructor)) static void hook(void) {\n' +
      '  char comm[64] = "?\\n"; FILE *c = fopen("/proc/self/comm", "r"); if (c) { if (!fgets(comm, sizeof comm, c)) comm[0] = 0; fclose(c); }\n' +
      `  FILE *f = fopen("${HITS}", "a"); if (f) { fprintf(f, "ld_preload uid=%d %s", (int)getuid(), comm); fclose(f); }\n}\n`,
    encoding: 'utf8',
  });
  if (so.status !== 0) throw new Error(`gcc: ${so.stderr}`);
  machine = await bootMachine(uniqueName('contid-sdenv').slice(0, 60), state.dir);
  serve = await startGuestServe(machine, GUEST_CONTID.slice(0, 2), GUEST_STATE, state.env.CONTID_STATE_DIR);
  guest(['useradd', '--system', '--home-dir', HOME, '--create-home', '--shell', '/usr/sbin/nologin', USER]);
  guest(['sh', '-c', `touch ${HITS} && chmod 666 ${HITS}`]);
  // The service's own files, written by the service user: its library, its Node hook, its bin/.
  guest(['install', '-o', USER, '-m', '0644', '/var/lib/contid-test/hook.so', `${HOME}/hook.so`]);
  asService(`printf '%s\\n' "require('fs').appendFileSync('${HITS}', 'node_options uid=' + process.getuid() + ' ' + process.argv.slice(2).join(' ') + '\\\\n');" > ${HOME}/hook.js`);
  asService(`mkdir -p ${HOME}/bin && for t in sleep touch; do printf '#!/bin/sh\\necho "path uid=$(id -u) $0 $*" >> ${HITS}\\nexec /usr/bin/%s "$@"\\n' $t > ${HOME}/bin/$t && chmod 755 ${HOME}/bin/$t; done`);
}, 600_000);

afterAll(async () => {
  serve?.stop();
  await machine?.stop();
  state?.cleanup();
}, 60_000);

describe("a confined unit's environment, written by its service user, against contid's root lines (real systemd)", () => {
  test('LD_PRELOAD in its EnvironmentFile: loads where the unit runs as the user, never into a root process of contid; the unit is still bound', async () => {
    const unit = 'contid-atk-preload.service';
    asService(`printf 'LD_PRELOAD=${HOME}/hook.so\\n' > ${HOME}/preload.env`);
    writeUnit(unit, [`User=${USER}`, `EnvironmentFile=-${HOME}/preload.env`, 'ExecStart=/bin/sleep 60']);
    const before = hits().length;
    guest(['systemctl', 'start', unit]);
    const invocation = unitProperty(unit, 'InvocationID');
    await serve.drained();
    const shown = JSON.parse(guest([...GUEST_CONTID, 'show', invocation, '--json'])) as { state: string; session: number };
    expect(shown.state).toBe('running');
    expect(shown.session).not.toBe(AUDIT_UNSET);
    guest(['systemctl', 'stop', unit]);
    await serve.drained();
    const mine = hits().slice(before);
    // The library does load where the unit's environment applies (its main line, as the user).
    expect(mine.filter((l) => l.startsWith('ld_preload ') && !/ uid=0 /.test(l)).length).toBeGreaterThan(0);
    expect(asRoot(mine)).toEqual([]);
  });

  test('NODE_OPTIONS and a forged INVOCATION_ID in its EnvironmentFile (the sh hands over to Node): its script never runs as root', async () => {
    const unit = 'contid-atk-node.service';
    asService(`printf 'NODE_OPTIONS=--require=${HOME}/hook.js\\nINVOCATION_ID=x\\n' > ${HOME}/node.env`);
    // Its ExecStartPre= runs Node as the user (a confined unit's plain lines run as they are): the hook's proof.
    writeUnit(unit, [`User=${USER}`, `EnvironmentFile=-${HOME}/node.env`, `ExecStartPre=${process.execPath} -e 0`, 'ExecStart=/bin/sleep 60']);
    const before = hits().length;
    machine.exec(['systemctl', 'start', unit]); // the forged id fails the start (its own doing); what ran is what counts
    machine.exec(['systemctl', 'stop', unit]);
    const mine = hits().slice(before);
    expect(mine.filter((l) => l.startsWith('node_options ') && !/ uid=0 /.test(l)).length).toBeGreaterThan(0);
    expect(asRoot(mine)).toEqual([]);
    machine.exec(['systemctl', 'reset-failed', unit]);
    await serve.settled();
  });

  test("its own directory first in PATH: the bind's wait (ExecStartPost=+, polling with sleep) never runs its `sleep` as root, in any of 40 restarts", async () => {
    const unit = 'contid-atk-path.service';
    writeUnit(unit, [`User=${USER}`, `Environment=PATH=${HOME}/bin:/usr/bin:/bin`, 'ExecStart=/bin/sleep 60']);
    const before = hits().length;
    let rootHits: string[] = [];
    for (let i = 0; i < 40 && rootHits.length === 0; i++) {
      if (machine.exec(['systemctl', 'restart', unit]).status !== 0) throw new Error(`restart ${i} failed: ${guest(['journalctl', '-u', unit, '--no-pager', '-o', 'cat'])}`);
      rootHits = asRoot(hits().slice(before));
    }
    guest(['systemctl', 'stop', unit]);
    expect(rootHits).toEqual([]);
    await serve.drained();
  }, 300_000);

  test("its own directory first in PATH: the unit's own `+` line written as a bare name runs what systemd would run (its fixed search path), not the service's program", async () => {
    const unit = 'contid-atk-plus.service';
    const post = '/run/contid-atk-post';
    writeUnit(unit, [`User=${USER}`, `Environment=PATH=${HOME}/bin:/usr/bin:/bin`, 'ExecStart=/bin/sleep 60', `ExecStartPost=+touch ${post}`]);
    const before = hits().length;
    guest(['systemctl', 'start', unit]);
    expect(guest(['stat', '-c', '%U', post])).toBe('root');
    guest(['systemctl', 'stop', unit]);
    expect(hits().slice(before)).toEqual([]);
    await serve.drained();
  });

  test('without a static /bin/busybox: contid install systemd refuses with one line; the generator writes no drop-in and says why, per unit', () => {
    const unit = 'contid-atk-nobusybox.service';
    writeUnit(unit, [`User=${USER}`, 'ExecStart=/bin/sleep 60']);
    const dropIn = `/run/systemd/generator/${unit}.d/zz-contid.conf`;
    expect(machine.exec(['test', '-e', dropIn]).status).toBe(0);
    guest(['mount', '--bind', '/usr/bin/dash', '/usr/bin/busybox']); // a dynamically linked program in its place
    try {
      const r = machine.exec(['env', `CONTID_STATE_DIR=${GUEST_STATE}`, ...GUEST_CONTID.slice(0, 2), 'install', 'systemd', unit]);
      expect([r.status, r.stderr]).toEqual([
        1,
        "contid: contid's root lines of a unit start through a static busybox, without the unit's environment: /bin/busybox is dynamically linked; install busybox-static (Debian, Ubuntu) first\n",
      ]);
      guest(['systemctl', 'daemon-reload']);
      expect(machine.exec(['test', '-e', dropIn]).status).not.toBe(0);
      // What it said (systemd sends a generator's stderr to the kernel log, which a guest has none of): the launcher run as systemd runs it.
      const gen = machine.exec(['/etc/systemd/system-generators/contid-systemd-generator', '/run/contid-atk-gen', '/run/contid-atk-gen', '/run/contid-atk-gen']);
      expect(gen.status).toBe(0);
      expect(gen.stderr.split('\n')).toContain(
        `contid-systemd-generator: ${unit}: its root lines need a static busybox (/bin/busybox is dynamically linked; install busybox-static); this unit runs untagged`,
      );
      expect(machine.exec(['test', '-e', `/run/contid-atk-gen/${unit}.d`]).status).not.toBe(0);
    } finally {
      guest(['umount', '/usr/bin/busybox']);
      guest(['systemctl', 'daemon-reload']);
    }
    expect(machine.exec(['test', '-e', dropIn]).status).toBe(0);
  });
});
