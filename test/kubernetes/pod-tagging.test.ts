import { ChildProcess, spawn } from 'node:child_process';
import { readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { Registry, Tagger, decodeValue, formatContainerId, readSessionId } from '@contid/core';
import { CONTAINERS_ANNOTATION, KubernetesAgent, clientNode, identifyPodContainer } from '@contid/kubernetes';
import { field, waitForAudit } from '../helpers/audit';
import { tempStateDir } from '../helpers/cli';
import { EmulatedApiServer } from './emulated-api-server';
import { waitFor } from '../helpers/wait';

const fixture = (name: string): unknown => JSON.parse(readFileSync(join(__dirname, 'fixtures', `${name}.config.json`), 'utf8'));
const SANDBOX_ID = '4f1c7a2b9e0d6c3a8b5f2e1d0c9b8a7f6e5d4c3b2a1f0e9d8c7b6a5f4e3d2c1b';
const NGINX_ID = '9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b';


/**
 * A process standing in for a pod container: it renews its own audit session (as the runtime
 * shim does before exec'ing runc) and then sleeps. The "sandbox" gets its own IPC and UTS
 * namespaces; the app container joins them, as a pod's containers join the pause container's.
 */
function podProcess(joinPid?: number): ChildProcess {
  const body = 'echo 0 > /proc/self/loginuid && exec sleep 120';
  const argv = joinPid === undefined ? ['unshare', '--ipc', '--uts', '--', 'sh', '-c', body] : ['nsenter', '-t', String(joinPid), '--ipc', '--uts', '--', 'sh', '-c', body];
  return spawn(argv[0], argv.slice(1), { stdio: 'ignore' });
}

async function renewed(child: ChildProcess): Promise<number> {
  const pid = child.pid!;
  await waitFor(`pid ${pid} to renew its session and exec sleep`, () => {
    try {
      return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'sleep' && readSessionId(pid) !== readSessionId('self');
    } catch {
      return false;
    }
  });
  return pid;
}

describe('a pod on the real kernel: containerd-shaped config.json → Tagger → auditd, and the agent annotates it (emulated API server)', () => {
  const state = tempStateDir('k8s-pod');
  const server = new EmulatedApiServer();
  const children: ChildProcess[] = [];
  let registry: Registry;
  let tagger: Tagger;
  let agent: KubernetesAgent;

  beforeAll(async () => {
    await server.start();
    registry = Registry.open(state.env.CONTID_STATE_DIR!);
    tagger = Tagger.open({ stateDir: state.env.CONTID_STATE_DIR!, writePath: 'session', failPolicy: 'closed' }, { registry });
    const kc = new (clientNode().KubeConfig)();
    kc.loadFromOptions({
      clusters: [{ name: 'e', server: server.url, skipTLSVerify: true }],
      users: [{ name: 'u', token: 't' }],
      contexts: [{ name: 'e', cluster: 'e', user: 'u' }],
      currentContext: 'e',
    });
    server.putConfigMap({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'contid-node-prefixes', namespace: 'contid-system' }, data: { 'other-node': '1' } });
    agent = new KubernetesAgent({ kubeConfig: kc, tagger, nodeName: 'worker-7', namespace: 'contid-system', resyncMs: 300 });
  });

  afterAll(async () => {
    for (const c of children) c.kill('SIGKILL');
    await agent.stop();
    tagger.close();
    await server.stop();
    state.cleanup();
  });

  test('emulated API server: sandbox is the parent, records carry the node prefix and the pod’s shared namespaces, the pod is annotated; exits and deletion end them', async () => {
    // The agent claims the node's prefix before the runtime creates anything.
    expect(await agent.start()).toMatchObject({ prefix: 2 });

    const sandboxProc = podProcess();
    children.push(sandboxProc);
    const sandboxPid = await renewed(sandboxProc);
    const sandboxSpec = identifyPodContainer(fixture('containerd-sandbox'), registry)!;
    const sandbox = tagger.create({ ...sandboxSpec, runtimeId: SANDBOX_ID, parent: sandboxSpec.parent, target: { pid: sandboxPid } }).container;

    const appProc = podProcess(sandboxPid);
    children.push(appProc);
    const appPid = await renewed(appProc);
    // containerd writes the sandbox's init into the app's namespace paths (/proc/PID/ns/…).
    const appConfig = fixture('containerd-container') as { linux: { namespaces: { type: string; path?: string }[] } };
    for (const ns of appConfig.linux.namespaces) if (ns.path) ns.path = ns.path.replace('/proc/4242/', `/proc/${sandboxPid}/`);
    const appSpec = identifyPodContainer(appConfig, registry)!;
    expect(appSpec.parent).toBe(sandbox.contid);
    const app = tagger.create({ ...appSpec, runtimeId: NGINX_ID, parent: appSpec.parent, target: { pid: appPid } }).container;
    expect(readlinkSync(`/proc/${appPid}/ns/ipc`)).toBe(readlinkSync(`/proc/${sandboxPid}/ns/ipc`));

    // The kernel's own record of it, via auditd.
    const ids = [sandbox, app].map((c) => formatContainerId(c.contid));
    const lines = await waitForAudit(['-m', 'VIRT_CONTROL', '--uuid', NGINX_ID], (ls) => ls.some((l) => field(l, 'contid') === ids[1]));
    const appRecord = lines.find((l) => field(l, 'contid') === ids[1])!;
    expect(appRecord).toBeDefined();
    expect(field(appRecord, 'virt')).toBe('kubernetes');
    expect(field(appRecord, 'op')).toBe('create');
    expect(field(appRecord, 'vm')).toBe('shop/web-7d9f8b6c5-x2k4p/nginx');
    expect(field(appRecord, 'parent-contid')).toBe(ids[0]);
    expect(field(appRecord, 'id-prefix')).toBe('2');
    expect(field(appRecord, 'vm-ses')).toBe(String(readSessionId(appPid)));
    const sandboxLines = await waitForAudit(['-m', 'VIRT_CONTROL', '--uuid', SANDBOX_ID], (ls) => ls.some((l) => field(l, 'contid') === ids[0]));
    const sandboxRecord = sandboxLines.find((l) => field(l, 'contid') === ids[0])!;
    const nsOf = (l: string, kind: string) => new RegExp(`${kind}:(\\d+)`).exec(field(l, 'ns') ?? '')?.[1];
    expect(nsOf(appRecord, 'ipc')).toBe(nsOf(sandboxRecord, 'ipc'));
    expect(nsOf(appRecord, 'uts')).toBe(nsOf(sandboxRecord, 'uts'));

    // The kubelet reports the container; the agent answers "which pod is contid N?" on the API.
    server.addPod({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'web-7d9f8b6c5-x2k4p', namespace: 'shop', uid: '0b6f2c1e-3d4a-4e5f-8a9b-1c2d3e4f5a6b' },
      spec: { nodeName: 'worker-7', serviceAccountName: 'default', containers: [{ name: 'nginx', image: 'nginx:1.27' }] },
      status: { containerStatuses: [{ name: 'nginx', containerID: `containerd://${NGINX_ID}`, image: 'nginx:1.27', imageID: '', ready: true, restartCount: 0 }] },
    });
    const annotation = await waitFor('the pod annotation', () => server.getPod('shop', 'web-7d9f8b6c5-x2k4p')?.metadata.annotations?.[CONTAINERS_ANNOTATION]);
    expect(JSON.parse(annotation)).toEqual({ nginx: ids[1], POD: ids[0] });
    expect(registry.get(app.contid)!.labels).toMatchObject({ 'io.kubernetes.pod.namespace': 'shop', 'contid.io/service-account': 'default', 'contid.io/node': 'worker-7' });

    // The kubelet reports nginx exited: its identity ends, in the registry and in the audit trail.
    server.updatePod('shop', 'web-7d9f8b6c5-x2k4p', (p) => {
      (p.status as { containerStatuses: Record<string, unknown>[] }).containerStatuses[0].state = { terminated: { exitCode: 137, containerID: `containerd://${NGINX_ID}`, reason: 'OOMKilled' } };
    });
    await waitFor('nginx to end', () => registry.get(app.contid)!.state === 'ended');
    const ends = await waitForAudit(['-m', 'VIRT_CONTROL', '--uuid', NGINX_ID], (ls) => ls.some((l) => field(l, 'contid') === ids[1] && field(l, 'op') === 'end'));
    expect(decodeValue(field(ends.find((l) => field(l, 'contid') === ids[1] && field(l, 'op') === 'end')!, 'reason')!)).toBe('exited 137');
    expect(registry.get(sandbox.contid)!.state).toBe('running');

    // The pod is deleted: its sandbox ends too.
    server.deletePod('shop', 'web-7d9f8b6c5-x2k4p');
    await waitFor('the sandbox to end', () => registry.get(sandbox.contid)!.state === 'ended');
  });
});
