import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ContainerRecord, Registry } from '@contid/core';
import { Spool } from '@contid/docker';
import { addExecveRule, deleteExecveRule, freezeSince, logMark } from '../helpers/audit';
import { CONTID_MAIN, contid, tempStateDir, uniqueName } from '../helpers/cli';
import { waitFor } from '../helpers/wait';
import { DockerEngine } from './engine';

// `docker run --rm busybox true`, many in a row, from a user's shell: each container is gone
// (pid file and bundle removed) before the agent reaches its spool entry. Each must still be
// bound and ended, and `contid search --container` must equal `ausearch --session`; a create
// that really failed stays quarantined.
const state = tempStateDir('docker-short');
const stateDir = join(state.dir, 'state');
const spoolDir = join(stateDir, 'spool');
const env = { ...process.env, CONTID_STATE_DIR: stateDir };
const engine = new DockerEngine({
  label: 'docker-short',
  env: { CONTID_STATE_DIR: stateDir, CONTID_RUNC_CONF: join(state.dir, 'none.conf'), CONTID_REQUESTERS_DIR: join(state.dir, 'requesters') },
  image: { name: 'local/busybox-short:1', links: { 'bin/true': 'busybox' } },
});
let agent: ChildProcess | null = null;
let agentErr = '';

/** The real `contid docker agent`, as its unit runs it. */
async function startAgent(): Promise<void> {
  agentErr = '';
  const child = spawn(process.execPath, [CONTID_MAIN, 'docker', 'agent', '--host', engine.host], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  child.stderr!.on('data', (d: Buffer) => (agentErr += d.toString()));
  agent = child;
  await waitFor('the agent to watch', () => agentErr.includes('watching') || child.exitCode !== null, 60_000);
  if (child.exitCode !== null) throw new Error(`agent exited: ${agentErr}`);
}

async function stopAgent(): Promise<void> {
  const child = agent;
  agent = null;
  if (!child || child.exitCode !== null) return;
  const gone = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await gone;
}

function rowsNamed(name: string): ContainerRecord[] {
  const reg = Registry.open(stateDir, { readonly: true });
  try {
    return reg.list().filter((c) => c.name === name);
  } finally {
    reg.close();
  }
}

const pendingEntries = () => (existsSync(spoolDir) ? readdirSync(spoolDir).filter((n) => n.endsWith('.entry')) : []);
const keys = (text: string): string[] => [...new Set([...text.matchAll(/audit\(([0-9.]+:\d+)\)/g)].map((m) => m[1]))].sort();

/** `docker run --rm IMAGE ARGS`, as a user types it; the id from --cidfile (the container is gone after). */
function runRm(name: string, args: string[]): { status: number | null; id: string } {
  const cid = join(state.dir, `${name}.cid`);
  const r = engine.docker(['run', '--rm', '--runtime', 'contid', '--cidfile', cid, '--name', name, '--label', 'com.docker.compose.project=shorty', engine.image, ...args]);
  return { status: r.status, id: existsSync(cid) ? readFileSync(cid, 'utf8').trim() : '' };
}

beforeAll(async () => {
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  await engine.start();
}, 180_000);

afterAll(async () => {
  await stopAgent();
  await engine.stop();
  state.cleanup();
}, 120_000);

describe('short docker run --rm containers', () => {
  test.each([
    ['the agent down while they run (drain paused)', false],
    ['the agent running', true],
  ])('%s: each is bound and ended, search equals ausearch --session; a failed create stays quarantined', async (_what, live) => {
    const key = uniqueName('contid-short');
    const mark = logMark();
    const startedAt = Math.floor(Date.now() / 1000) - 1;
    const names = Array.from({ length: 10 }, (_, i) => uniqueName(`rm${i}`));
    const failedName = uniqueName('rm-fail');
    const failedBefore = new Spool(spoolDir).failed().length;
    if (live) await startAgent();
    addExecveRule(key);
    try {
      for (const n of names) expect(runRm(n, ['true']).status).toBe(0);
      // A create runc refuses (no such executable): Docker deletes it too, but nothing ran.
      expect(runRm(failedName, ['/no/such/program']).status).not.toBe(0);
    } finally {
      deleteExecveRule(key);
    }
    if (!live) {
      expect(pendingEntries().length).toBeGreaterThanOrEqual(names.length * 2);
      await startAgent();
    }
    try {
      await waitFor('the spool drained', () => pendingEntries().length === 0, 60_000);
      const rows = await waitFor('every container bound and ended', () => {
        const all = names.map((n) => rowsNamed(n));
        return all.every((r) => r.length === 1 && r[0].state === 'ended') && all.map((r) => r[0]);
      }, 30_000).catch((e: Error) => {
        throw new Error(`${e.message}; agent:\n${agentErr.slice(-3000)}\nfailed: ${new Spool(spoolDir).failed().join(' ')}`);
      });
      // Named from Docker even when it had removed the container before the entry was read.
      for (const [i, c] of rows.entries()) expect(c).toMatchObject({ orchestrator: 'docker', name: names[i], image: engine.image, labels: { 'com.docker.compose.project': 'shorty' } });
      expect(rowsNamed(failedName)).toEqual([]);
      const failed = new Spool(spoolDir).failed();
      expect(failed.length).toBe(failedBefore + 1);
      const reason = readFileSync(join(spoolDir, 'failed', `${failed.sort().at(-1)}.reason`), 'utf8');
      expect(reason).toMatch(/nothing was started/);
      // The log frozen, so both tools read the same bytes: per container, the same events.
      const log = join(state.dir, `audit-${live}.log`);
      freezeSince(mark, log);
      for (const c of rows) {
        const search = contid(['search', '-if', log, '--container', c.name, '--start', `@${startedAt}`], { env, maxBuffer: 64 << 20 });
        expect([c.name, search.status]).toEqual([c.name, 0]);
        const oracle = spawnSync('ausearch', ['--session', String(c.session), '--raw', '-if', log], { encoding: 'utf8', maxBuffer: 64 << 20 }).stdout;
        // runc create, runc init and the container's own `true` ran in the container's session.
        expect(keys(oracle).length).toBeGreaterThanOrEqual(2);
        expect([c.name, keys(search.stdout)]).toEqual([c.name, keys(oracle)]);
      }
    } finally {
      await stopAgent();
    }
  }, 240_000);
});
