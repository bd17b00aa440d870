import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { ContainerRecord, Registry, Tagger } from '@contid/core';
import { DockerAgent, Spool } from '@contid/docker';
import { addExecveRule, ausearch, deleteExecveRule, field, freezeSince, logMark } from '../helpers/audit';
import { contid, tempStateDir, uniqueName } from '../helpers/cli';
import { waitFor } from '../helpers/wait';
import { DockerEngine } from './engine';

// The agent against a real dockerd under the conditions users hit: execs without arguments,
// healthchecks (every few seconds, forever: each run a `docker exec` in a fresh audit session,
// folded in the registry), a dockerd restart.
const state = tempStateDir('docker-agent');
const stateDir = join(state.dir, 'state');
const spoolDir = join(stateDir, 'spool');
const env = { ...process.env, CONTID_STATE_DIR: stateDir };
const engine = new DockerEngine({
  label: 'docker-agent',
  env: { CONTID_STATE_DIR: stateDir, CONTID_RUNC_CONF: join(state.dir, 'none.conf'), CONTID_REQUESTERS_DIR: join(state.dir, 'requesters') },
  image: { name: 'local/busybox-agent:1', links: { 'bin/true': 'busybox', 'bin/sleep': 'busybox' } },
});
let tagger: Tagger;
let agent: DockerAgent;
const agentLog: string[] = [];

/** waitFor, with the agent's last lines in the failure. */
function until<T>(what: string, f: () => T | undefined | false | null, ms = 60_000): Promise<T> {
  return waitFor(what, f, ms).catch((e: Error) => {
    throw new Error(`${e.message}; agent log:\n${agentLog.slice(-15).join('\n')}`);
  });
}

/** What the registry really holds: its pages in use (WAL included), read as `contid show` would. */
function registryBytes(): number {
  const reg = Registry.open(stateDir, { readonly: true });
  try {
    const pages = (reg.db.pragma('page_count', { simple: true }) as number) - (reg.db.pragma('freelist_count', { simple: true }) as number);
    return pages * (reg.db.pragma('page_size', { simple: true }) as number);
  } finally {
    reg.close();
  }
}

const runsOf = (c: ContainerRecord): number => tagger.containers.folds(c.contid).reduce((n, f) => n + f.count, 0);
const keys = (text: string): string[] => [...new Set([...text.matchAll(/audit\(([0-9.]+:\d+)\)/g)].map((m) => m[1]))].sort();
const fullId = (name: string) => engine.docker(['inspect', '-f', '{{.Id}}', name]).stdout.trim();
const rowsOf = (id: string): ContainerRecord[] => tagger.containers.list({ orchestrator: 'docker' }).filter((c) => c.runtimeId === id);

beforeAll(async () => {
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  await engine.start();
  tagger = Tagger.open({ stateDir, failPolicy: 'open' });
  agent = new DockerAgent({ docker: engine.api, tagger, spool: new Spool(spoolDir), log: (l) => agentLog.push(l), scanMs: 500, reconnectMs: { min: 100, max: 1000 } });
  await agent.start();
}, 180_000);

afterAll(async () => {
  await agent?.stop();
  tagger?.close();
  await engine.stop();
  state.cleanup();
}, 120_000);

