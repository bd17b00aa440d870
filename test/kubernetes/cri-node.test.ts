import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ContainerRecord, Registry, Tagger, formatContainerId } from '@contid/core';
import { Spool, SpoolConsumer } from '@contid/oci';
import { CONTAINERS_ANNOTATION, PodSandboxConfig, kubernetesIdentifier } from '@contid/kubernetes';
import { field, freezeSince, logMark, waitForAudit } from '../helpers/audit';
import { contid, tempStateDir } from '../helpers/cli';
import { buildFastShim } from '../helpers/fast-shim';
import { waitFor } from '../helpers/wait';
import { startNodeAgent } from './node-agent';
import { ContainerdNode, NODE_IMAGE, shimRuntime } from './containerd-node';

// A real node: containerd's own CRI plugin (what the kubelet talks to) runs every pod container
// through contid's shim — the compiled one a node installs (integrations/docker/contid-runc.c,
// with the sh beside it for the cases it hands on); the test makes the kubelet's calls over the CRI gRPC API.
const SHIM = buildFastShim();
const state = tempStateDir('cri-node');
const stateDir = join(state.dir, 'state');
const env = { ...process.env, CONTID_STATE_DIR: stateDir, CONTID_RUNC_CONF: '/nonexistent', CONTID_FAIL_POLICY: 'closed' };
const node = new ContainerdNode({ label: 'cri-node', binaryName: SHIM, env });

let tagger: Tagger;
let taggerOpen = false;
let consumer: SpoolConsumer;
let mark: ReturnType<typeof logMark>;

beforeAll(async () => {
  await node.start();
  tagger = Tagger.open({ stateDir, failPolicy: 'closed' });
  taggerOpen = true;
  consumer = new SpoolConsumer({ tagger, spool: new Spool(join(stateDir, 'spool')), identifiers: [kubernetesIdentifier], pidFileWaitMs: 5_000 });
  mark = logMark();
}, 180_000);

afterAll(() => {
  if (taggerOpen) tagger.close();
  node.stop();
  state.cleanup();
});

