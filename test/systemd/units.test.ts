import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { createPublicKey } from 'node:crypto';
import { AUDIT_UNSET, decodeValue, readSigner, splitSignedBody, verifySignature } from '@contid/core';
import { addExecveRule, deleteExecveRule, field } from '../helpers/audit';
import { waitForAudit } from '../helpers/audit';
import { CONTID_MAIN, REPO_ROOT, contid, tempStateDir, uniqueName } from '../helpers/cli';
import { GuestServe, Machine, bootMachine, ensureTree, startGuestServe, waitFor } from './nspawn-host';

/**
 * Units under a real systemd (PID 1 in systemd-nspawn, sharing this host's kernel audit):
 * the drop-in `contid install systemd` writes, restarts, stops, the ExecStartPost= bind of a
 * PAM unit, and misuse. Every record is checked in the HOST's audit log.
 */
const GUEST_STATE = '/var/lib/contid-test/state';
const GUEST_CONTID = [process.execPath /* bound into the guest at the same path */, CONTID_MAIN, '--state-dir', GUEST_STATE];
/** contid-systemd (sh) as the generator writes it for this registry: the hot path of every line. */
const GUEST_WRAPPER = [`${REPO_ROOT}/integrations/bin/contid-systemd`, '--state-dir', GUEST_STATE, '--cli', ...GUEST_CONTID.slice(0, 2)];
/** contid's own `+` line (bind): a static busybox clears the unit's environment, passing only what systemd gives them. */
const ROOT_ENV = (...names: string[]): string => `+/bin/busybox env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin ${names.map((n) => `${n}=\${${n}}`).join(' ')}`;
const GUEST_BIND = `${ROOT_ENV('MAINPID', 'INVOCATION_ID')} ${GUEST_WRAPPER.join(' ')} bind --unit %n`;
const LOOP = `[Service]\nExecStart=/bin/sh -c "while true; do /bin/true; sleep 0.3; done"\n`;

let machine: Machine;
let serve: GuestServe;
/** Audit sessions the loop unit had, one per invocation. */
const loopSessions: number[] = [];
let state: ReturnType<typeof tempStateDir>;
const key = uniqueName('contid-systemd');

interface Shown {
  contid: string;
  name: string;
  runtimeId: string;
  state: string;
  session: number;
  orchestrator: string;
  labels: Record<string, string>;
}

/**
 * The registry as the guest sees it. Read inside the guest: nspawn gives the guest its own
 * boot_id, and a registry opened under another boot id ends that boot's rows.
 */
const show = (ref: string): Shown => JSON.parse(guest([...GUEST_CONTID, 'show', ref, '--json'])) as Shown;

function guest(args: string[]): string {
  const r = machine.exec(args);
  if (r.status !== 0) throw new Error(`${args.join(' ')} in the guest: ${r.stderr || r.stdout}`);
  return r.stdout.trim();
}

const unitProperty = (unit: string, property: string): string => guest(['systemctl', 'show', '-p', property, '--value', unit]);

/**
 * Host pid and audit session of the unit's main process, once it has become the unit's own
 * command (Type=simple: `systemctl start` returns at fork, before contid has renewed).
 */
async function mainProcess(unit: string): Promise<{ pid: number; session: number }> {
  return waitFor(
    () => {
      const pid = machine.hostPid(Number(unitProperty(unit, 'MainPID')));
      if (readFileSync(`/proc/${pid}/comm`, 'utf8').trim() !== 'sh') return undefined;
      return { pid, session: Number(readFileSync(`/proc/${pid}/sessionid`, 'utf8')) };
    },
    10_000,
    () => `${unit}'s main process never became its command`,
  );
}

/** Sessions of every process in the unit's cgroup, read on the host. */
function unitSessions(unit: string): number[] {
  const pids = machine.processes().filter((p) => {
    try {
      return readFileSync(`/proc/${p}/cgroup`, 'utf8').trim().endsWith(`/${unit}`);
    } catch {
      return false; // exited meanwhile
    }
  });
  expect(pids.length).toBeGreaterThan(0);
  return pids.map((p) => Number(readFileSync(`/proc/${p}/sessionid`, 'utf8')));
}

/** `contid install systemd UNIT` in the guest, as an administrator runs it. */
const install = (unit: string): string => guest(['env', `CONTID_STATE_DIR=${GUEST_STATE}`, ...GUEST_CONTID.slice(0, 2), 'install', 'systemd', unit]);
/** The drop-in contid's generator wrote for the unit at the last boot or daemon-reload. */
const generated = (unit: string): string => guest(['cat', `/run/systemd/generator/${unit}.d/zz-contid.conf`]);

const records = (uuid: string, op: string) =>
  waitForAudit(['-m', 'VIRT_CONTROL', '--uuid', uuid], (lines) => lines.some((l) => l.includes(`op=${op} `)));

beforeAll(async () => {
  ensureTree();
  state = tempStateDir('systemd');
  mkdirSync(state.dir, { recursive: true });
  state.env.CONTID_STATE_DIR = join(state.dir, 'state');
  machine = await bootMachine(uniqueName('contid-sd').slice(0, 60), state.dir);
  serve = await startGuestServe(machine, GUEST_CONTID.slice(0, 2), GUEST_STATE, state.env.CONTID_STATE_DIR);
  addExecveRule(key);
}, 600_000);

afterAll(async () => {
  deleteExecveRule(key);
  serve?.stop();
  await machine?.stop();
  state?.cleanup();
}, 60_000);

