import { spawnSync } from 'node:child_process';
import { closeSync, copyFileSync, mkdirSync, openSync, readFileSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Tagger, formatContainerId } from '@contid/core';
import { Spool, SpoolConsumer } from '@contid/oci';
import { CONTAINERS_ANNOTATION, kubernetesIdentifier } from '@contid/kubernetes';
import { field, waitForAudit } from '../helpers/audit';
import { REPO_ROOT, tempStateDir, uniqueName } from '../helpers/cli';
import { startNodeAgent } from './node-agent';
import { waitFor } from '../helpers/wait';

// A pod as containerd's CRI plugin starts it, minus containerd: the real contid-runc shim in
// front of the real runc, fed config.json files carrying containerd's annotations, the app
// container joining the sandbox's namespaces by path, as containerd writes them.
const SHIM = join(REPO_ROOT, 'integrations/docker/contid-runc');
const state = tempStateDir('k8s-shim');
const stateDir = join(state.dir, 'state');
const runcRoot = join(state.dir, 'runc-root');
const rootfs = join(state.dir, 'rootfs');
const env = { ...process.env, CONTID_STATE_DIR: stateDir, CONTID_RUNC_CONF: '/nonexistent', CONTID_FAIL_POLICY: 'closed' };
const created: string[] = [];


const fixture = (name: string) => JSON.parse(readFileSync(join(__dirname, 'fixtures', `${name}.config.json`), 'utf8')) as { annotations: Record<string, string> };