/** What the daemon does on a node: take every spool entry; none may be refused. */
async function drain(): Promise<void> {
  for (let pass = 0; pass < 50; pass++) {
    const outcomes = await consumer.drain();
    // The shim records runc delete itself (op=end); containerd deletes a container twice (stop, remove): `already`.
    const refused = outcomes.filter((o) => o.kind === 'quarantined');
    if (refused.length) throw new Error(`spool entries refused: ${JSON.stringify(refused)}`);
    if (!outcomes.some((o) => o.kind === 'deferred')) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('spool entries still deferred after 50 passes');
}

function row(runtimeId: string): ContainerRecord {
  const r = tagger.containers.findByRuntimeId(runtimeId);
  if (!r) throw new Error(`no registry row for ${runtimeId}`);
  return r;
}

/** Sessions bound to a container in the registry (create and every setns). */
const sessionsOf = (c: ContainerRecord): number[] => tagger.containers.bindings(c.contid).map((b) => b.session).filter((s): s is number => s !== null);

/** Event stamps (time:serial) of raw audit lines. */
const events = (lines: string[]): string[] =>
  [...new Set(lines.map((l) => /audit\(([0-9.]+:\d+)\)/.exec(l)?.[1]).filter((x): x is string => x !== undefined))].sort();

/** `ausearch -if LOG ARGS --raw`: the oracle over a frozen copy of the log. */
function ausearchIn(log: string, args: string[]): string[] {
  const r = spawnSync('ausearch', ['-if', log, ...args, '--raw'], { encoding: 'utf8', maxBuffer: 256 << 20 });
  return r.status === 0 ? r.stdout.split('\n').filter((l) => l && !l.startsWith('----')) : [];
}

function searchEvents(args: string[]): string[] {
  const r = contid(['search', ...args], { env, maxBuffer: 256 << 20 });
  if (r.status !== 0) throw new Error(`contid search ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return events(r.stdout.split('\n'));
}

describe('a real node: containerd 1.6 CRI plugin → contid shim → runc', () => {
  let sandboxConfig: PodSandboxConfig;
  let sandboxId: string;
  let webId: string;
  let sidecarId: string;

  test('a pod sandbox with two containers: each tagged from the annotations containerd writes, the sandbox as parent, the init pid as the runtime reports it', async () => {
    sandboxConfig = node.sandboxConfig('shop', 'web-5c9d7', '7d0e3c52-2b7a-4c1f-9d0e-5a6b7c8d9e0f');
    sandboxId = await node.cri.runPodSandbox(sandboxConfig);
    await drain();
    const container = (name: string, command: string[]) => ({ metadata: { name, attempt: 0 }, image: { image: NODE_IMAGE }, command, logPath: `${name}/0.log` });
    webId = await node.cri.createContainer(sandboxId, container('web', ['/bin/sleep', '600']), sandboxConfig);
    await node.cri.startContainer(webId);
    sidecarId = await node.cri.createContainer(sandboxId, container('sidecar', ['/bin/sleep', '600']), sandboxConfig);
    await node.cri.startContainer(sidecarId);
    await drain();

    const sandbox = row(sandboxId);
    expect(sandbox).toMatchObject({ orchestrator: 'kubernetes', name: 'shop/web-5c9d7', state: 'running', parent: null });
    expect(sandbox.labels).toMatchObject({ 'contid.io/container-type': 'sandbox', 'io.kubernetes.pod.uid': '7d0e3c52-2b7a-4c1f-9d0e-5a6b7c8d9e0f' });
    for (const [id, name] of [[webId, 'web'], [sidecarId, 'sidecar']]) {
      const c = row(id);
      expect(c).toMatchObject({ orchestrator: 'kubernetes', name: `shop/web-5c9d7/${name}`, image: NODE_IMAGE, parent: sandbox.contid, state: 'running' });
      const pid = await node.cri.containerPid(id);
      expect(c.initPid).toBe(pid);
      // Every process of the container carries the session the shim renewed and contid bound.
      expect(Number(readFileSync(`/proc/${pid}/sessionid`, 'utf8'))).toBe(c.session);
      const lines = await waitForAudit(['-m', 'VIRT_CONTROL', '--uuid', id], (ls) => ls.some((l) => field(l, 'op') === 'create'));
      const record = lines.find((l) => field(l, 'op') === 'create')!;
      expect(field(record, 'virt')).toBe('kubernetes');
      expect(field(record, 'contid')).toBe(formatContainerId(c.contid));
      expect(field(record, 'parent-contid')).toBe(formatContainerId(sandbox.contid));
    }
  });

  test('the plain handler (pnpm bench kubernetes’s peer) runs the runc contid’s shim runs, with the same runtime options but the binary', async () => {
    const config = node.sandboxConfig('shop', 'peer-3e4f5', '2c3d4e5f-6a7b-4c8d-9e0f-1a2b3c4d5e6f');
    const plain = await node.cri.runPodSandbox(config, 'plain');
    try {
      const peer = await node.cri.createContainer(plain, { metadata: { name: 'web', attempt: 0 }, image: { image: NODE_IMAGE }, command: ['/bin/sleep', '600'], logPath: 'peer/0.log' }, config);
      await node.cri.startContainer(peer);
      // What containerd hands its runc shim for each container (CRI's verbose status).
      const runtimeOf = async (id: string) => {
        const info = JSON.parse((await node.cri.containerStatus(id, true)).info.info ?? '{}') as { runtimeType?: string; runtimeOptions?: Record<string, unknown> | null };
        const { binary_name: binary, ...rest } = info.runtimeOptions ?? {};
        return { type: info.runtimeType, binary, rest };
      };
      const [through, peerRuntime] = [await runtimeOf(webId), await runtimeOf(peer)];
      expect(through.binary).toBe(SHIM);
      expect(peerRuntime).toEqual({ type: through.type, binary: shimRuntime(env), rest: through.rest });
    } finally {
      await node.cri.stopPodSandbox(plain);
      await node.cri.removePodSandbox(plain);
    }
  });

  test('the project’s containerd fixtures hold exactly the annotation keys containerd 1.6 writes', () => {
    const written = (id: string) => Object.keys(JSON.parse(readFileSync(join(node.stateDir, 'state/io.containerd.runtime.v2.task/k8s.io', id, 'config.json'), 'utf8')).annotations).sort();
    const fixture = (name: string) => Object.keys(JSON.parse(readFileSync(join(__dirname, 'fixtures', `${name}.config.json`), 'utf8')).annotations).sort();
    expect(fixture('containerd-sandbox')).toEqual(written(sandboxId));
    expect(fixture('containerd-container')).toEqual(written(webId));
  });

  test('ExecSync (a probe) and Exec (kubectl exec): each a fresh session bound to its container as op=setns', async () => {
    const web = row(webId);
    const before = sessionsOf(web);
    const probe = await node.cri.execSync(webId, ['/bin/sh', '-c', 'cat /proc/self/sessionid']);
    expect(probe.exitCode).toBe(0);
    const exec = await node.cri.exec(webId, ['/bin/sh', '-c', 'cat /proc/self/sessionid; exit 3']);
    expect(exec.exitCode).toBe(3);
    await drain();
    const after = sessionsOf(row(webId));
    const probeSession = Number(probe.stdout.trim());
    const execSession = Number(exec.stdout.trim());
    expect(new Set([probeSession, execSession, web.session]).size).toBe(3);
    expect(after).toEqual(expect.arrayContaining([...before, probeSession, execSession]));
    const setns = await waitForAudit(['-m', 'VIRT_CONTROL', '--uuid', webId], (ls) => ls.filter((l) => field(l, 'op') === 'setns').length >= 2);
    expect(setns.filter((l) => field(l, 'op') === 'setns').map((l) => Number(field(l, 'vm-ses'))).sort()).toEqual([probeSession, execSession].sort());
  });

  test('contid search --container NS/POD/CONTAINER returns exactly what ausearch --session returns for its sessions', async () => {
    const web = row(webId);
    const sessions = sessionsOf(web);
    // auditd writes asynchronously: wait until the last session shows up, then freeze the log
    // so that the oracle, search and report all read the same records (a record flushed
    // between two of them would otherwise count in one and not the other).
    await waitForAudit(['--session', String(sessions[sessions.length - 1])], (ls) => ls.length > 0);
    const log = join(state.dir, 'frozen.log');
    freezeSince(mark, log);
    const frozen = (args: string[]): string[] => ausearchIn(log, args);
    const expected = events(sessions.flatMap((s) => frozen(['--session', String(s)])));
    expect(expected.length).toBeGreaterThan(0);
    expect(searchEvents(['--container', 'shop/web-5c9d7/web', '--input', log])).toEqual(expected);
    // The pod: the sandbox and every container in it.
    const pod = [row(sandboxId), web, row(sidecarId)];
    const podLines = pod.flatMap(sessionsOf).flatMap((s) => frozen(['--session', String(s)]));
    expect(searchEvents(['--pod', 'shop/web-5c9d7', '--input', log])).toEqual(events(podLines));
    // report --by pod: one group named after the sandbox, with as many events as ausearch
    // counts in those records (its ---- separators: a LOGIN is an event apart from its SYSCALL)
    const podLog = join(state.dir, 'pod-records.log');
    writeFileSync(podLog, podLines.map((l) => `${l}\n`).join(''));
    const ausearchCount = spawnSync('ausearch', ['-if', podLog], { encoding: 'utf8', maxBuffer: 256 << 20 }).stdout.match(/^----$/gm)?.length ?? 0;
    const report = contid(['report', '--pod', 'shop/web-5c9d7', '--by', 'pod', '--json', '--input', log], { env, maxBuffer: 64 << 20 });
    expect(report.status).toBe(0);
    const groups = JSON.parse(report.stdout) as { group: string; events: number }[];
    expect(groups.map((g) => [g.group, g.events])).toEqual([[row(sandboxId).name, ausearchCount]]);
  });

  test('a container restart (attempt 1) is a new contid under the same pod; removing the pod ends the sandbox and every container, each end in the log', async () => {
    const first = row(webId);
    await node.cri.stopContainer(webId, 0);
    await node.cri.removeContainer(webId);
    const again = await node.cri.createContainer(sandboxId, { metadata: { name: 'web', attempt: 1 }, image: { image: NODE_IMAGE }, command: ['/bin/sleep', '600'], logPath: 'web/1.log' }, sandboxConfig);
    await node.cri.startContainer(again);
    await drain();
    const second = row(again);
    expect(tagger.containers.get(first.contid)?.state).toBe('ended');
    expect(second.name).toBe('shop/web-5c9d7/web');
    expect(second.contid).not.toBe(first.contid);
    expect(second.parent).toBe(row(sandboxId).contid);
    await node.cri.stopPodSandbox(sandboxId);
    await node.cri.removePodSandbox(sandboxId);
    expect(await node.cri.listContainers({ podSandboxId: sandboxId })).toEqual([]);
    await drain();
    for (const id of [sandboxId, sidecarId, again, webId]) {
      expect(row(id).state).toBe('ended');
      const lines = await waitForAudit(['-m', 'VIRT_CONTROL', '--uuid', id], (ls) => ls.some((l) => field(l, 'op') === 'end'));
      expect(lines.filter((l) => field(l, 'op') === 'end').map((l) => field(l, 'contid'))).toEqual([formatContainerId(row(id).contid)]);
    }
  });
});

test('emulated API server: the node agent tags what the real node runs and annotates the pod with those contids', async () => {
  // From here the agent is the spool's only consumer, as on a deployed node.
  tagger.close();
  taggerOpen = false;
  const { server, stop } = await startNodeAgent(state.dir, env);
  try {
    const config = node.sandboxConfig('shop', 'api-6b8f4', '9a1b2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d');
    const sandbox = await node.cri.runPodSandbox(config);
    const app = await node.cri.createContainer(sandbox, { metadata: { name: 'api', attempt: 0 }, image: { image: NODE_IMAGE }, command: ['/bin/sleep', '600'], logPath: 'api/0.log' }, config);
    await node.cri.startContainer(app);
    server.addPod({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'api-6b8f4', namespace: 'shop' },
      spec: { nodeName: 'node-2', containers: [{ name: 'api', image: NODE_IMAGE }] },
      status: { containerStatuses: [{ name: 'api', containerID: `containerd://${app}`, image: NODE_IMAGE, imageID: '', ready: true, restartCount: 0 }] },
    });
    const raw = await waitFor('the pod annotation', () => server.getPod('shop', 'api-6b8f4')?.metadata.annotations?.[CONTAINERS_ANNOTATION], 30_000);
    const ids = JSON.parse(raw) as Record<string, string>;
    expect(Object.keys(ids).sort()).toEqual(['POD', 'api']);
    // The contids the node really bound: the records the agent wrote for containerd's ids.
    const bound = async (runtimeId: string) => {
      const lines = await waitForAudit(['-m', 'VIRT_CONTROL', '--uuid', runtimeId], (ls) => ls.some((l) => field(l, 'op') === 'create'));
      return field(lines.find((l) => field(l, 'op') === 'create')!, 'contid');
    };
    expect(ids.POD).toBe(await bound(sandbox));
    expect(ids.api).toBe(await bound(app));
    expect(Number(BigInt(ids.api) >> 48n)).toBe(2); // node-2's claimed prefix
    await node.cri.stopPodSandbox(sandbox);
    await node.cri.removePodSandbox(sandbox);
  } finally {
    await stop();
  }
});