describe('a unit wrapped by contid install systemd, under a real systemd', () => {
  const unit = 'contid-loop.service';

  test('install writes the drop-in once (idempotent) and the unit starts as a container', async () => {
    guest(['sh', '-c', `printf '${LOOP.replace(/\n/g, '\\n')}' > /etc/systemd/system/${unit}`]);
    const first = install(unit);
    expect(first).toMatch(/enabled contid-loop\.service for \/etc\/systemd\/system-generators\/contid-systemd-generator .*; run `systemctl daemon-reload`/);
    expect(install(unit)).toMatch(/is up to date/);
    guest(['systemctl', 'daemon-reload']);
    const dropIn = generated(unit);
    expect(dropIn).toContain(`ExecStart=\nExecStart=${GUEST_WRAPPER.join(' ')} exec --unit %n -- /bin/sh -c "while true; do /bin/true; sleep 0.3; done"`);
    // No line of contid's at the end: contid serve learns it from PID 1.
    expect(dropIn).not.toContain('ExecStopPost=');
    guest(['systemctl', 'start', unit]);

    const invocation = unitProperty(unit, 'InvocationID');
    const main = await mainProcess(unit);
    await serve.drained();
    expect(main.session).not.toBe(AUDIT_UNSET);
    // Everything the unit runs carries the session the main process renewed for itself.
    expect(new Set(unitSessions(unit))).toEqual(new Set([main.session]));
    loopSessions.push(main.session);

    const c = show(invocation);
    expect(c).toMatchObject({ orchestrator: 'systemd', name: unit, runtimeId: invocation, state: 'running', session: main.session });
    expect(c.labels['systemd.unit']).toBe(unit);

    const create = (await records(invocation, 'create')).find((l) => l.includes('op=create '))!;
    expect(field(create, 'vm')).toBe(unit);
    expect(field(create, 'vm-ses')).toBe(String(main.session));
    expect(field(create, 'contid')).toBe(c.contid);
    // The kernel's own records of the unit's commands carry that session. Found by the session
    // alone: the session is the unit's, and the kernel keeps the key of the first matching rule,
    // which is another suite's when one runs meanwhile (seen: a catch-all execve rule of the
    // Docker front suite listed before ours, and this found nothing).
    const execs = await waitForAudit(['--session', String(main.session)], (lines) => lines.some((l) => l.includes('a0="/bin/true"')));
    expect(execs.some((l) => l.includes('a0="/bin/true"'))).toBe(true);
  });

  test('a restart is a new invocation: new contid, new session; the old one ends, stale ones are ended too', async () => {
    const before = unitProperty(unit, 'InvocationID');
    const oldSession = (await mainProcess(unit)).session;
    // A stale container of the same unit whose ExecStopPost= never ran (a crash): made the way
    // a unit's ExecStart= makes one, then left running.
    const staleInvocation = 'f'.repeat(32);
    guest(['env', `INVOCATION_ID=${staleInvocation}`, ...GUEST_CONTID, 'exec', '--systemd', '--unit', unit, '--', 'true']);
    expect(show(staleInvocation).state).toBe('running');

    guest(['systemctl', 'restart', unit]);
    const after = unitProperty(unit, 'InvocationID');
    expect(after).not.toBe(before);
    const main = await mainProcess(unit);
    expect(main.session).not.toBe(oldSession);
    loopSessions.push(main.session);
    expect(new Set(unitSessions(unit))).toEqual(new Set([main.session]));
    await serve.drained();
    expect(show(after)).toMatchObject({ runtimeId: after, state: 'running', session: main.session });
    expect(show(before).state).toBe('ended');
    expect(show(staleInvocation).state).toBe('ended');

    const ended = (await records(before, 'end')).find((l) => l.includes('op=end '))!;
    expect(ended).toContain('reason=');
    const superseded = (await records(staleInvocation, 'end')).find((l) => l.includes('op=end '))!;
    expect(superseded).toBeDefined();
    await records(after, 'create');
  });

  test('stop records the end with the reason systemd gives, learnt from PID 1', async () => {
    const invocation = unitProperty(unit, 'InvocationID');
    guest(['systemctl', 'stop', unit]);
    await serve.drained();
    await waitFor(() => (show(invocation).state === 'ended' ? true : undefined), 30_000, () => `${invocation}: ${show(invocation).state}`);
    const end = (await records(invocation, 'end')).find((l) => l.includes('op=end '))!;
    expect(decodeValue(field(end, 'reason')!)).toMatch(/^service-result:success/);
    expect(serve.log()).toContain(`end ${invocation} -> contid ${show(invocation).contid}`);
  });

  test('contid search --container <unit> returns what ausearch --session finds for the unit\'s sessions', async () => {
    const last = loopSessions[loopSessions.length - 1];
    await waitForAudit(['--session', String(last)], (lines) => lines.some((l) => l.includes('a0="/bin/true"')));
    // One frozen copy of the recent logs for both tools: auditd rotates under other suites' load.
    const logs = join(state.dir, 'logs');
    mkdirSync(logs);
    const inputs = ['audit.log.1', 'audit.log'].filter((f) => existsSync(`/var/log/audit/${f}`)).map((f, i) => {
      copyFileSync(`/var/log/audit/${f}`, join(logs, `${i}.log`));
      return join(logs, `${i}.log`);
    });
    // The guest's registry, read-only (a copy: the host's boot id differs from the guest's).
    const search = contid(['--state-dir', `${state.dir}/state`, 'search', '--container', unit, '-k', key, '--no-index', ...inputs.flatMap((f) => ['-if', f])], {
      env: state.env,
      maxBuffer: 256 << 20,
    });
    // stderr may count other suites' untrusted records in the same logs; shown when the search fails.
    expect({ status: search.status, stderr: search.status === 0 ? '' : search.stderr.slice(-3000) }).toEqual({ status: 0, stderr: '' });
    const serials = (text: string[]) => new Set(text.filter((l) => l.includes('a0="/bin/true"')).map((l) => /audit\([0-9.]+:(\d+)\)/.exec(l)![1]));
    const found = serials(search.stdout.split('\n'));
    const ausearchSerials = (ses: number) =>
      serials(inputs.flatMap((f) => spawnSync('ausearch', ['--session', String(ses), '-k', key, '--raw', '-if', f], { encoding: 'utf8', maxBuffer: 256 << 20 }).stdout.split('\n')));
    // The unit name covers each invocation whose binding is in these logs; the last one's is.
    const allInvocations = new Set(loopSessions.flatMap((ses) => [...ausearchSerials(ses)]));
    expect(found.size).toBeGreaterThan(0);
    expect([...found].filter((serial) => !allInvocations.has(serial))).toEqual([]);
    expect([...ausearchSerials(last)].filter((serial) => !found.has(serial))).toEqual([]);
  });

  test('a failing unit restarted by systemd (Restart=on-failure) gets a new contid each attempt, each ended with its reason', async () => {
    const unit = 'contid-crash.service';
    const text = `[Unit]\nStartLimitIntervalSec=0\n[Service]\nRestart=on-failure\nRestartSec=200ms\nExecStart=/bin/sh -c "/bin/true; sleep 0.3; exit 3"\n`;
    guest(['sh', '-c', `printf '${text.replace(/\n/g, '\\n')}' > /etc/systemd/system/${unit}`]);
    install(unit);
    guest(['systemctl', 'daemon-reload']);
    guest(['systemctl', 'start', unit]);
    const listed = () =>
      guest([...GUEST_CONTID, 'ps', '--all', '--json'])
        .split('\n')
        .map((l) => JSON.parse(l) as Shown)
        .filter((c) => c.name === unit);
    const attempts = await waitFor(() => (listed().filter((c) => c.state === 'ended').length >= 3 ? listed() : undefined), 30_000, () => `${unit} did not restart`);
    guest(['systemctl', 'stop', unit]);
    // The stop may land while a restart's ExecStart= line is writing its entry: systemd kills it
    // before its command runs, and serve quarantines the cut entry (never bound, never dropped).
    // That is this test's doing, and said here, not by the next test's look at the spool (CI at
    // 9e751ea: the next test failed on this unit's cut entry). Anything else quarantined fails.
    const quarantined = await serve.settled(`${unit}'s entries to be bound or quarantined`);
    expect(quarantined.filter((q) => !/^spool entry \S+ is incomplete \(.*\): its writer \(pid \d+\) exited before the entry was complete$/.test(q.reason))).toEqual([]);
    const ended = attempts.filter((c) => c.state === 'ended');
    expect(new Set(ended.map((c) => c.runtimeId)).size).toBe(ended.length);
    expect(new Set(ended.map((c) => c.session)).size).toBe(ended.length);
    for (const c of ended.slice(0, 3)) {
      const end = (await records(c.runtimeId, 'end')).find((l) => l.includes('op=end '))!;
      expect(decodeValue(field(end, 'reason')!)).toBe('service-result:exit-code,exit-code:exited,exit-status:3');
    }
    const reasons = guest(['journalctl', '-u', unit, '--no-pager', '-o', 'cat']);
    expect(reasons).toMatch(/Main process exited, code=exited, status=3/);
  });

  test('uninstall takes the unit off the generator\'s list; after daemon-reload its drop-in is gone; a second uninstall says so', () => {
    const env = ['env', `CONTID_STATE_DIR=${GUEST_STATE}`, ...GUEST_CONTID.slice(0, 2)];
    expect(guest([...env, 'uninstall', 'systemd', unit])).toMatch(/removed contid-loop\.service from \/etc\/contid\/systemd-units; run `systemctl daemon-reload`/);
    expect(guest([...env, 'uninstall', 'systemd', unit])).toMatch(/is not installed/);
    guest(['systemctl', 'daemon-reload']);
    expect(machine.exec(['test', '-e', `/run/systemd/generator/${unit}.d/zz-contid.conf`]).status).not.toBe(0);
    expect(guest(['systemctl', 'cat', unit])).not.toContain('contid-systemd');
  });
});

