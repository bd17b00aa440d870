import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Registry, formatContainerId } from '@contid/core';
import { CONTAINERS_ANNOTATION } from '@contid/kubernetes';
import { CONTID_MAIN, contid, tempStateDir } from '../helpers/cli';
import { EmulatedApiServer } from './emulated-api-server';
import { waitFor as waitForProbe } from '../helpers/wait';

/** The built CLI starts a Node process per agent: allow it 20 s. */
const waitFor = <T>(what: string, probe: () => T | undefined | null | false, timeoutMs = 20_000): Promise<T> => waitForProbe(what, probe, timeoutMs);

describe('contid agent kubernetes (the built CLI, emulated API server)', () => {
  const state = tempStateDir('k8s-cli');
  const server = new EmulatedApiServer();
  const kubeconfig = join(state.dir, 'kubeconfig');

  beforeAll(async () => {
    await server.start();
    writeFileSync(
      kubeconfig,
      [
        'apiVersion: v1',
        'kind: Config',
        `clusters: [{name: emulated, cluster: {server: "${server.url}", insecure-skip-tls-verify: true}}]`,
        'users: [{name: agent, user: {token: emulated-token}}]',
        'contexts: [{name: emulated, context: {cluster: emulated, user: agent}}]',
        'current-context: emulated',
      ].join('\n'),
    );
  });
  afterAll(async () => {
    await server.stop();
    state.cleanup();
  });

  test('emulated API server: claims a prefix, annotates its node’s pod, stops cleanly on SIGTERM', async () => {
    const registry = Registry.open(state.env.CONTID_STATE_DIR!);
    const runtimeId = 'a1'.repeat(32);
    const child = spawn(process.execPath, [CONTID_MAIN, 'agent', 'kubernetes', '--node', 'worker-1', '--namespace', 'contid-system', '--kubeconfig', kubeconfig, '--resync', '1'], {
      env: state.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      await waitFor('the prefix claim', () => server.getConfigMap('contid-system', 'contid-node-prefixes')?.data);
      await waitFor('the registry to carry the prefix', () => registry.ids.nodePrefix() === 1);
      const row = registry.registerContainer({ orchestrator: 'kubernetes', name: 'default/api-0/api', runtimeId });
      server.addPod({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'api-0', namespace: 'default', ownerReferences: [{ apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'api', uid: 'sts', controller: true }] },
        spec: { nodeName: 'worker-1', serviceAccountName: 'api', containers: [{ name: 'api', image: 'api:1' }] },
        status: { containerStatuses: [{ name: 'api', containerID: `containerd://${runtimeId}`, image: 'api:1', imageID: '', ready: true, restartCount: 0 }] },
      });
      const annotation = await waitFor('the pod annotation', () => server.getPod('default', 'api-0')?.metadata.annotations?.[CONTAINERS_ANNOTATION]);
      expect(JSON.parse(annotation)).toEqual({ api: formatContainerId(row.contid) });
      expect(registry.get(row.contid)!.labels).toMatchObject({ 'contid.io/workload': 'StatefulSet/api', 'contid.io/service-account': 'api' });
      expect(stderr).toMatch(/watching pods of node worker-1 \(ID prefix 1\)/);
    } finally {
      child.kill('SIGTERM');
      const code = await exited;
      if (code !== 0) throw new Error(`agent exited ${code}: ${stderr}`);
      registry.close();
    }
  });

  test('bad input: one line on stderr, non-zero exit, no stack', () => {
    const plainHttpKubeconfig = join(state.dir, 'kubeconfig-http');
    writeFileSync(plainHttpKubeconfig, readFileSync(kubeconfig, 'utf8').replace(', insecure-skip-tls-verify: true', ''));
    for (const args of [
      ['--kubeconfig', join(state.dir, 'missing')],
      ['--node', 'Not_A_Node', '--kubeconfig', kubeconfig],
      ['--resync', '0', '--kubeconfig', kubeconfig],
      // plain http without insecure-skip-tls-verify: a configuration error, not an outage to wait out
      ['--kubeconfig', plainHttpKubeconfig],
    ]) {
      const r = contid(['agent', 'kubernetes', ...args], { env: state.env });
      expect(r.status).not.toBe(0);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(/^contid: /);
    }
  });
});