test('emulated API server: probe execs are marked from the pod spec and folded; a kubectl exec of another command is not', async () => {
  // The agent (the spool's only consumer here) knows each pod's exec probes from the API.
  if (taggerOpen) tagger.close();
  taggerOpen = false;
  const { server, log, stop } = await startNodeAgent(state.dir, env);
  try {
    const uid = '5c6d7e8f-0a1b-4c2d-8e3f-4a5b6c7d8e9f';
    const config = node.sandboxConfig('shop', 'probed-7f9c2', uid);
    const sandbox = await node.cri.runPodSandbox(config);
    const app = await node.cri.createContainer(sandbox, { metadata: { name: 'api', attempt: 0 }, image: { image: NODE_IMAGE }, command: ['/bin/sleep', '600'], logPath: 'probed/0.log' }, config);
    await node.cri.startContainer(app);
    const liveness = ['/bin/sh', '-c', 'test -d /'];
    server.addPod({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'probed-7f9c2', namespace: 'shop', uid },
      spec: { nodeName: 'node-2', containers: [{ name: 'api', image: NODE_IMAGE, livenessProbe: { exec: { command: liveness }, periodSeconds: 1 } }] },
      status: { containerStatuses: [{ name: 'api', containerID: `containerd://${app}`, image: NODE_IMAGE, imageID: '', ready: true, restartCount: 0 }] },
    });
    // Annotated: the agent's watch holds the pod, so it knows the probe before the kubelet would run it.
    await waitFor('the pod annotation', () => server.getPod('shop', 'probed-7f9c2')?.metadata.annotations?.[CONTAINERS_ANNOTATION], 30_000);
    // What the kubelet does for the probe (ExecSync, three periods) and what kubectl exec does (Exec).
    for (let i = 0; i < 3; i++) expect((await node.cri.execSync(app, liveness)).exitCode).toBe(0);
    expect((await node.cri.exec(app, ['/bin/sh', '-c', 'test -d /bin'])).exitCode).toBe(0);
    const name = 'shop/probed-7f9c2/api';
    type Shown = { bindings: { op: string; session: number; detail: Record<string, unknown> }[]; healthchecks: { command: string; probe: unknown; count: number; sessions: number[] }[] };
    const shown = await waitFor('the exec binding and three probe runs', () => {
      const r = contid(['show', '--json', name], { env });
      const j = r.status === 0 ? (JSON.parse(r.stdout) as Shown) : null;
      return j && j.bindings.some((b) => b.op === 'setns') && j.healthchecks.some((h) => h.count >= 3) ? j : null;
    }, 60_000);
    // The Exec is a binding row; the three probe runs are one folded row, each still its own session bound to the container.
    const setns = shown.bindings.filter((b) => b.op === 'setns');
    expect(setns.map((b) => [b.detail.command, b.detail.probe, b.detail.healthcheck])).toEqual([[['/bin/sh', '-c', 'test -d /bin'], undefined, undefined]]);
    expect(shown.healthchecks).toEqual([expect.objectContaining({ command: liveness.join(' '), probe: ['liveness'], count: 3 })]);
    const sessions = [...shown.healthchecks[0]!.sessions, setns[0]!.session];
    expect(new Set(sessions).size).toBe(4);
    let contidOf = '';
    const registry = Registry.open(stateDir, { readonly: true });
    try {
      for (const s of sessions) expect(registry.containerOfSession(s)?.name).toBe(name);
      contidOf = formatContainerId(registry.containerOfSession(sessions[0]!)!.contid);
    } finally {
      registry.close();
    }
    const text = contid(['show', name], { env });
    expect(text.stdout).toContain(`healthcheck ×3`);
    // The agent's log names the Exec's binding and none of the probe runs: they repeat every period.
    const setnsLines = () => log().split('\n').filter((l) => / setns /.test(l) && l.endsWith(`-> contid ${contidOf}`));
    await waitFor('the Exec in the agent log', () => setnsLines().length > 0, 10_000);
    await new Promise((r) => setTimeout(r, 300)); // any line written with it has arrived
    expect(setnsLines()).toEqual([`contid agent kubernetes: setns ${app} -> contid ${contidOf}`]);
    expect(text.stdout).toContain('test -d /bin');
    await node.cri.stopPodSandbox(sandbox);
    await node.cri.removePodSandbox(sandbox);
  } finally {
    await stop();
  }
});