describe('the whole unit, from its current Exec lines (contid\'s generator), under a real systemd', () => {
  const writeUnit = (unit: string, text: string) => guest(['sh', '-c', `printf '${text.replace(/\n/g, '\\n')}' > /etc/systemd/system/${unit}`]);
  /** Writes the unit, enables it for contid, reloads and starts it; returns the invocation id. */
  const startWrapped = (unit: string, text: string): string => {
    writeUnit(unit, text);
    install(unit);
    guest(['systemctl', 'daemon-reload']);
    guest(['systemctl', 'start', unit]);
    return unitProperty(unit, 'InvocationID');
  };

  test('every Exec line runs in the invocation\'s container: the first creates it, each later one joins (op=setns)', async () => {
    const unit = 'contid-every.service';
    const log = '/run/contid-every.sessions';
    const line = (tag: string) => `/bin/sh -c "echo ${tag} $$(cat /proc/self/sessionid) >> ${log}"`;
    const invocation = startWrapped(
      unit,
      [
        '[Service]',
        `ExecStartPre=${line('pre')}`,
        `ExecStart=/bin/sh -c "echo main $$(cat /proc/self/sessionid) >> ${log}; exec sleep 60"`,
        `ExecStartPost=${line('post')}`,
        `ExecReload=${line('reload')}`,
        `ExecStop=${line('stop')}`,
        `ExecStopPost=${line('stoppost')}`,
        '',
      ].join('\n'),
    );
    guest(['systemctl', 'reload', unit]);
    guest(['systemctl', 'stop', unit]);
    await serve.drained();
    const ran = guest(['cat', log]).split('\n').map((l) => l.split(' '));
    // Type=simple: ExecStartPost= runs as soon as the main process is forked, so those two race.
    expect(ran.map(([tag]) => tag).sort()).toEqual(['main', 'post', 'pre', 'reload', 'stop', 'stoppost']);
    expect(ran[0][0]).toBe('pre');
    const sessions = ran.map(([, ses]) => Number(ses));
    expect(sessions).not.toContain(AUDIT_UNSET);
    expect(new Set(sessions).size).toBe(sessions.length);

    const c = JSON.parse(guest([...GUEST_CONTID, 'show', invocation, '--json'])) as Shown & { bindings: { op: string; session: number }[] };
    expect(c.state).toBe('ended');
    expect(c.bindings[0]).toMatchObject({ op: 'create', session: sessions[0] });
    const joined = c.bindings.slice(1);
    expect(joined.map((b) => b.op)).toEqual(sessions.slice(1).map(() => 'setns'));
    expect(joined.map((b) => b.session).sort()).toEqual(sessions.slice(1).sort());
    const setns = await waitForAudit(['-m', 'VIRT_CONTROL', '--uuid', invocation], (l) => l.filter((x) => x.includes('op=setns ')).length >= 5);
    expect(setns.filter((x) => x.includes('op=setns ')).map((x) => Number(field(x, 'vm-ses'))).sort()).toEqual(sessions.slice(1).sort());
  });

  test('a changed ExecStart= (a package upgrade) runs wrapped as it now is after daemon-reload, with no contid install again', async () => {
    const unit = 'contid-upgraded.service';
    startWrapped(unit, '[Service]\nExecStart=/bin/sh -c "echo v1; exec sleep 61"\n');
    guest(['systemctl', 'stop', unit]);
    writeUnit(unit, '[Service]\nExecStart=/bin/sh -c "echo v2; exec sleep 62"\n');
    guest(['systemctl', 'daemon-reload']);
    expect(generated(unit)).toContain('-- /bin/sh -c "echo v2; exec sleep 62"');
    guest(['systemctl', 'start', unit]);
    const invocation = unitProperty(unit, 'InvocationID');
    const pid = await waitFor(
      () => {
        const p = machine.hostPid(Number(unitProperty(unit, 'MainPID')));
        return readFileSync(`/proc/${p}/cmdline`, 'utf8') === 'sleep\u000062\u0000' ? p : undefined;
      },
      10_000,
      () => `${unit} never ran its new command`,
    );
    await serve.drained();
    expect(show(invocation)).toMatchObject({ state: 'running', session: Number(readFileSync(`/proc/${pid}/sessionid`, 'utf8')) });
    guest(['systemctl', 'stop', unit]);
  });

  test('a forking unit records its MAINPID (the daemon) as the container\'s init', async () => {
    const unit = 'contid-forking.service';
    const invocation = startWrapped(unit, '[Service]\nType=forking\nPIDFile=/run/contid-forking.pid\nExecStart=/bin/sh -c "sleep 600 & echo $$! > /run/contid-forking.pid"\n');
    const mainPid = Number(unitProperty(unit, 'MainPID'));
    await serve.drained();
    const c = JSON.parse(guest([...GUEST_CONTID, 'show', invocation, '--json'])) as Shown & { initPid: number };
    expect(c.initPid).toBe(mainPid);
    const update = (await records(invocation, 'update')).find((l) => l.includes('op=update '))!;
    expect(field(update, 'vm-pid')).toBe(String(mainPid));
    expect(Number(readFileSync(`/proc/${machine.hostPid(mainPid)}/sessionid`, 'utf8'))).toBe(c.session);
    guest(['systemctl', 'stop', unit]);
    await serve.drained();
    expect(show(invocation).state).toBe('ended');
  });
});