function sh(cmd: string, args: string[], extraEnv: NodeJS.ProcessEnv = process.env): string {
  // A detached container inherits runc's stdio: never a pipe we would wait on, but files.
  const out = join(state.dir, 'cmd.out');
  const err = join(state.dir, 'cmd.err');
  const fds = [openSync(out, 'w'), openSync(err, 'w')];
  try {
    const r = spawnSync(cmd, args, { env: extraEnv, stdio: ['ignore', fds[0], fds[1]], timeout: 60_000 });
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${readFileSync(err, 'utf8')}`);
    return readFileSync(out, 'utf8');
  } finally {
    fds.forEach(closeSync);
  }
}

/**
 * An OCI bundle from `runc spec`, with the CRI annotations and namespaces of a pod container,
 * where containerd's CRI plugin puts it: a task of containerd's `k8s.io` namespace (Docker's
 * are in `moby`). `ownNamespaces`: an app container that makes its own ipc/uts/net.
 */
function bundle(id: string, annotations: Record<string, string>, joinPid: number | null, containerdNamespace = 'k8s.io', ownNamespaces = false): string {
  const dir = join(state.dir, 'containerd-state', 'io.containerd.runtime.v2.task', containerdNamespace, id);
  mkdirSync(dir, { recursive: true });
  sh('runc', ['spec', '--bundle', dir]);
  const spec = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  spec.process.terminal = false;
  spec.process.args = ['sleep', '300'];
  spec.root = { path: rootfs, readonly: true };
  spec.annotations = annotations;
  spec.linux.namespaces = joinPid === null || ownNamespaces
    ? [{ type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }, { type: 'network' }]
    : [{ type: 'pid' }, { type: 'mount' }, ...['ipc', 'uts', 'network'].map((t) => ({ type: t, path: `/proc/${joinPid}/ns/${t === 'network' ? 'net' : t}` }))];
  // Only a container with its own UTS namespace may set a hostname.
  if (joinPid === null || ownNamespaces) spec.hostname = 'web-7d9f8b6c5-x2k4p';
  else delete spec.hostname;
  writeFileSync(join(dir, 'config.json'), JSON.stringify(spec));
  return dir;
}

/** What containerd does for each container: `runc create` (through BinaryName = the shim), then `runc start`. */
function runPodContainer(id: string, dir: string, shimEnv: NodeJS.ProcessEnv = env): number {
  sh(SHIM, ['--root', runcRoot, 'create', '--bundle', dir, '--pid-file', join(dir, 'init.pid'), id], shimEnv);
  created.push(id);
  sh('runc', ['--root', runcRoot, 'start', id]);
  return Number(readFileSync(join(dir, 'init.pid'), 'utf8').trim());
}

beforeAll(() => {
  mkdirSync(join(rootfs, 'bin'), { recursive: true });
  copyFileSync('/bin/busybox', join(rootfs, 'bin/busybox'));
  for (const tool of ['sh', 'sleep']) symlinkSync('busybox', join(rootfs, 'bin', tool));
  mkdirSync(runcRoot, { recursive: true });
});

afterAll(() => {
  for (const id of created) spawnSync('runc', ['--root', runcRoot, 'delete', '--force', id], { stdio: 'ignore' });
  state.cleanup();
});

test('containerd-shaped pod through the real contid-runc shim and runc: the spool consumer names both containers and makes the sandbox the parent', async () => {
  const sandboxId = uniqueName('k8s-sandbox').replace(/[^a-z0-9-]/g, '');
  const appId = uniqueName('k8s-nginx').replace(/[^a-z0-9-]/g, '');
  const pod = { 'io.kubernetes.cri.sandbox-id': sandboxId };

  const sandboxPid = runPodContainer(sandboxId, bundle(sandboxId, { ...fixture('containerd-sandbox').annotations, ...pod }, null));
  const tagger = Tagger.open({ stateDir, failPolicy: 'closed' });
  try {
    const consumer = new SpoolConsumer({ tagger, spool: new Spool(join(stateDir, 'spool')), identifiers: [kubernetesIdentifier], pidFileWaitMs: 5_000 });
    // The sandbox is registered before the app container is created, as the pod's start order guarantees.
    expect(await consumer.drain()).toEqual([expect.objectContaining({ kind: 'tagged', op: 'create' })]);
    const sandbox = tagger.containers.findByRuntimeId(sandboxId)!;
    expect(sandbox).toMatchObject({ orchestrator: 'kubernetes', name: 'shop/web-7d9f8b6c5-x2k4p', initPid: sandboxPid });
    expect(sandbox.labels).toMatchObject({ 'contid.io/container-type': 'sandbox', 'io.kubernetes.pod.uid': '0b6f2c1e-3d4a-4e5f-8a9b-1c2d3e4f5a6b' });

    const appPid = runPodContainer(appId, bundle(appId, { ...fixture('containerd-container').annotations, ...pod }, sandboxPid));
    expect(readlinkSync(`/proc/${appPid}/ns/ipc`)).toBe(readlinkSync(`/proc/${sandboxPid}/ns/ipc`));
    expect(await consumer.drain()).toEqual([expect.objectContaining({ kind: 'tagged', op: 'create' })]);
    const app = tagger.containers.findByRuntimeId(appId)!;
    expect(app).toMatchObject({ orchestrator: 'kubernetes', name: 'shop/web-7d9f8b6c5-x2k4p/nginx', image: 'docker.io/library/nginx:1.27', parent: sandbox.contid, initPid: appPid });
    // The container's processes carry the session the shim renewed, which the registry binds.
    expect(Number(readFileSync(`/proc/${appPid}/sessionid`, 'utf8'))).toBe(app.session);

    const lines = await waitForAudit(['-m', 'VIRT_CONTROL', '--uuid', appId], (ls) => ls.some((l) => field(l, 'op') === 'create'));
    const record = lines.find((l) => field(l, 'op') === 'create')!;
    expect(field(record, 'virt')).toBe('kubernetes');
    expect(field(record, 'vm')).toBe('shop/web-7d9f8b6c5-x2k4p/nginx');
    expect(field(record, 'contid')).toBe(formatContainerId(app.contid));
    expect(field(record, 'parent-contid')).toBe(formatContainerId(sandbox.contid));
    expect(field(record, 'vm-ses')).toBe(String(app.session));
  } finally {
    tagger.close();
  }
});

test('CRI annotations prove nothing alone (outside attack 14, F1, N3): a container another engine made is not a pod’s, and a parent must be the pod’s sandbox, sharing its namespaces', async () => {
  const sandboxId = uniqueName('k8s-sb3').replace(/[^a-z0-9-]/g, '');
  const pod = { 'io.kubernetes.cri.sandbox-id': sandboxId };
  const sandboxPid = runPodContainer(sandboxId, bundle(sandboxId, { ...fixture('containerd-sandbox').annotations, ...pod }, null));
  const tagger = Tagger.open({ stateDir, failPolicy: 'closed' });
  try {
    const consumer = new SpoolConsumer({ tagger, spool: new Spool(join(stateDir, 'spool')), identifiers: [kubernetesIdentifier], pidFileWaitMs: 5_000 });
    await consumer.drain();
    const sandbox = tagger.containers.findByRuntimeId(sandboxId)!;
    expect(sandbox).toMatchObject({ orchestrator: 'kubernetes', name: 'shop/web-7d9f8b6c5-x2k4p' });

    // Docker ≥ 24 passes its caller's --annotation into config.json; its tasks are containerd's `moby` namespace.
    const dockerId = uniqueName('k8s-moby').replace(/[^a-z0-9-]/g, '');
    runPodContainer(dockerId, bundle(dockerId, { ...fixture('containerd-container').annotations, ...pod }, sandboxPid, 'moby'));
    await consumer.drain();
    const docker = tagger.containers.findByRuntimeId(dockerId)!;
    expect(docker).toMatchObject({ orchestrator: 'oci', parent: null });
    expect(docker.name).not.toContain('shop/');

    // containerd's own app container naming, as its sandbox, a runtime id that is no Kubernetes sandbox: no parent.
    const strayId = uniqueName('k8s-stray').replace(/[^a-z0-9-]/g, '');
    runPodContainer(strayId, bundle(strayId, { ...fixture('containerd-container').annotations, 'io.kubernetes.cri.sandbox-id': dockerId }, sandboxPid));
    await consumer.drain();
    expect(tagger.containers.findByRuntimeId(strayId)).toMatchObject({ orchestrator: 'kubernetes', parent: null });

    // One naming the real sandbox but in namespaces of its own is no member of the pod: no parent.
    const loneId = uniqueName('k8s-lone').replace(/[^a-z0-9-]/g, '');
    runPodContainer(loneId, bundle(loneId, { ...fixture('containerd-container').annotations, ...pod }, sandboxPid, 'k8s.io', true));
    await consumer.drain();
    expect(tagger.containers.findByRuntimeId(loneId)).toMatchObject({ orchestrator: 'kubernetes', parent: null });

    // The pod's real member: the sandbox's child.
    const appId = uniqueName('k8s-app3').replace(/[^a-z0-9-]/g, '');
    runPodContainer(appId, bundle(appId, { ...fixture('containerd-container').annotations, ...pod }, sandboxPid));
    await consumer.drain();
    expect(tagger.containers.findByRuntimeId(appId)).toMatchObject({ orchestrator: 'kubernetes', parent: sandbox.contid });
    expect(tagger.containers.children(sandbox.contid).map((c) => c.runtimeId)).toEqual([appId]);
  } finally {
    tagger.close();
  }
});

test('emulated API server: `contid agent kubernetes` drains the shim’s spool under the claimed prefix and annotates the pod', async () => {
  const stateDir2 = join(state.dir, 'agent-state');
  const agentEnv = { ...env, CONTID_STATE_DIR: stateDir2 };
  const { server, stop } = await startNodeAgent(state.dir, agentEnv);
  try {
    const sandboxId = uniqueName('k8s-sb2').replace(/[^a-z0-9-]/g, '');
    const appId = uniqueName('k8s-app2').replace(/[^a-z0-9-]/g, '');
    const pod = { 'io.kubernetes.cri.sandbox-id': sandboxId };
    const sandboxPid = runPodContainer(sandboxId, bundle(sandboxId, { ...fixture('containerd-sandbox').annotations, ...pod }, null), agentEnv);
    runPodContainer(appId, bundle(appId, { ...fixture('containerd-container').annotations, ...pod }, sandboxPid), agentEnv);

    server.addPod({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'web-7d9f8b6c5-x2k4p', namespace: 'shop' },
      spec: { nodeName: 'node-2', containers: [{ name: 'nginx', image: 'nginx:1.27' }] },
      status: { containerStatuses: [{ name: 'nginx', containerID: `containerd://${appId}`, image: 'nginx:1.27', imageID: '', ready: true, restartCount: 0 }] },
    });
    const raw = await waitFor('the pod annotation', () => server.getPod('shop', 'web-7d9f8b6c5-x2k4p')?.metadata.annotations?.[CONTAINERS_ANNOTATION], 20_000);
    const ids = JSON.parse(raw) as Record<string, string>;
    expect(Object.keys(ids).sort()).toEqual(['POD', 'nginx']);
    // Node 2's IDs: prefix 2 in the high 16 bits, distinct from node-1's.
    expect(Object.values(ids).map((v) => Number(BigInt(v) >> 48n))).toEqual([2, 2]);
    const lines = await waitForAudit(['-m', 'VIRT_CONTROL', '--uuid', appId], (ls) => ls.some((l) => field(l, 'op') === 'create'));
    const record = lines.find((l) => field(l, 'op') === 'create')!;
    expect(field(record, 'contid')).toBe(ids.nginx);
    expect(field(record, 'parent-contid')).toBe(ids.POD);
    expect(field(record, 'id-prefix')).toBe('2');
  } finally {
    await stop();
  }
});