describe('contid agent kubernetes while the API server is unreachable', () => {
  const state = tempStateDir('k8s-cli-down');
  afterAll(() => state.cleanup());

  test('keeps retrying the prefix claim, and SIGTERM ends it at once with exit 0', async () => {
    const kubeconfig = join(state.dir, 'kubeconfig');
    // A port nothing listens on: connection refused, an outage to wait out.
    writeFileSync(kubeconfig, 'apiVersion: v1\nkind: Config\nclusters: [{name: e, cluster: {server: "http://127.0.0.1:9", insecure-skip-tls-verify: true}}]\nusers: [{name: u, user: {token: t}}]\ncontexts: [{name: e, context: {cluster: e, user: u}}]\ncurrent-context: e\n');
    const child = spawn(process.execPath, [CONTID_MAIN, 'agent', 'kubernetes', '--node', 'n1', '--kubeconfig', kubeconfig], { env: state.env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    await waitFor('three failed claims', () => (stderr.match(/claiming a node prefix failed \(.*ECONNREFUSED.*\); retrying in \d+ ms/g) ?? []).length >= 3);
    const t = Date.now();
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(Date.now() - t).toBeLessThan(1_500); // not after the current back-off delay
  });
});

describe('contid agent kubernetes stopped during its start (emulated API server)', () => {
  const state = tempStateDir('k8s-cli-stop');
  const server = new EmulatedApiServer();
  afterAll(async () => {
    await server.stop();
    state.cleanup();
  });

  // @kubernetes/client-node's ListWatch forgets a stop() made while its list is in flight: when
  // the list answers, it opens a watch nobody stops, and the agent idled on it forever.
  test('SIGTERM while its first pod list is in flight: exits 0 and never opens the watch', async () => {
    await server.start();
    const listDelayMs = 6_000;
    server.podListDelayMs = listDelayMs;
    const kubeconfig = join(state.dir, 'kubeconfig');
    writeFileSync(kubeconfig, server.kubeconfig());
    const child = spawn(process.execPath, [CONTID_MAIN, 'agent', 'kubernetes', '--node', 'worker-2', '--kubeconfig', kubeconfig, '--no-drain-spool'], {
      env: state.env,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const podLists = () => server.requests.filter((r) => r.method === 'GET' && r.path === '/api/v1/pods' && r.query.watch !== 'true');
    const podWatches = () => server.requests.filter((r) => r.method === 'GET' && r.path === '/api/v1/pods' && r.query.watch === 'true');
    try {
      await waitFor('the pod list to be asked for', () => podLists().length > 0);
      const t = Date.now();
      child.kill('SIGTERM');
      const stillRunning = new Promise<string>((r) => setTimeout(() => r('still running 12 s after SIGTERM'), 12_000).unref());
      expect(await Promise.race([exited, stillRunning])).toBe(0);
      // Stopping does not wait for the list to answer (an API server may hold it for minutes).
      expect(Date.now() - t).toBeLessThan(listDelayMs - 1_000);
      expect(stderr).toMatch(/SIGTERM: stopping/);
      // The list answers after the agent is gone: no watch was ever opened.
      await new Promise((r) => setTimeout(r, listDelayMs - (Date.now() - t) + 500));
      expect(podWatches()).toHaveLength(0);
    } finally {
      child.kill('SIGKILL');
    }
  }, 40_000);
});

// attack33: an API server that holds a request the agent is waiting on (a partition, a stuck
// etcd) must not keep a stopped agent alive: the pod list was fixed (296eb6d), not the rest.
describe('contid agent kubernetes stopped while the API server holds a write or the prefix claim (emulated API server)', () => {
  const state = tempStateDir('k8s-cli-held');
  const server = new EmulatedApiServer();
  beforeAll(() => server.start());
  afterAll(async () => {
    await server.stop();
    state.cleanup();
  });

  const agent = (node: string) => {
    const kubeconfig = join(state.dir, 'kubeconfig');
    writeFileSync(kubeconfig, server.kubeconfig());
    const child = spawn(process.execPath, [CONTID_MAIN, 'agent', 'kubernetes', '--node', node, '--kubeconfig', kubeconfig, '--no-drain-spool', '--resync', '1'], {
      env: state.env,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const stillRunning = (ms: number) => new Promise<string>((r) => setTimeout(() => r(`still running ${ms / 1000} s after SIGTERM`), ms).unref());
    return { child, exited, stillRunning, stderr: () => stderr };
  };

  test('SIGTERM while its pod annotation PATCH is held: exits 0 within the grace, and the enrichment made before it is kept', async () => {
    const registry = Registry.open(state.env.CONTID_STATE_DIR!);
    const runtimeId = 'b2'.repeat(32);
    server.podPatchDelayMs = 25_000;
    const a = agent('worker-3');
    try {
      await waitFor('the registry to carry the prefix', () => registry.ids.nodePrefix() !== null);
      const row = registry.registerContainer({ orchestrator: 'kubernetes', name: 'default/web-0/web', runtimeId });
      server.addPod({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'web-0', namespace: 'default' },
        spec: { nodeName: 'worker-3', serviceAccountName: 'web', containers: [{ name: 'web', image: 'web:1' }] },
        status: { containerStatuses: [{ name: 'web', containerID: `containerd://${runtimeId}`, image: 'web:1', imageID: '', ready: true, restartCount: 0 }] },
      });
      await waitFor('the PATCH to be sent', () => server.requests.some((r) => r.method === 'PATCH'));
      const t = Date.now();
      a.child.kill('SIGTERM');
      expect(await Promise.race([a.exited, a.stillRunning(12_000)])).toBe(0);
      expect(Date.now() - t).toBeLessThan(8_000);
      expect(registry.get(row.contid)!.labels).toMatchObject({ 'contid.io/service-account': 'web' });
    } finally {
      a.child.kill('SIGKILL');
      server.podPatchDelayMs = 0;
      registry.close();
    }
  }, 40_000);

  // The claim was stored by the API server, but its answer came after the agent had stopped
  // waiting: the registry has no prefix. The next start must find it held by this node and take
  // it, not claim a second one nor refuse (stop 33 left this unchecked).
  test('SIGTERM while its prefix claim (the ConfigMap write) is held: the next start finds the prefix already held and takes it', async () => {
    const own = tempStateDir('k8s-cli-claim');
    const registry = Registry.open(own.env.CONTID_STATE_DIR!);
    const kubeconfig = join(own.dir, 'kubeconfig');
    writeFileSync(kubeconfig, server.kubeconfig());
    const start = () => {
      const child = spawn(process.execPath, [CONTID_MAIN, 'agent', 'kubernetes', '--node', 'worker-5', '--kubeconfig', kubeconfig, '--no-drain-spool'], { env: own.env, stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      return { child, exited: new Promise<number | null>((r) => child.on('exit', (code) => r(code))), stderr: () => stderr };
    };
    const held = () => (server.getConfigMap('contid-system', 'contid-node-prefixes')?.data as Record<string, string> | undefined)?.['worker-5'];
    server.configMapWriteDelayMs = 25_000;
    const first = start();
    let second: ReturnType<typeof start> | null = null;
    try {
      const stored = await waitFor('the claim to be stored', () => held());
      first.child.kill('SIGTERM');
      expect(await Promise.race([first.exited, new Promise((r) => setTimeout(() => r('still running 12 s after SIGTERM'), 12_000).unref())])).toBe(0);
      expect([registry.ids.nodePrefix(), first.stderr()]).toEqual([null, expect.not.stringMatching(/\n\s+at /)]);
      server.configMapWriteDelayMs = 0;
      second = start();
      await waitFor('the second start to take the prefix', () => registry.ids.nodePrefix() !== null);
      expect(registry.ids.nodePrefix()).toBe(Number(stored));
      await waitFor('its log line', () => second!.stderr().includes(`ID prefix ${stored} (already held)`));
      expect(held()).toBe(stored);
    } finally {
      server.configMapWriteDelayMs = 0;
      first.child.kill('SIGKILL');
      second?.child.kill('SIGKILL');
      registry.close();
      own.cleanup();
    }
  }, 60_000);

  test('SIGTERM while its prefix claim (the ConfigMap read) is held: exits 0 within the grace', async () => {
    server.configMapReadDelayMs = 25_000;
    const reads = () => server.requests.filter((r) => r.method === 'GET' && r.path.includes('/configmaps/')).length;
    const before = reads();
    const a = agent('worker-4');
    try {
      await waitFor('the prefix ConfigMap to be read', () => reads() > before);
      const t = Date.now();
      a.child.kill('SIGTERM');
      expect([await Promise.race([a.exited, a.stillRunning(12_000)]), a.stderr()]).toEqual([0, expect.stringContaining('SIGTERM: stopping')]);
      expect(Date.now() - t).toBeLessThan(8_000);
      expect(a.stderr()).not.toMatch(/\n\s+at /);
    } finally {
      a.child.kill('SIGKILL');
      server.configMapReadDelayMs = 0;
    }
  }, 40_000);
});