describe('ExecStartPost= contid systemd bind, under a real systemd', () => {
  test('a confined unit (User=nobody, PrivateNetwork=yes), with Node unreachable: ExecStart= renews, ExecStartPost=+contid-systemd bind spools $MAINPID, serve binds it', async () => {
    const unit = 'contid-confined.service';
    const text = `[Service]\nUser=nobody\nPrivateNetwork=yes\nExecStart=/bin/sh -c "while true; do /bin/true; sleep 0.3; done"\n`;
    guest(['sh', '-c', `printf '${text.replace(/\n/g, '\\n')}' > /etc/systemd/system/${unit}`]);
    install(unit);
    guest(['systemctl', 'daemon-reload']);
    const dropIn = generated(unit);
    expect(dropIn).toContain(`ExecStart=${GUEST_WRAPPER.join(' ')} exec --renew-only --unit %n -- /bin/sh`);
    expect(dropIn).toContain(`ExecStartPost=${GUEST_BIND}`);
    expect(dropIn).not.toMatch(/main\.js[^\n]* systemd bind/);
    // Node made unreachable for the start (as in the hot-path test below): any Node on its path notes the call and fails the line.
    const called = '/run/contid-confined-node-called';
    guest(['sh', '-c', `printf '#!/bin/sh\\necho "$*" >> ${called}\\nexit 1\\n' > /run/no-node-confined && chmod 755 /run/no-node-confined && mount --bind /run/no-node-confined ${process.execPath}`]);
    let invocation: string;
    let main: { pid: number; session: number };
    try {
      guest(['systemctl', 'start', unit]);
      invocation = unitProperty(unit, 'InvocationID');
      main = await mainProcess(unit);
    } finally {
      guest(['umount', process.execPath]);
    }
    expect(machine.exec(['cat', called]).stdout).toBe('');
    expect(main.session).not.toBe(AUDIT_UNSET);
    expect(readFileSync(`/proc/${main.pid}/loginuid`, 'utf8')).toBe('65534');
    await serve.drained();
    expect(show(invocation)).toMatchObject({ name: unit, state: 'running', session: main.session });
    const create = (await records(invocation, 'create')).find((l) => l.includes('op=create '))!;
    expect(field(create, 'vm-ses')).toBe(String(main.session));
    await waitForAudit(['--session', String(main.session)], (lines) => lines.some((l) => l.includes('a0="/bin/true"')));
    guest(['systemctl', 'stop', unit]);
    await serve.drained();
    expect(show(invocation).state).toBe('ended');
  });

  test.each([
    ['confined', 'User=nobody\\nPrivateNetwork=yes\\nExecStart=/bin/sleep 60'],
    ['forking', 'Type=forking\\nExecStart=/bin/sh -c "sleep 60 & echo $$! > /run/contid-forged-forking.pid"\\nPIDFile=/run/contid-forged-forking.pid'],
  ])("a %s unit whose Environment= sets $MAINPID to another process (an administrator's login session) does not get that session: its start fails with one line, nothing binds it", async (kind, lines) => {
    // The victim: a process in a fresh login session of its own, outside every unit contid wraps.
    const admin = `contid-admin-${kind}`;
    guest(['systemd-run', `--unit=${admin}`, '--property=Type=exec', '--collect', 'sh', '-c', 'echo 0 > /proc/self/loginuid && exec sleep 120']);
    const victim = await waitFor(
      () => {
        const pid = Number(unitProperty(`${admin}.service`, 'MainPID'));
        const session = pid ? Number(machine.exec(['cat', `/proc/${pid}/sessionid`]).stdout) : AUDIT_UNSET;
        return session !== AUDIT_UNSET && session > 0 ? { pid, session } : undefined;
      },
      10_000,
      () => `${admin} never got its session`,
    );
    const unit = `contid-forged-${kind}.service`;
    guest(['sh', '-c', `printf '[Service]\\nEnvironment=MAINPID=${victim.pid}\\n${lines}\\n' > /etc/systemd/system/${unit}`]);
    install(unit);
    guest(['systemctl', 'daemon-reload']);
    try {
      expect(machine.exec(['systemctl', 'start', unit]).status).not.toBe(0);
      const said = guest(['journalctl', '-u', unit, '--no-pager', '-o', 'cat']).split('\n').filter((l) => l.startsWith('contid:'));
      expect(said).toEqual([`contid: $MAINPID ${victim.pid} is not a process of ${unit} (cgroup /system.slice/${admin}.service, not in /system.slice/${unit}); not binding its session`]);
      await serve.drained();
      // No container has the victim's session among its bindings (the forking unit's own, from its ExecStart= line, has only that line's).
      const containers = guest([...GUEST_CONTID, 'ps', '--all', '--json']).split('\n').filter(Boolean).map((l) => JSON.parse(l) as Shown);
      const sessions = containers.flatMap((c) => (JSON.parse(guest([...GUEST_CONTID, 'show', c.contid, '--json'])) as { bindings: { session: number }[] }).bindings.map((b) => b.session));
      expect(sessions).not.toContain(victim.session);
      expect(containers.filter((c) => c.name === unit).length).toBe(kind === 'forking' ? 1 : 0);
    } finally {
      machine.exec(['systemctl', 'stop', unit, `${admin}.service`]);
      await serve.drained();
    }
  });

  test('binds $MAINPID of a PAMName= unit (its own session from pam_loginuid)', async () => {
    const unit = 'contid-pam.service';
    const c = GUEST_CONTID.join(' ');
    guest(['sh', '-c', 'printf "auth required pam_permit.so\\naccount required pam_permit.so\\nsession required pam_loginuid.so\\n" > /etc/pam.d/contid-unit']);
    const text = `[Service]\nPAMName=contid-unit\nUser=root\nExecStart=/bin/sh -c "while true; do /bin/true; sleep 0.3; done"\nExecStartPost=+${c} systemd bind --unit %%n\nExecStopPost=+${c} systemd end --unit %%n\n`;
    guest(['sh', '-c', `printf '${text.replace(/\n/g, '\\n')}' > /etc/systemd/system/${unit}`]);
    guest(['systemctl', 'daemon-reload']);
    guest(['systemctl', 'start', unit]);
    const invocation = unitProperty(unit, 'InvocationID');
    const main = await mainProcess(unit);
    expect(main.session).not.toBe(AUDIT_UNSET);
    expect(show(invocation)).toMatchObject({ name: unit, state: 'running', session: main.session });
    const create = (await records(invocation, 'create')).find((l) => l.includes('op=create '))!;
    expect(field(create, 'vm-ses')).toBe(String(main.session));
    guest(['systemctl', 'stop', unit]);
    expect(show(invocation).state).toBe('ended');
  });

  test('without a session of its own, bind fails the start with one line in the journal', () => {
    const unit = 'contid-nopam.service';
    const text = `[Service]\nExecStart=/bin/sleep 30\nExecStartPost=+${GUEST_CONTID.join(' ')} systemd bind --unit %%n\n`;
    guest(['sh', '-c', `printf '${text.replace(/\n/g, '\\n')}' > /etc/systemd/system/${unit}`]);
    guest(['systemctl', 'daemon-reload']);
    expect(machine.exec(['systemctl', 'start', unit]).status).not.toBe(0);
    const lines = guest(['journalctl', '-u', unit, '--no-pager', '-o', 'cat']).split('\n').filter((l) => l.startsWith('contid:'));
    expect(lines).toEqual([expect.stringMatching(/^contid: pid \d+ has no audit session of its own/)]);
  });
  test('contid-systemd bind, with Node unreachable: a main process that never gets a session of its own fails the start after one wait, with one line, and nothing is spooled', () => {
    const unit = 'contid-norenew.service';
    // The sh bind as the generator writes it, but the main process is not started through contid-systemd exec --renew-only.
    const text = `[Service]\nExecStart=/bin/sleep 60\nExecStartPost=+${GUEST_WRAPPER.join(' ')} bind --unit %%n\n`;
    guest(['sh', '-c', `printf '${text.replace(/\n/g, '\\n')}' > /etc/systemd/system/${unit}`]);
    guest(['systemctl', 'daemon-reload']);
    const called = '/run/contid-norenew-node-called';
    guest(['sh', '-c', `printf '#!/bin/sh\\necho "$*" >> ${called}\\nexit 1\\n' > /run/no-node-norenew && chmod 755 /run/no-node-norenew && mount --bind /run/no-node-norenew ${process.execPath}`]);
    const spool = join(state.env.CONTID_STATE_DIR!, 'spool');
    const entries = () => (existsSync(spool) ? readdirSync(spool).filter((n) => n.endsWith('.entry')) : []);
    const before = entries();
    let started: ReturnType<Machine['exec']>;
    try {
      started = machine.exec(['systemctl', 'start', unit]);
    } finally {
      guest(['umount', process.execPath]);
    }
    expect(started.status).not.toBe(0);
    // The sh refused by itself: no Node command was started for a second wait.
    expect(machine.exec(['cat', called]).stdout).toBe('');
    const lines = guest(['journalctl', '-u', unit, '--no-pager', '-o', 'cat']).split('\n').filter((l) => l.startsWith('contid:'));
    expect(lines).toEqual([expect.stringMatching(/^contid: pid \d+ has no audit session of its own \(it shares the unset session\); start it through a contid wrapper$/)]);
    expect(entries().filter((n) => !before.includes(n))).toEqual([]);
    machine.exec(['systemctl', 'stop', unit]);
  });
});

