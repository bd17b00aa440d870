import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { ContainerRecord, Registry, Tagger } from '@contid/core';
import { DockerAgent, Spool } from '@contid/docker';
import { addExecveRule, ausearch, deleteExecveRule, field, freezeSince, logMark } from '../helpers/audit';
import { contid, tempStateDir, uniqueName } from '../helpers/cli';
import { waitFor } from '../helpers/wait';
import { DockerEngine } from './engine';

// A Docker healthcheck as users set it (every few seconds, forever) on a real dockerd: each run
// is a `docker exec` in a fresh audit session. The registry must not grow by a row per run,
// while every run's session stays the container's: in the registry (containerOfSession) and in
// `contid search`, which must equal `ausearch --session` for the runs' sessions.
const state = tempStateDir('docker-healthfold');
const stateDir = join(state.dir, 'state');
const env = { ...process.env, CONTID_STATE_DIR: stateDir };
const engine = new DockerEngine({
  label: 'healthfold',
  env: { CONTID_STATE_DIR: stateDir, CONTID_RUNC_CONF: join(state.dir, 'none.conf'), CONTID_REQUESTERS_DIR: join(state.dir, 'requesters') },
  image: { name: 'local/busybox-healthfold:1', links: { 'bin/true': 'busybox', 'bin/sleep': 'busybox' } },
});
let tagger: Tagger;
let agent: DockerAgent;
const agentLog: string[] = [];

function until<T>(what: string, f: () => T | undefined | false | null, ms = 120_000): Promise<T> {
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

beforeAll(async () => {
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  await engine.start();
  tagger = Tagger.open({ stateDir, failPolicy: 'open' });
  agent = new DockerAgent({ docker: engine.api, tagger, spool: new Spool(join(stateDir, 'spool')), log: (l) => agentLog.push(l), scanMs: 500, reconnectMs: { min: 100, max: 1000 } });
  await agent.start();
}, 180_000);

afterAll(async () => {
  await agent?.stop();
  tagger?.close();
  await engine.stop();
  state.cleanup();
}, 120_000);

test('200 healthcheck runs grow the registry by a few bytes each, and every run’s session is still the container’s (search equals ausearch --session)', async () => {
  const mark = logMark();
  const startedAt = Math.floor(Date.now() / 1000) - 1;
  const name = uniqueName('probed');
  const run = engine.docker(['run', '-d', '--runtime', 'contid', '--name', name, '--health-cmd', 'true', '--health-interval', '50ms', '--health-timeout', '30s', engine.image, 'sleep', '900']);
  expect(run.status).toBe(0);
  const id = run.stdout.trim();
  const c = await until('the row', () => tagger.containers.list({ orchestrator: 'docker' }).find((r) => r.runtimeId === id && r.state === 'running'));
  await until('10 runs bound', () => runsOf(c) >= 10);
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
  const runs2 = runsOf(c);
  addExecveRule(key);
  try {
    // Runs are bound a little after they ran: wait for three whose execs the rule saw.
    await until('3 audited runs bound', () => {
      const folded = new Set(tagger.containers.foldedSessions(c.contid));
      return new Set(ausearch(['-k', key, '-ts', 'recent']).map((l) => Number(field(l, 'ses'))).filter((s) => folded.has(s))).size >= 3;
    });
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
  expect(logged.length).toBeGreaterThanOrEqual(runs2 + 3);
  // A run bound after `docker rm` is still known as the healthcheck (asked once per container).
  expect(tagger.containers.bindings(c.contid).map((b) => b.op)).toEqual(['create']);
  expect([...logged].sort((a, b) => a - b)).toEqual(folded);
  for (const s of folded) expect([s, tagger.containers.containerOfSession(s)?.contid]).toEqual([s, c.contid]);

  // The audited runs: contid search for the container, that session, equals ausearch --session.
  const keyed = new Set(spawnSync('ausearch', ['-k', key, '--raw', '-if', log], { encoding: 'utf8', maxBuffer: 256 << 20 }).stdout.split('\n').map((l) => Number(field(l, 'ses'))));
  const audited = folded.filter((s) => keyed.has(s));
  expect(audited.length).toBeGreaterThanOrEqual(3);
  // Five of them (a search and an ausearch each take seconds on a loaded machine's log).
  for (const s of audited.filter((_, i) => i % Math.ceil(audited.length / 5) === 0)) {
    const oracle = spawnSync('ausearch', ['--session', String(s), '--raw', '-if', log], { encoding: 'utf8', maxBuffer: 64 << 20 }).stdout;
    const search = contid(['search', '-if', log, '--container', name, '--session', String(s), '--start', `@${startedAt}`], { env, maxBuffer: 64 << 20 });
    expect([s, search.status, keys(search.stdout)]).toEqual([s, 0, keys(oracle)]);
  }
  // `contid show` prints one line for them all, and --json lists every run's session.
  const shown = contid(['show', name], { env });
  expect(shown.stdout.split('\n').filter((l) => l.includes('healthcheck'))).toEqual([expect.stringMatching(new RegExp(`healthcheck ×${folded.length} since .*"/bin/sh -c true"`))]);
  const json = JSON.parse(contid(['show', name, '--json'], { env }).stdout) as { healthchecks: { count: number; sessions: number[] }[] };
  expect(json.healthchecks).toEqual([expect.objectContaining({ count: folded.length, sessions: folded })]);
}, 600_000);
