import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Registry } from '@contid/core';
import { Spool } from '@contid/oci';
import { ausearch, field, waitForAudit } from '../helpers/audit';
import { CONTID_MAIN, REPO_ROOT, contid, tempStateDir, uniqueName } from '../helpers/cli';
import { waitFor } from '../helpers/wait';

// contid-spawn, the tagging step without Node, and `contid serve` draining its spool — on the
// real kernel (session renewal), the real audit daemon and the real registry.
const SPAWN = join(REPO_ROOT, 'integrations/bin/contid-spawn');
const state = tempStateDir('spawn');
const stateDir = join(state.dir, 'state');
const spoolDir = join(stateDir, 'spool');
const env = { ...process.env, CONTID_STATE_DIR: stateDir, CONTID_FAIL_POLICY: 'closed' };

interface Ran {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** contid-spawn ARGS from a shell of uid 1000's login (its own audit session), as an orchestrator would run it. */
function spawnAs1000(args: string[]): Ran {
  const r = spawnSync('sh', ['-c', 'echo 1000 >/proc/self/loginuid && exec "$@"', 'sh', SPAWN, ...args], { env, encoding: 'utf8', timeout: 30_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const waiting = () => new Spool(spoolDir).pendingNames();

let serve: ChildProcess | null = null;
let serveLog = '';
function startServe(): ChildProcess {
  serveLog = '';
  const child = spawn(process.execPath, [CONTID_MAIN, 'serve', '--socket', join(state.dir, `serve-${Date.now()}.sock`)], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  child.stderr!.on('data', (d: Buffer) => (serveLog += d.toString()));
  serve = child;
  return child;
}
async function stopServe(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  const child = serve;
  serve = null;
  if (!child || child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill(signal);
  await exited;
}

afterAll(async () => {
  await stopServe();
  state.cleanup();
});

describe('contid-spawn: usage', () => {
  test.each([
    [[], 'no command after --'],
    [['--name', 'x', '--', 'true'], '--orchestrator and --name are needed (or --setns)'],
    [['--orchestrator', 'o', '--', 'true'], '--orchestrator and --name are needed (or --setns)'],
    [['--orchestrator', 'o', '--name', 'a\nb', '--', 'true'], 'control characters are not allowed in names'],
    [['--orchestrator', 'O!', '--name', 'a', '--', 'true'], '--orchestrator takes [a-z0-9_.-] only'],
    [['--setns', 'a', '--name', 'b', '--', 'true'], '--name and --setns exclude each other'],
    [['--bogus'], 'unknown argument "--bogus"'],
    [['--name'], '--name needs a value'],
  ])('%j: one line, exit 2, nothing spooled, nothing run', (args, message) => {
    const r = spawnAs1000(args as string[]);
    expect(r.status).toBe(2);
    expect(r.stderr).toBe(`contid-spawn: ${message} (usage: contid-spawn --orchestrator O --name N [--runtime-id ID] | --setns CONTID_OR_NAME -- CMD [ARG…])\n`);
    expect(waiting()).toEqual([]);
  });

  test('a command that cannot run: 127, nothing spooled', () => {
    const r = spawnAs1000(['--orchestrator', 'o', '--name', 'n', '--', '/nonexistent/cmd']);
    expect(r).toEqual({ status: 127, stdout: '', stderr: 'contid-spawn: /nonexistent/cmd: command not found\n' });
    expect(waiting()).toEqual([]);
  });
});

describe('contid-spawn and contid serve', () => {
  test('the command runs in a new session with the caller’s login uid kept; the entry waits while serve is down (doctor counts it), then is bound', async () => {
    const name = uniqueName('sp-one');
    const r = spawnAs1000(['--orchestrator', 'spawntest', '--name', name, '--', 'sh', '-c', 'cat /proc/self/loginuid; echo; cat /proc/self/sessionid; echo; echo $$']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const [auid, session, pid] = r.stdout.trim().split('\n').map(Number);
    expect(auid).toBe(1000);
    const [entry] = waiting();
    expect(entry).toBe(`${session}-create-${pid}.entry`);
    expect(contid(['doctor'], { env }).stdout).toMatch(/spool: 1 hand-off\(s\) being drained in /);
    startServe();
    await waitFor('serve to bind the entry', () => waiting().length === 0 && existsSync(join(stateDir, 'registry.db')), 30_000);
    const reg = Registry.open(stateDir, { readonly: true });
    try {
      const c = reg.find(name)!;
      expect(c).toMatchObject({ orchestrator: 'spawntest', name, session, initPid: pid, state: 'running' });
    } finally {
      reg.close();
    }
    const lines = await waitForAudit(['-m', 'VIRT_CONTROL', '--vm-name', name], (ls) => ls.length > 0);
    expect(lines.map((l) => field(l, 'op'))).toEqual(['create']);
    // The kernel's own record of the renewal: the caller's session became the container's.
    const login = ausearch(['-m', 'LOGIN', '--session', String(session)]);
    expect(login.some((l) => field(l, 'ses') === String(session) && field(l, 'auid') === '1000')).toBe(true);
  });

  test('--setns NAME: the command enters the running container (same contid, a setns binding)', async () => {
    const name = uniqueName('sp-setns');
    expect(spawnAs1000(['--orchestrator', 'spawntest', '--name', name, '--', 'true']).status).toBe(0);
    const r = spawnAs1000(['--setns', name, '--', 'sh', '-c', 'cat /proc/self/sessionid']);
    expect(r.status).toBe(0);
    await waitFor('serve to bind both', () => waiting().length === 0, 30_000);
    const reg = Registry.open(stateDir, { readonly: true });
    try {
      const c = reg.find(name)!;
      expect(reg.bindings(c.contid).map((b) => [b.op, b.session])).toEqual([
        ['create', c.session],
        ['setns', Number(r.stdout)],
      ]);
    } finally {
      reg.close();
    }
  });

  test('serve down during 20 starts, then started: all 20 bound, IDs in the order of the starts', async () => {
    await stopServe();
    const names = Array.from({ length: 20 }, (_, i) => uniqueName(`sp-down${i}`));
    const sessions: number[] = [];
    for (const name of names) {
      const r = spawnAs1000(['--orchestrator', 'spawntest', '--name', name, '--', 'cat', '/proc/self/sessionid']);
      expect(r.status).toBe(0);
      sessions.push(Number(r.stdout));
    }
    expect(waiting()).toHaveLength(20);
    expect(contid(['doctor'], { env }).stdout).toMatch(/spool: 20 hand-off\(s\) being drained in /);
    startServe();
    await waitFor('serve to bind the 20', () => waiting().length === 0, 60_000);
    const reg = Registry.open(stateDir, { readonly: true });
    try {
      const rows = names.map((n) => reg.find(n)!);
      expect(rows.map((c) => c.session)).toEqual(sessions);
      const ids = rows.map((c) => c.contid);
      expect([...ids].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))).toEqual(ids);
      expect(new Set(ids).size).toBe(20);
    } finally {
      reg.close();
    }
  });

  test('kill -9 of serve amid 50 concurrent starts, then a restart: 0 lost, 0 doubled', async () => {
    if (!serve) startServe();
    await waitFor('serve to drain', () => /draining/.test(serveLog), 30_000);
    const names = Array.from({ length: 50 }, (_, i) => uniqueName(`sp-kill${i}`));
    const runs = names.map(
      (name) =>
        new Promise<number>((resolve) => {
          const c = spawn('sh', ['-c', 'echo 1000 >/proc/self/loginuid && exec "$@"', 'sh', SPAWN, '--orchestrator', 'spawntest', '--name', name, '--', 'true'], { env, stdio: 'ignore' });
          c.on('exit', (code) => resolve(code ?? -1));
        }),
    );
    await waitFor('some starts to be bound', () => {
      const reg = Registry.open(stateDir, { readonly: true });
      try {
        return names.some((n) => reg.find(n));
      } finally {
        reg.close();
      }
    }, 30_000);
    await stopServe('SIGKILL');
    expect(await Promise.all(runs)).toEqual(names.map(() => 0));
    startServe();
    await waitFor('serve to bind the rest', () => waiting().length === 0, 60_000);
    const reg = Registry.open(stateDir, { readonly: true });
    try {
      const rows = reg.list({ orchestrator: 'spawntest' }).filter((c) => names.includes(c.name));
      expect(rows).toHaveLength(50);
      expect(new Set(rows.map((c) => c.name)).size).toBe(50);
      expect(new Set(rows.map((c) => c.session)).size).toBe(50);
      expect(reg.check()).toEqual([]);
    } finally {
      reg.close();
    }
    expect(readdirSync(join(spoolDir)).filter((f) => f !== 'failed')).toEqual([]);
    expect(existsSync(join(spoolDir, 'failed')) ? readdirSync(join(spoolDir, 'failed')) : []).toEqual([]);
  });
});