describe('the hot path without Node: the sh wrapper spools, contid serve in the guest binds', () => {
  /** Whether a VIRT_CONTROL line's signature verifies with the guest registry's own key. */
  const signedByGuest = (line: string): boolean => {
    const m = / msg='(.*)'/.exec(line);
    const split = m ? splitSignedBody(m[1]) : 'unsigned';
    const signer = readSigner(state.env.CONTID_STATE_DIR!);
    if (typeof split === 'string' || !signer) return false;
    const key = createPublicKey({ key: Buffer.from(signer.publicEntry.publicKey, 'base64'), format: 'der', type: 'spki' });
    return split.fields.get('contid-key') === signer.keyId && verifySignature(key, split.payload, split.signature);
  };

  test('with node unreachable in the guest, every Exec line runs in its own session and serve binds them all: one create, a setns per later line, the end, each record signed', async () => {
    const unit = 'contid-nonode.service';
    const log = '/run/contid-nonode.sessions';
    const line = (tag: string) => `/bin/sh -c "echo ${tag} $$(cat /proc/self/sessionid) >> ${log}"`;
    guest(['sh', '-c', `printf '${['[Service]', 'Type=oneshot', 'RemainAfterExit=yes', ...['pre', 'main', 'post', 'stop', 'stoppost'].map((t, i) => `${['ExecStartPre', 'ExecStart', 'ExecStartPost', 'ExecStop', 'ExecStopPost'][i]}=${line(t)}`), ''].join('\\n')}' > /etc/systemd/system/${unit}`]);
    install(unit);
    guest(['systemctl', 'daemon-reload']);
    // Node made unreachable for everything systemd starts from here on: any Node on the path of a
    // start or a stop runs this stand-in instead, which notes the call and fails the line.
    const called = '/run/contid-node-called';
    guest(['sh', '-c', `printf '#!/bin/sh\\necho "$*" >> ${called}\\nexit 1\\n' > /run/no-node && chmod 755 /run/no-node && mount --bind /run/no-node ${process.execPath}`]);
    let invocation: string;
    try {
      guest(['systemctl', 'start', unit]);
      invocation = unitProperty(unit, 'InvocationID');
      guest(['systemctl', 'stop', unit]);
    } finally {
      guest(['umount', process.execPath]);
    }
    expect(machine.exec(['cat', called]).stdout).toBe('');
    const ran = guest(['cat', log]).split('\n').map((l) => l.split(' '));
    expect(ran.map(([tag]) => tag)).toEqual(['pre', 'main', 'post', 'stop', 'stoppost']);
    const sessions = ran.map(([, ses]) => Number(ses));
    expect(sessions).not.toContain(AUDIT_UNSET);
    expect(new Set(sessions).size).toBe(sessions.length);

    await serve.drained();
    // The end is serve's from PID 1 (no line of contid's runs at the stop), a moment after the entries.
    await waitFor(() => (show(invocation).state === 'ended' ? true : undefined), 30_000, () => `${invocation}: ${show(invocation).state}`);
    const c = JSON.parse(guest([...GUEST_CONTID, 'show', invocation, '--json'])) as Shown & { bindings: { op: string; session: number }[] };
    expect(c).toMatchObject({ orchestrator: 'systemd', name: unit, runtimeId: invocation, state: 'ended', session: sessions[0] });
    expect(c.bindings.map((b) => [b.op, b.session])).toEqual(sessions.map((s, i) => [i === 0 ? 'create' : 'setns', s]));
    const virt = await waitForAudit(['-m', 'VIRT_CONTROL', '--uuid', invocation], (l) => l.some((x) => x.includes('op=end ')));
    const ops = virt.map((x) => [field(x, 'op'), Number(field(x, 'vm-ses'))]);
    expect(ops).toEqual([...sessions.map((s, i) => [i === 0 ? 'create' : 'setns', s]), ['end', sessions[0]]]);
    expect(virt.filter((x) => !signedByGuest(x))).toEqual([]);
    expect(virt.every((x) => field(x, 'contid') === c.contid)).toBe(true);
    expect(decodeValue(field(virt[virt.length - 1], 'reason')!)).toMatch(/^service-result:success/);
  });
});

