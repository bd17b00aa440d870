import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CONTID_MAIN, REPO_ROOT } from '../helpers/cli';

/**
 * Any local user can start a process named `auditd`. contid once took the first /proc entry
 * named so for auditd (its pid sorting first as a string was enough), and `contid install
 * auditd-plugin` then "restarted" it: SIGTERM, and its command line run again as root (outside
 * attack 5). Only the kernel's registered audit daemon may count, and no command line is ever
 * taken from a process the caller does not trust.
 */
const NOBODY = 65534;
const dir = mkdtempSync(join(tmpdir(), 'contid-fake-auditd-'));
const fake = join(dir, 'auditd');
const pwned = join(dir, 'PWNED-as-root');
const running: ChildProcess[] = [];

beforeAll(() => {
  chmodSync(dir, 0o777);
  // run as root, it proves it; as nobody, it idles like a daemon and ignores SIGHUP
  writeFileSync(fake, `#!/bin/sh\nif [ "$(id -u)" = 0 ]; then id > ${pwned}; exit 0; fi\ntrap '' HUP\ntrap 'exit 0' TERM\nwhile :; do sleep 1; done\n`, { mode: 0o755 });
  chownSync(fake, NOBODY, NOBODY);
});
afterAll(() => {
  for (const p of running) p.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

const kernelAuditdPid = (): number => Number(/^pid (\d+)$/m.exec(spawnSync('auditctl', ['-s'], { encoding: 'utf8' }).stdout)?.[1] ?? 0);

/**
 * Starts nobody's fake with a pid below `limit`, numerically and as a string, so that a /proc scan
 * by name meets it before the real auditd whichever order it sorts in. The kernel hands out
 * ns_last_pid + 1 next; another process forking in between takes it, hence the retries.
 */
function spawnFakeBelow(limit: number): ChildProcess {
  for (let attempt = 0; attempt < 50; attempt++) {
    let target = 2;
    while (target < limit && (existsSync(`/proc/${target}`) || String(target) >= String(limit))) target++;
    if (target >= limit) break;
    writeFileSync('/proc/sys/kernel/ns_last_pid', String(target - 1));
    const p = spawn(fake, [], { uid: NOBODY, gid: NOBODY, stdio: 'ignore' });
    running.push(p);
    if (p.pid !== undefined && p.pid < limit && String(p.pid) < String(limit)) return p;
    p.kill('SIGKILL');
  }
  throw new Error(`no free pid below auditd's ${limit} for the fake`);
}

test('a process named auditd started by another user is not auditd, even listed before the real one: contid picks the kernel’s audit daemon', async () => {
  const real = kernelAuditdPid();
  expect(real).toBeGreaterThan(0);
  const p = spawnFakeBelow(real);
  await new Promise((r) => setTimeout(r, 300));
  expect(readFileSync(`/proc/${p.pid}/comm`, 'utf8').trim()).toBe('auditd');
  const picked = spawnSync(process.execPath, ['-e', `console.log(require(${JSON.stringify(join(REPO_ROOT, 'packages/audit/dist/index.js'))}).auditdPid())`], { encoding: 'utf8' });
  expect(picked.stdout.trim()).toBe(String(real));
});

test('contid install auditd-plugin never signals or runs a user’s process named auditd (it is the only one in sight)', () => {
  // In a pid namespace of its own the fake is the only auditd in /proc, so a /proc scan always
  // picks it; the kernel answers no audit request from there. The install's files go to tmpfs
  // (root's 0755: the plugin's log must be in a directory only root can write, not this test's
  // 0777 one).
  const script = [
    'set -e',
    'for d in /etc/audit/plugins.d /usr/local/libexec /var/log/contid; do mkdir -p $d; mount -t tmpfs -o mode=0755 contid-test $d; done',
    `setpriv --reuid ${NOBODY} --regid ${NOBODY} --clear-groups ${fake} & fake=$!`,
    'sleep 0.3',
    `${process.execPath} ${CONTID_MAIN} install auditd-plugin output=${dir}/live.jsonl log=/var/log/contid/plugin.log; echo "install exit $?"`,
    'if kill -0 $fake 2>/dev/null; then echo "fake alive"; kill -9 $fake; fi',
  ].join('\n');
  const r = spawnSync('unshare', ['-m', '-p', '-f', '--mount-proc', '--propagation', 'private', 'sh', '-c', script], { encoding: 'utf8', timeout: 60_000 });
  expect(existsSync(pwned)).toBe(false);
  expect(r.stdout).toContain('fake alive');
  expect(r.stdout).toContain('install exit 0');
  expect(r.stdout).toMatch(/auditd is not running/);
});

test('contid doctor does not call a user’s process named auditd the audit daemon', () => {
  const script = [
    `setpriv --reuid ${NOBODY} --regid ${NOBODY} --clear-groups ${fake} & fake=$!`,
    'sleep 0.3',
    `${process.execPath} ${CONTID_MAIN} doctor --json || true`,
    'kill -9 $fake',
  ].join('\n');
  const r = spawnSync('unshare', ['-m', '-p', '-f', '--mount-proc', '--propagation', 'private', 'sh', '-c', script], { encoding: 'utf8', timeout: 60_000 });
  const checks = r.stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { check: string; status: string });
  expect(checks.find((c) => c.check === 'auditd')?.status).toBe('fail');
});
