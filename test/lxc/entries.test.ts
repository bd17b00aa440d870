import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatContainerId, Registry } from '@contid/core';
import { ENTRY_RULES_FILE, entryRules, hostEntryTargets } from '@contid/lxc';
import { field, waitForAudit } from '../helpers/audit';
import { contid, run, tempStateDir } from '../helpers/cli';
import { startServe } from '../helpers/serve';
import { createContainer, destroyContainer, lxcInitPid, lxcName, waitForState } from './lxc-host';

/**
 * Entries into LXC containers that bypass contid (a plain lxc-attach, a plain lxc-start), on
 * real LXC, the real kernel audit subsystem and auditd: contid's persistent audit rules record
 * them, and `contid search --container X` names each one with who (auid) and when.
 */
describe('untagged entries into LXC containers (real LXC, real audit rules, real auditd)', () => {
  const state = tempStateDir('lxc-entries');
  const names: string[] = [];
  /** Directories made to take a destroyed rootfs's inode. */
  const reuseDirs: string[] = [];
  // contid lxc start/attach and the hooks spool (contid-lxc, no Node): contid serve records.
  const serve = startServe(state.env, state.dir);

  // the host-wide form: LXC's global snippet, the lxc@.service drop-in and the audit rules
  beforeAll(() => expect(contid(['install', 'lxc'], { env: state.env }).status).toBe(0));
  afterAll(async () => {
    names.forEach(destroyContainer);
    for (const d of reuseDirs) rmSync(d, { recursive: true, force: true });
    // the rules are global: removed with contid's global uninstall (also when a test failed)
    contid(['uninstall', 'lxc'], { env: state.env });
    await serve.stop();
    state.cleanup();
  });

  function make(label: string): string {
    const name = lxcName(label);
    names.push(name);
    createContainer(name);
    const r = contid(['install', 'lxc', name], { env: state.env });
    expect(r.status).toBe(0);
    return name;
  }

  const loadedRules = (): string[] => run('auditctl', ['-l']).stdout.split('\n').filter((l) => / -F key=contid-lxc-(entry|join)$/.test(l));
  /** This host's rule set: lxcpath directory rules, pivot_root by lxc-start (and lxc-autostart), the mount-namespace join rule, execve of the tools. */
  const hostRules = (): string[] => entryRules(hostEntryTargets());
  const doctorRules = (): { status: string; detail: string } | undefined =>
    contid(['doctor', '--json'], { env: state.env })
      .stdout.split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { check: string; status: string; detail: string })
      .find((x) => x.check === 'lxc entry rules');

  /** `sh -c CMD` as a fresh login of auid 1000 (the first loginuid write needs no privilege). */
  const asLogin = (cmd: string) => run('sh', ['-c', `echo 1000 > /proc/self/loginuid && ${cmd}`]);

  /** The "untagged …" lines search printed on stderr. */
  const untaggedLines = (stderr: string): string[] => stderr.split('\n').filter((l) => /^contid: untagged (attach into|start of) /.test(l));

  /** Time of an ISO stamp in a report line, in ms. */
  const stampOf = (line: string): number => Date.parse(/ at (\S+Z)/.exec(line)![1]);

  it('install lxc loads the persistent rules (idempotent), doctor sees them', () => {
    expect(existsSync(ENTRY_RULES_FILE)).toBe(true);
    const once = loadedRules();
    // setns/pivot_root under the lxcpath for two arches, pivot_root by lxc-start wherever the
    // root lies, every mount-namespace join, execve of lxc-start and of lxc-attach
    expect(once).toEqual(hostRules());
    expect(once).toContain('-a always,exit -F arch=b64 -S pivot_root -F exe=/usr/bin/lxc-start -F key=contid-lxc-entry');
    expect(once).toContain('-a always,exit -F arch=b64 -S setns -F a1&0x20000 -F key=contid-lxc-join');
    expect(readFileSync(ENTRY_RULES_FILE, 'utf8').split('\n').filter((l) => l.startsWith('-a '))).toEqual(once);
    const again = contid(['install', 'lxc'], { env: state.env });
    expect(again.status).toBe(0);
    expect(again.stdout).toContain('already loaded');
    expect(loadedRules()).toEqual(once);
    expect(doctorRules()).toMatchObject({ status: 'ok' });
  });

  it('a plain lxc-attach into a tagged container: search --container reports it with its auid and time, matched by the root in the setns record', async () => {
    const name = make('attach');
    expect(contid(['lxc', 'start', name], { env: state.env }).status).toBe(0);
    await waitForState(name, 'RUNNING');
    // an attach through contid is tagged: never reported
    expect(contid(['lxc', 'attach', name, '--', 'true'], { env: state.env }).status).toBe(0);
    await serve.drained();

    const before = Date.now();
    const plain = asLogin(`exec lxc-attach -n ${name} -- true`);
    const after = Date.now();
    expect(plain.status).toBe(0);

    // The oracle: what ausearch finds of setns by auid 1000 whose PATH is this container's root.
    const root = statSync(`/var/lib/lxc/${name}/rootfs`);
    // after `before` only: a destroyed container's rootfs inode is reused by the next one
    const mine = (lines: string[]): string[] =>
      lines
        .filter((l) => l.startsWith('type=PATH') && field(l, 'inode') === String(root.ino))
        .map((l) => /audit\(([0-9.:]+)\)/.exec(l)![1])
        .filter((stamp) => Number(stamp.split(':')[0]) * 1000 >= before - 1000);
    const setns = await waitForAudit(['-sc', 'setns', '-ua', '1000', '-ts', 'recent'], (l) => mine(l).length > 0);
    const events = mine(setns);
    expect(events).toHaveLength(1);
    const syscall = setns.find((l) => l.startsWith('type=SYSCALL') && l.includes(`audit(${events[0]})`))!;

    const r = contid(['search', '--container', name], { env: state.env });
    expect(r.status).toBe(0);
    const lines = untaggedLines(r.stderr);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(new RegExp(`^contid: untagged attach into ${name} by auid 1000 at \\S+Z \\(pid ${field(syscall, 'pid')}, session ${field(syscall, 'ses')}`));
    const at = stampOf(lines[0]);
    expect(at).toBeGreaterThanOrEqual(before - 1000);
    expect(at).toBeLessThanOrEqual(after + 1000);
    expect(run('lxc-stop', ['-n', name, '-k']).status).toBe(0);
  });

  it('a plain lxc-start of a container contid knows: the warning reaches the starter\'s stderr, search reports the untagged start', async () => {
    const name = make('start');
    // contid knows it: one tagged run first
    expect(contid(['lxc', 'start', name], { env: state.env }).status).toBe(0);
    await waitForState(name, 'RUNNING');
    await serve.drained();
    expect(run('lxc-stop', ['-n', name, '-k']).status).toBe(0);
    await serve.drained();

    // From a terminal, as a person runs it (script(1) gives it one): the warning is on it.
    const before = Date.now();
    const plain = run('script', ['-qec', `sh -c 'echo 1000 > /proc/self/loginuid && exec lxc-start -n ${name}'`, '/dev/null']);
    const after = Date.now();
    expect(plain.status).toBe(0);
    const warned = plain.stdout.split(/\r?\n/).filter((l) => l.includes('contid: warning:'));
    expect(warned).toHaveLength(1);
    expect(warned[0]).toMatch(new RegExp(`^contid: warning: LXC container "${name}" was started without contid .*Start it with "contid lxc start ${name}"$`));
    await waitForState(name, 'RUNNING');
    const init = lxcInitPid(name);
    await serve.drained();
    const untagged = Registry.open(state.env.CONTID_STATE_DIR!, { readonly: true });
    const row = untagged.list({ state: 'untagged' }).find((c) => c.runtimeId === name)!;
    untagged.close();
    expect(row.initPid).toBe(init);

    // the oracle: the init's pivot_root into this root, by auid 1000
    const root = statSync(`/var/lib/lxc/${name}/rootfs`);
    const pivots = await waitForAudit(['-sc', 'pivot_root', '-p', String(init), '-ts', 'recent'], (l) => l.some((x) => x.startsWith('type=PATH') && field(x, 'inode') === String(root.ino)));
    const pivot = pivots.find((l) => l.startsWith('type=SYSCALL'))!;
    expect(field(pivot, 'auid')).toBe('1000');

    const r = contid(['search', '--container', name], { env: state.env });
    expect(r.status).toBe(0);
    const lines = untaggedLines(r.stderr);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(new RegExp(`^contid: untagged start of ${name} by auid 1000 at \\S+Z \\(pid ${init}, session ${field(pivot, 'ses')}`));
    expect(lines[0]).toContain(`contid ${formatContainerId(row.contid)}`);
    const at = stampOf(lines[0]);
    expect(at).toBeGreaterThanOrEqual(before - 1000);
    expect(at).toBeLessThanOrEqual(after + 1000);
    expect(run('lxc-stop', ['-n', name, '-k']).status).toBe(0);
  });

  it("a destroyed container's root inode given to the next container's rootfs: search --container NEXT reports none of the earlier container's entries, which are older than that directory", async () => {
    // the earlier container, started and entered the plain way, then destroyed
    const gone = lxcName('gone');
    names.push(gone);
    createContainer(gone);
    expect(asLogin(`exec lxc-start -n ${gone}`).status).toBe(0);
    await waitForState(gone, 'RUNNING');
    const entered = Date.now();
    expect(asLogin(`exec lxc-attach -n ${gone} -- true`).status).toBe(0);
    const ino = statSync(`/var/lib/lxc/${gone}/rootfs`).ino;
    await waitForAudit(['-sc', 'setns', '-ua', '1000', '-ts', 'recent'], (l) => l.some((x) => x.startsWith('type=PATH') && field(x, 'inode') === String(ino)));
    await serve.drained();
    destroyContainer(gone);

    // ext4 gives a new inode the lowest free one of its parent's group: empty files are made
    // until one has the freed inode (every lower free one taken meanwhile: a busy machine has
    // freed hundreds, more than the 200 directories this once made), then it is removed and the
    // directory made next takes it. The next container's rootfs is that directory
    // (lxc.rootfs.path = dir:…).
    const holder = mkdtempSync('/var/lib/lxc/.contid-t-reuse-');
    reuseDirs.push(holder);
    let reused: string | null = statSync(holder).ino === ino ? holder : null;
    for (let i = 0; reused === null && i < 50_000; i++) {
      const f = join(holder, `f${i}`);
      writeFileSync(f, '');
      if (statSync(f).ino !== ino) continue;
      rmSync(f);
      const d = join(holder, 'rootfs');
      mkdirSync(d);
      reused = statSync(d).ino === ino ? d : null;
      break;
    }
    expect(reused).not.toBeNull();
    const next = make('next');
    expect(run('cp', ['-a', `/var/lib/lxc/${next}/rootfs/.`, reused!]).status).toBe(0);
    const config = `/var/lib/lxc/${next}/config`;
    writeFileSync(config, `${readFileSync(config, 'utf8').replace(/^lxc\.rootfs\.path\s*=.*$/m, '')}\nlxc.rootfs.path = dir:${reused}\n`);
    expect(contid(['lxc', 'start', next], { env: state.env }).status).toBe(0);
    await waitForState(next, 'RUNNING');
    expect(statSync(`/proc/${lxcInitPid(next)}/root/`).ino).toBe(ino);
    await serve.drained();

    // asked about NEXT: nothing (its start was through contid, the earlier entries are not its)
    const r = contid(['search', '--container', next], { env: state.env });
    expect(r.status).toBe(0);
    expect(untaggedLines(r.stderr)).toEqual([]);
    // asked about every entry: the earlier attach is there, and is not named NEXT
    const all = contid(['search', '--untagged', '--start', 'recent'], { env: state.env });
    expect(all.status).toBe(0);
    // this test's attach: after `entered`, and either named NEXT (the fault) or by its root's
    // inode (an earlier test's attach into its own container can fall within seconds of it)
    const ours = (l: string): boolean => stampOf(l) >= entered - 1000 && stampOf(l) - entered < 5000 && (l.includes(next) || l.includes(`:${ino})`));
    const earlier = all.stdout.split('\n').filter((l) => l.startsWith('untagged attach into') && l.includes('by auid 1000') && ours(l));
    expect(earlier).toHaveLength(1);
    expect(earlier[0]).not.toContain(next);
    expect(run('lxc-stop', ['-n', next, '-k']).status).toBe(0);
  });

  it("a non-root user's fake lxc-start in the starter's session gets nothing from the hook and cannot abort the start", async () => {
    const name = make('fakestarter');
    // Processes without a login session all share the unset session (4294967295): system
    // services, cron, su, lxc-autostart at boot. nobody plants two processes called lxc-start
    // that name the container there: one whose stderr is a root-owned file it may only read, one
    // whose stderr is a pipe nobody reads. Then root starts the container the plain way.
    const dir = mkdtempSync(join(tmpdir(), 'contid-fakestarter-'));
    chmodSync(dir, 0o755);
    const target = join(dir, 'root-owned.txt');
    writeFileSync(target, 'root-owned, world-readable\n');
    chmodSync(target, 0o644);
    const fake = join(dir, 'lxc-start');
    writeFileSync(fake, '#!/bin/sh\nwhile :; do sleep 1; done\n');
    chmodSync(fake, 0o755);
    const unset = 'echo 4294967295 > /proc/self/loginuid';
    const asNobody = `setpriv --reuid=65534 --regid=65534 --clear-groups`;
    const planted = [
      spawn('sh', ['-c', `${unset} && exec ${asNobody} sh -c 'exec 2<${target}; exec ${fake} -n ${name}'`], { stdio: 'ignore', detached: true }),
      spawn('sh', ['-c', `${unset} && exec ${asNobody} sh -c '${fake} -n ${name} 2>&1 | true'`], { stdio: 'ignore', detached: true }),
    ];
    try {
      await new Promise((r) => setTimeout(r, 500));
      expect(run('pgrep', ['-u', '65534', '-x', 'lxc-start']).stdout.trim().split('\n')).toHaveLength(2);
      const plain = run('sh', ['-c', `${unset} && exec lxc-start -n ${name}`]);
      expect(plain.status).toBe(0);
      await waitForState(name, 'RUNNING');
      expect(readFileSync(target, 'utf8')).toBe('root-owned, world-readable\n');
      await serve.drained();
      expect(run('lxc-stop', ['-n', name, '-k']).status).toBe(0);
    } finally {
      for (const p of planted) if (p.pid) process.kill(-p.pid, 'SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('uninstall lxc removes the rules from the kernel and rules.d; doctor warns', () => {
    // a per-container uninstall leaves the host-wide rules alone
    expect(contid(['uninstall', 'lxc', names[0]], { env: state.env }).status).toBe(0);
    expect(loadedRules()).toEqual(hostRules());
    expect(contid(['uninstall', 'lxc'], { env: state.env }).status).toBe(0);
    expect(loadedRules()).toEqual([]);
    expect(existsSync(ENTRY_RULES_FILE)).toBe(false);
    expect(doctorRules()).toMatchObject({ status: 'warn' });
  });
});