describe('an invocation id the unit sets itself', () => {
  test("a unit whose Environment= names another unit's running invocation does not join its container, and is recorded untagged under its own (outside attack 17, F5)", async () => {
    const victim = 'contid-victim.service';
    const impostor = 'contid-impostor.service';
    const seen = '/run/contid-impostor.invocation';
    guest(['sh', '-c', `printf '[Service]\\nExecStart=/bin/sleep 64\\n' > /etc/systemd/system/${victim}`]);
    install(victim);
    guest(['systemctl', 'daemon-reload']);
    guest(['systemctl', 'start', victim]);
    const invocation = unitProperty(victim, 'InvocationID');
    await serve.drained();
    const before = show(invocation);
    guest(['sh', '-c', `printf '[Service]\\nEnvironment=INVOCATION_ID=${invocation}\\nExecStart=/bin/sh -c "echo $$INVOCATION_ID > ${seen}; exec sleep 64"\\n' > /etc/systemd/system/${impostor}`]);
    install(impostor);
    guest(['systemctl', 'daemon-reload']);
    guest(['systemctl', 'start', impostor]);
    // systemd did hand the unit's own value to its line: the forgery is real.
    await waitFor(() => machine.exec(['test', '-s', seen]).status === 0 || undefined, 10_000, () => `${impostor} never ran`);
    expect(guest(['cat', seen])).toBe(invocation);
    await serve.drained();
    const after = JSON.parse(guest([...GUEST_CONTID, 'show', invocation, '--json'])) as Shown & { bindings: unknown[] };
    expect(after).toMatchObject({ name: victim, state: 'running', contid: before.contid });
    expect(after.bindings).toHaveLength(1);
    // Not left unattributed either: recorded untagged under the invocation PID 1 runs for it.
    const own = unitProperty(impostor, 'InvocationID');
    expect(JSON.parse(guest([...GUEST_CONTID, 'show', own, '--json']))).toMatchObject({ name: impostor, state: 'untagged', runtimeId: own });
    guest(['systemctl', 'stop', impostor, victim]);
    await serve.drained();
  });
});