describe('contid docker agent keeps the truth', () => {
  test('docker exec C true (Docker writes `exec_create: true ` with a trailing space) gets its exec id each time', async () => {
    const name = uniqueName('exec');
    expect(engine.docker(['run', '-d', '--runtime', 'contid', '--name', name, engine.image, 'sleep', '600']).status).toBe(0);
    const id = fullId(name);
    const c = await until('the row', () => rowsOf(id).find((r) => r.state === 'running'));
    for (let i = 0; i < 8; i++) expect(engine.docker(['exec', name, 'true']).status).toBe(0);
    const execIds = JSON.parse(engine.docker(['inspect', '-f', '{{json .ExecIDs}}', name]).stdout) as string[] | null;
    const bindings = await until('8 exec bindings with ids', () => {
      const b = tagger.containers.bindings(c.contid).filter((x) => x.op === 'setns');
      return b.length === 8 && b.every((x) => typeof x.detail.execId === 'string') && b;
    });
    const bound = new Set(bindings.map((b) => b.detail.execId));
    expect(bound.size).toBe(8);
    // Docker keeps the ids of execs still listed; each of those is one of ours.
    for (const e of execIds ?? []) expect(bound.has(e)).toBe(true);
    // The agent's log sums execs up (a line a minute at most), not a line each: each exec keeps
    // its binding row and signed record; a busy host's execs were a journal line each.
    expect(agentLog.filter((l) => l.startsWith('setns ') && l.includes(id))).toEqual([]);
    agent.consumer.summarizeExecs(true);
    expect(agentLog.filter((l) => l.startsWith('setns: '))).toEqual([expect.stringMatching(new RegExp(`^setns: \\d+ execs bound in \\d+ s, into contid (\\d+, )*${c.contid}(, \\d+)*$`))]);
    expect(Number(/^setns: (\d+)/.exec(agentLog.find((l) => l.startsWith('setns: '))!)![1])).toBeGreaterThanOrEqual(8);
    expect(engine.docker(['rm', '-f', name]).status).toBe(0);
  });

  test('healthcheck probes are bound as healthcheck execs, folded into one registry row', async () => {
    const name = uniqueName('health');
    expect(engine.docker(['run', '-d', '--runtime', 'contid', '--name', name, '--health-cmd', 'true', '--health-interval', '1s', engine.image, 'sleep', '600']).status).toBe(0);
    const id = fullId(name);
    const c = await until('the row', () => rowsOf(id).find((r) => r.state === 'running'));
    const fold = await until('3 healthcheck runs', () => tagger.containers.folds(c.contid).find((f) => f.count >= 3));
    expect(fold.detail).toMatchObject({ healthcheck: true, command: ['/bin/sh', '-c', 'true'] });
    expect(engine.docker(['exec', name, 'true']).status).toBe(0);
    await until('a user exec, not a probe', () => tagger.containers.bindings(c.contid).some((b) => b.op === 'setns' && b.detail.healthcheck === undefined && b.detail.execId));
    // No probe has a binding row of its own; each one's session still names the container.
    expect(tagger.containers.bindings(c.contid).filter((b) => b.detail.healthcheck === true)).toEqual([]);
    for (const s of tagger.containers.foldedSessions(c.contid)) expect(tagger.containers.containerOfSession(s)?.contid).toBe(c.contid);
    // contid show prints one line per check; --json lists every run's session.
    const shown = contid(['show', name], { env });
    expect(shown.status).toBe(0);
    const probeLines = shown.stdout.split('\n').filter((l) => l.includes('healthcheck'));
    expect(probeLines).toHaveLength(1);
    expect(probeLines[0]).toMatch(/healthcheck ×\d+ since .*"\/bin\/sh -c true"/);
    const json = JSON.parse(contid(['show', name, '--json'], { env }).stdout) as { bindings: unknown[]; healthchecks: { count: number; sessions: number[] }[] };
    expect(json.healthchecks).toHaveLength(1);
    expect(json.healthchecks[0]!.sessions).toHaveLength(json.healthchecks[0]!.count);
    expect(json.bindings).toHaveLength(2); // the create and the user's exec
    expect(engine.docker(['rm', '-f', name]).status).toBe(0);
  });

  test('200 healthcheck runs grow the registry by a few bytes each, and every run’s session is still the container’s (search equals ausearch --session)', async () => {
    const mark = logMark();
    const startedAt = Math.floor(Date.now() / 1000) - 1;
    const name = uniqueName('probed');
    const run = engine.docker(['run', '-d', '--runtime', 'contid', '--name', name, '--health-cmd', 'true', '--health-interval', '50ms', '--health-timeout', '30s', engine.image, 'sleep', '900']);
    expect(run.status).toBe(0);
    const id = run.stdout.trim();
    const c = await until('the row', () => tagger.containers.list({ orchestrator: 'docker' }).find((r) => r.runtimeId === id && r.state === 'running'));
    await until('10 runs bound', () => runsOf(c) >= 10, 120_000);
    const [bytes0, runs0] = [registryBytes(), runsOf(c)];
    await until('200 more runs bound', () => runsOf(c) >= runs0 + 200, 300_000);
    const [bytes1, runs1] = [registryBytes(), runsOf(c)];
    // A row per run was 1.6–3 KB; a folded run is its session's entry in the map (≈ 25 bytes).
    const perRun = (bytes1 - bytes0) / (runs1 - runs0);
    expect(perRun).toBeLessThan(64);
    expect(tagger.containers.folds(c.contid)).toEqual([expect.objectContaining({ count: expect.any(Number), detail: expect.objectContaining({ healthcheck: true, command: ['/bin/sh', '-c', 'true'] }) })]);
    expect(tagger.containers.bindings(c.contid).map((b) => b.op)).toEqual(['create']);

    // A few runs with every execve audited, so each run's session has events of its own to find.
    const key = uniqueName('contid-hf');
    // Another suite's execve rule may come first (the kernel keeps the first matching rule's key),
    // so the audited runs are found by syscall, not by key.
    const earlier = new Set(tagger.containers.foldedSessions(c.contid));
    const audited = new Set<number>();
    addExecveRule(key);
    try {
      // Runs are bound a little after they ran: wait for three whose execs were audited.
      await until('3 audited runs bound', () => {
        for (const s of tagger.containers.foldedSessions(c.contid).filter((x) => !earlier.has(x) && !audited.has(x)).slice(-6)) {
          if (ausearch(['--session', String(s), '-sc', 'execve', '-ts', 'recent']).length > 0) audited.add(s);
        }
        return audited.size >= 3;
      }, 120_000);
    } finally {
      deleteExecveRule(key);
    }
    expect(engine.docker(['rm', '-f', name]).status).toBe(0);
    await until('ended', () => tagger.containers.get(c.contid)?.state === 'ended');

    const log = join(state.dir, 'audit.log');
    freezeSince(mark, log);
    // Every run's signed setns record is in the log (none dropped), and the registry maps each of
    // their sessions to the container.
    const records = spawnSync('ausearch', ['-m', 'VIRT_CONTROL', '--raw', '-if', log], { encoding: 'utf8', maxBuffer: 256 << 20 }).stdout.split('\n');
    const logged = records.filter((l) => field(l, 'op') === 'setns' && field(l, 'contid') === c.contid.toString()).map((l) => Number(field(l, 'vm-ses')));
    const folded = tagger.containers.foldedSessions(c.contid);
    expect(logged.length).toBeGreaterThanOrEqual(runs1 + 3);
    // A run bound after `docker rm` is still known as the healthcheck (asked once per container).
    expect(tagger.containers.bindings(c.contid).map((b) => b.op)).toEqual(['create']);
    expect([...logged].sort((a, b) => a - b)).toEqual(folded);
    for (const s of folded) expect([s, tagger.containers.containerOfSession(s)?.contid]).toEqual([s, c.contid]);

    // The audited runs: contid search for the container, that session, equals ausearch --session.
    for (const s of audited) {
      const oracle = spawnSync('ausearch', ['--session', String(s), '--raw', '-if', log], { encoding: 'utf8', maxBuffer: 64 << 20 }).stdout;
      const search = contid(['search', '-if', log, '--container', name, '--session', String(s), '--start', `@${startedAt}`], { env, maxBuffer: 64 << 20 });
      expect(keys(oracle).length).toBeGreaterThan(0);
      expect([s, search.status, keys(search.stdout)]).toEqual([s, 0, keys(oracle)]);
    }
    // `contid show` prints one line for them all, and --json lists every run's session.
    const shown = contid(['show', name], { env });
    expect(shown.stdout.split('\n').filter((l) => l.includes('healthcheck'))).toEqual([expect.stringMatching(new RegExp(`healthcheck ×${folded.length} since .*"/bin/sh -c true"`))]);
    const json = JSON.parse(contid(['show', name, '--json'], { env }).stdout) as { healthchecks: { count: number; sessions: number[] }[] };
    expect(json.healthchecks).toEqual([expect.objectContaining({ count: folded.length, sessions: folded })]);
  }, 600_000);

  test('after a dockerd restart it reconnects and reconciles: exits meanwhile are ended, new containers and execs recorded', async () => {
    const name = uniqueName('restart');
    expect(engine.docker(['run', '-d', '--runtime', 'contid', '--name', name, engine.image, 'sleep', '600']).status).toBe(0);
    const id = fullId(name);
    const before = await until('the row', () => rowsOf(id).find((r) => r.state === 'running'));
    await engine.restart(); // no live-restore: the container dies with dockerd
    await until('ended after the restart', () => tagger.containers.get(before.contid)?.state === 'ended');
    await until('the reconnect', () => agentLog.some((l) => l.startsWith('docker events: reconnected')));
    // Events flow again: a new container and an exec in it are recorded with its exec id.
    const after = uniqueName('after');
    expect(engine.docker(['run', '-d', '--runtime', 'contid', '--name', after, engine.image, 'sleep', '600']).status).toBe(0);
    const c = await until('the new row', () => rowsOf(fullId(after)).find((r) => r.state === 'running'));
    expect(engine.docker(['exec', after, 'true']).status).toBe(0);
    await until('its exec', () => tagger.containers.bindings(c.contid).some((b) => b.op === 'setns' && typeof b.detail.execId === 'string'));
    expect(engine.docker(['rm', '-f', after]).status).toBe(0);
    await until('ended on rm (events followed again)', () => tagger.containers.get(c.contid)?.state === 'ended');
  }, 180_000);
});
