import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ContainerRecord, Registry, formatContainerId } from '@contid/core';
import { addExecveRule, deleteExecveRule, field, serial, waitForAudit } from '../helpers/audit';
import { REPO_ROOT, RunResult, contid, run, tempStateDir, uniqueName } from '../helpers/cli';
import { Serve, startServe } from '../helpers/serve';
import { waitFor } from '../helpers/wait';
import { ContainerdNode, NODE_IMAGE } from '../kubernetes/containerd-node';

// The real containerd (Debian 1.6) driven by its own client: `ctr run --runc-binary` = the
// contid-runc shim in front of runc, `contid serve` draining the spool. No CRI, no event stream.
const SHIM = join(REPO_ROOT, 'integrations/docker/contid-runc');
const state = tempStateDir('ctr');
const stateDir = join(state.dir, 'state');
const env = { ...process.env, CONTID_STATE_DIR: stateDir, CONTID_RUNC_CONF: '/nonexistent' };
const node = new ContainerdNode({ label: 'ctr-fastpath', binaryName: '/usr/sbin/runc', env });
const ctr = (args: string[]): RunResult => run('ctr', ['-a', node.socket, '-n', 'k8s.io', ...args], { timeout: 120_000 });

let serve: Serve;
const registry = <T>(f: (r: Registry) => T): T => {
  const r = Registry.open(stateDir, { readonly: true });
  try {
    return f(r);
  } finally {
    r.close();
  }
};
const sessionOf = (pid: number) => Number(readFileSync(`/proc/${pid}/sessionid`, 'utf8'));

beforeAll(async () => {
  await node.start();
  serve = startServe(env, state.dir);
  await serve.ready();
}, 180_000);

afterAll(async () => {
  node.stop();
  await serve.stop();
  state.cleanup();
}, 120_000);

describe('ctr run --runc-binary contid-runc (real containerd, real kernel audit)', () => {
  const id = uniqueName('ctr-run');
  let c: ContainerRecord;
  let init: number;

  test('run: bound to the fresh session the init carries, with the binding record', async () => {
    const r = ctr(['run', '-d', '--runc-binary', SHIM, NODE_IMAGE, id, '/bin/sleep', '600']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    c = await waitFor('the create binding', () => registry((reg) => reg.findByRuntimeId(id)), 30_000);
    init = Number(/\s(\d+)\s+RUNNING/.exec(ctr(['task', 'ls']).stdout.split('\n').find((l) => l.startsWith(id)) ?? '')?.[1]);
    expect(c).toMatchObject({ orchestrator: 'oci', runtimeId: id, state: 'running', initPid: init });
    expect(c.session).toBe(sessionOf(init));
    const created = await waitForAudit(['-m', 'VIRT_CONTROL', '--uuid', id, '-ts', 'recent'], (l) => l.some((x) => x.includes('op=create')));
    const rec = created.find((x) => x.includes('op=create'))!;
    expect(field(rec, 'vm-ses')).toBe(String(c.session));
    expect(field(rec, 'contid')).toBe(formatContainerId(c.contid));
  });

  test('task exec: a setns binding of its own session; contid search --container equals ausearch --session', async () => {
    const key = uniqueName('ctr-exec').slice(0, 30);
    addExecveRule(key);
    const startedAt = Math.floor(Date.now() / 1000) - 1;
    try {
      const r = ctr(['task', 'exec', '--exec-id', 'probe', id, '/bin/sh', '-c', `cat /proc/self/sessionid; /bin/busybox true marker-${id}`]);
      expect(r.status).toBe(0);
      const session = Number(r.stdout.trim());
      expect(session).not.toBe(c.session);
      const b = await waitFor('the setns binding', () => registry((reg) => reg.bindings(c.contid).find((x) => x.op === 'setns')), 30_000);
      expect(b.session).toBe(session);
      const marker = Buffer.from(`marker-${id}`).toString('hex').toUpperCase();
      const oracle = await waitForAudit(['--session', String(session), '-ts', 'recent'], (l) => l.some((x) => x.startsWith('type=PROCTITLE') && x.includes(marker)), 30_000);
      // execve events since the window opened (contid search --start), by serial.
      const execs = (lines: string[]) =>
        new Set(lines.filter((l) => l.startsWith('type=SYSCALL') && l.includes(' syscall=59 ') && Number(/audit\(([0-9]+)/.exec(l)?.[1]) >= startedAt).map(serial));
      expect(execs(oracle).size).toBeGreaterThanOrEqual(2);
      // The oracle covers every session of the container: the init's and the exec's.
      const ofInit = await waitForAudit(['--session', String(c.session), '-ts', 'recent'], () => true);
      const search = contid(['search', '--container', id, '--start', `@${startedAt}`], { env });
      expect(search.status).toBe(0);
      expect(search.stdout).toContain(marker);
      expect(execs(search.stdout.split('\n'))).toEqual(new Set([...execs(oracle), ...execs(ofInit)]));
    } finally {
      deleteExecveRule(key);
    }
  });

  test('task kill + delete: the shim’s own delete ends the contid once', async () => {
    ctr(['task', 'kill', '-s', 'SIGKILL', id]);
    await waitFor('the task to stop', () => !/RUNNING/.test(ctr(['task', 'ls']).stdout.split('\n').find((l) => l.startsWith(id)) ?? ''), 30_000);
    expect(ctr(['task', 'delete', id]).status).toBe(0);
    expect(ctr(['container', 'delete', id]).status).toBe(0);
    await waitFor('the end', () => registry((reg) => reg.findByRuntimeId(id))?.state === 'ended', 30_000);
    const ends = await waitForAudit(['-m', 'VIRT_CONTROL', '--uuid', id, '-ts', 'recent'], (l) => l.some((x) => x.includes('op=end')));
    expect(ends.filter((x) => x.includes('op=end'))).toHaveLength(1);
    expect(serve.log()).not.toMatch(/quarantined/);
  });
});