/** A wrapped oneshot whose two lines (ExecStartPre=, ExecStart=) note "INVOCATION TAG SESSION" in `log`. */
function wrapTwoLineOneshot(unit: string, log: string): void {
  const line = (tag: string) => `/bin/sh -c "echo $$INVOCATION_ID ${tag} $$(cat /proc/self/sessionid) >> ${log}"`;
  guest(['sh', '-c', `printf '${['[Service]', 'Type=oneshot', `ExecStartPre=${line('pre')}`, `ExecStart=${line('main')}`, ''].join('\\n')}' > /etc/systemd/system/${unit}`]);
  install(unit);
  guest(['systemctl', 'daemon-reload']);
}

/**
 * Every invocation noted in `log` is bound exactly once: its two lines as create and setns, one
 * end — with systemd's reason, or, for an invocation that ended while serve was down, as
 * superseded by the next one (its end was not seen; its successor's start proves it); the last
 * one's as PID 1 answers when serve connects. Returns the invocations' contids in the order the
 * units started.
 */
async function expectEachBoundOnce(unit: string, log: string, starts: number): Promise<bigint[]> {
  await serve.drained();
  const ran = guest(['cat', log]).split('\n').map((l) => l.split(' '));
  const invocations = [...new Set(ran.map(([inv]) => inv))];
  expect(invocations).toHaveLength(starts);
  // One search for all of them (the unit's earlier runs on this host have other invocations).
  const ended = (lines: string[]) => invocations.every((inv) => lines.some((x) => field(x, 'uuid') === inv && x.includes('op=end ')));
  const virt = await waitForAudit(['-m', 'VIRT_CONTROL', '--vm-name', unit], ended, 30_000);
  const contids: bigint[] = [];
  for (const inv of invocations) {
    const sessions = ran.filter(([i]) => i === inv).map(([, , ses]) => Number(ses));
    const c = JSON.parse(guest([...GUEST_CONTID, 'show', inv, '--json'])) as Shown & { bindings: { op: string; session: number }[] };
    expect(c).toMatchObject({ name: unit, runtimeId: inv, state: 'ended', session: sessions[0] });
    expect(c.bindings.map((b) => [b.op, b.session])).toEqual([['create', sessions[0]], ['setns', sessions[1]]]);
    const mine = virt.filter((x) => field(x, 'uuid') === inv);
    expect(mine.map((x) => field(x, 'op'))).toEqual(['create', 'setns', 'end']);
    expect(mine.map((x) => field(x, 'contid'))).toEqual([c.contid, c.contid, c.contid]);
    const next = invocations[invocations.indexOf(inv) + 1];
    const reason = decodeValue(field(mine[2], 'reason')!);
    if (next && reason.startsWith('superseded')) expect(reason).toBe(`superseded by invocation ${next}`);
    // The last one, ended while serve was down: systemd's reason if PID 1 still has the unit
    // loaded when serve asks, else (an inactive unit nothing refers to is unloaded) found stopped.
    else if (!next && reason === 'found stopped by contid serve') expect(reason).toBe('found stopped by contid serve');
    else expect(reason).toMatch(/^service-result:success,exit-code:exited,exit-status:0$/);
    contids.push(BigInt(c.contid));
  }
  return contids;
}

describe('contid serve down or killed while units start', () => {
  test('down during 20 starts: the entries wait in the spool and are bound in order when serve starts (contids in the order of the starts): each invocation one create and one setns, ended with its reason, nothing lost or doubled', async () => {
    const unit = 'contid-later.service';
    const log = '/run/contid-later.sessions';
    wrapTwoLineOneshot(unit, log);
    serve.stop();
    const spool = join(state.env.CONTID_STATE_DIR!, 'spool');
    try {
      for (let i = 0; i < 20; i++) guest(['systemctl', 'start', unit]);
      // 20 starts, each: two lines, waiting for serve (no line of contid's at the end).
      const waiting = () => readdirSync(spool).filter((n) => n.endsWith('.entry'));
      await waitFor(() => waiting().length >= 40 || undefined, 30_000, () => `spool: ${waiting().join(' ')}`);
      expect(waiting()).toHaveLength(40);
    } finally {
      serve = await startGuestServe(machine, GUEST_CONTID.slice(0, 2), GUEST_STATE, state.env.CONTID_STATE_DIR!);
    }
    const contids = await expectEachBoundOnce(unit, log, 20);
    expect([...contids].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))).toEqual(contids);
  }, 300_000);

  test("down while a confined and a forking unit start and stop: each main process has exited when serve reads its bind entry, and is bound as contid-systemd bind saw it (the confined one's session, the daemon as init), not quarantined", async () => {
    const units = {
      confined: ['contid-gone-confined.service', 'User=nobody\\nPrivateNetwork=yes\\nExecStart=/bin/sh -c "while true; do sleep 0.3; done"'],
      forking: ['contid-gone-forking.service', 'Type=forking\\nExecStart=/bin/sh -c "sleep 600 & echo $$! > /run/contid-gone-forking.pid"\\nPIDFile=/run/contid-gone-forking.pid'],
    } as const;
    for (const [unit, lines] of Object.values(units)) {
      guest(['sh', '-c', `printf '[Service]\\n${lines}\\n' > /etc/systemd/system/${unit}`]);
      install(unit);
    }
    guest(['systemctl', 'daemon-reload']);
    const seen: Record<string, { invocation: string; pid: number; session: number }> = {};
    serve.stop();
    try {
      for (const [kind, [unit]] of Object.entries(units)) {
        guest(['systemctl', 'start', unit]);
        const invocation = unitProperty(unit, 'InvocationID');
        const pid = Number(unitProperty(unit, 'MainPID'));
        const main = kind === 'confined' ? await mainProcess(unit) : { pid: machine.hostPid(pid), session: Number(readFileSync(`/proc/${machine.hostPid(pid)}/sessionid`, 'utf8')) };
        seen[kind] = { invocation, pid, session: main.session };
        guest(['systemctl', 'stop', unit]);
        expect(existsSync(`/proc/${main.pid}`)).toBe(false);
      }
    } finally {
      serve = await startGuestServe(machine, GUEST_CONTID.slice(0, 2), GUEST_STATE, state.env.CONTID_STATE_DIR!);
    }
    // drained() fails on any quarantined entry, with serve's reason.
    await serve.drained();
    expect(show(seen.confined.invocation)).toMatchObject({ name: units.confined[0], state: 'ended', session: seen.confined.session });
    const create = (await records(seen.confined.invocation, 'create')).find((l) => l.includes('op=create '))!;
    expect(field(create, 'vm-ses')).toBe(String(seen.confined.session));
    expect(field(create, 'vm-pid')).toBe(String(seen.confined.pid));
    expect(show(seen.forking.invocation)).toMatchObject({ name: units.forking[0], state: 'ended' });
    const update = (await records(seen.forking.invocation, 'update')).find((l) => l.includes('op=update '))!;
    expect(field(update, 'vm-pid')).toBe(String(seen.forking.pid));
    expect(field(update, 'vm-ses')).toBe(String(seen.forking.session));
  }, 300_000);

  test('kill -9 of serve amid 50 starts of a two-line oneshot, then serve again: every invocation bound once (one create, one setns, one end), none lost, none doubled', async () => {
    const unit = 'contid-crashy.service';
    const log = '/run/contid-crashy.sessions';
    wrapTwoLineOneshot(unit, log);
    try {
      for (let i = 0; i < 50; i++) {
        guest(['systemctl', 'start', unit]);
        if (i === 9) serve.kill(); // while it drains the first starts' entries
      }
    } finally {
      serve = await startGuestServe(machine, GUEST_CONTID.slice(0, 2), GUEST_STATE, state.env.CONTID_STATE_DIR!);
    }
    expect(new Set(await expectEachBoundOnce(unit, log, 50)).size).toBe(50);
  }, 300_000);
});

describe('misuse outside a unit', () => {
  test('no $INVOCATION_ID: one line, exit 2, for exec --systemd, bind and end', () => {
    const env = { ...state.env, INVOCATION_ID: '', MAINPID: '' };
    for (const args of [['exec', '--systemd', '--', 'true'], ['systemd', 'bind'], ['systemd', 'end']]) {
      const r = contid(args, { env });
      expect(r.status).toBe(2);
      expect(r.stderr).toBe('contid: $INVOCATION_ID is not set: run this from a systemd unit (ExecStart=, ExecStartPost=, ExecStopPost=)\n');
    }
  });

  test('contid-systemd hands what it cannot vouch for to the Node command, whose refusals stay (one line, exit 2), and spools nothing', () => {
    const wrapper = (args: string[], env: NodeJS.ProcessEnv) =>
      spawnSync(`${REPO_ROOT}/integrations/bin/contid-systemd`, ['--cli', process.execPath, CONTID_MAIN, ...args], { env: { ...state.env, ...env }, encoding: 'utf8' });
    const notSet = 'contid: $INVOCATION_ID is not set: run this from a systemd unit (ExecStart=, ExecStartPost=, ExecStopPost=)\n';
    for (const args of [['exec', '--unit', 'x.service', '--', 'true'], ['bind', '--unit', 'x.service'], ['end', '--unit', 'x.service']]) {
      expect(wrapper(args, { INVOCATION_ID: '', MAINPID: '' })).toMatchObject({ status: 2, stderr: notSet });
    }
    const invocation = 'a'.repeat(32);
    expect(wrapper(['exec', '--unit', 'x.service', '--', 'true'], { INVOCATION_ID: 'A'.repeat(32) })).toMatchObject({ status: 2, stderr: `contid: $INVOCATION_ID is not a systemd invocation id: "${'A'.repeat(32)}"\n` });
    expect(wrapper(['exec', '--unit', 'x y', '--', 'true'], { INVOCATION_ID: invocation })).toMatchObject({ status: 2, stderr: 'contid: "x y" is not a systemd unit name\n' });
    expect(wrapper(['bind', '--unit', 'x.service'], { INVOCATION_ID: invocation, MAINPID: '' }).stderr).toMatch(/^contid: \$MAINPID is not set[^\n]*\n$/);
    expect(wrapper(['bind', '--unit', 'x.service'], { INVOCATION_ID: invocation, MAINPID: '1x' }).stderr).toBe('contid: $MAINPID is not a pid: "1x"\n');
    expect(wrapper(['exec', '--unit', 'x.service', '--', 'no-such-command-here'], { INVOCATION_ID: invocation })).toMatchObject({ status: 127, stderr: 'contid-systemd: no-such-command-here: command not found\n' });
    expect(existsSync(join(state.env.CONTID_STATE_DIR!, 'spool')) ? readdirSync(join(state.env.CONTID_STATE_DIR!, 'spool')).filter((n) => n.endsWith('.entry')) : []).toEqual([]);
  });

  test('bind without $MAINPID and install of a unit that does not exist fail with one line', () => {
    const bind = contid(['systemd', 'bind', '--unit', 'x.service'], { env: { ...state.env, INVOCATION_ID: 'a'.repeat(32) } });
    expect(bind.status).toBe(2);
    expect(bind.stderr).toMatch(/^contid: \$MAINPID is not set[^\n]*\n$/);
    const install = contid(['install', 'systemd', 'no-such-unit-here'], { env: state.env });
    expect(install.status).toBe(1);
    expect(install.stderr).toMatch(/^contid: no unit file for no-such-unit-here\.service[^\n]*\n$/);
  });
});
