import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuditSink, ContidError, ContainerRecord, Registry, Tagger, formatContainerId, prefixOf } from '@contid/core';
import { CONTAINERS_ANNOTATION, KubernetesAgent, clientNode } from '@contid/kubernetes';
import { EmulatedApiServer, KObject } from './emulated-api-server';
import { waitFor } from '../helpers/wait';

const NS = 'contid-system';

/** The audit trail the agent's enrichments go to (fake rows must not reach the host's real log). */
class RecordingSink implements AuditSink {
  readonly texts: string[] = [];
  send(_type: number, message: string): void {
    this.texts.push(message);
  }
  close(): void {}
}

/** The core's operations over a test registry: the agent writes only through them. */
function taggerOver(registry: Registry, sink = new RecordingSink()): Tagger {
  return Tagger.open({ stateDir: registry.dir, writePath: 'session', failPolicy: 'closed', nodeName: 'k8s-agent-test' }, { registry, sink, trustedCaller: true });
}
const CM = 'contid-node-prefixes';

function kubeConfigFor(server: EmulatedApiServer) {
  const kc = new (clientNode().KubeConfig)();
  kc.loadFromOptions({
    clusters: [{ name: 'emulated', server: server.url, skipTLSVerify: true }],
    users: [{ name: 'agent', token: 'emulated-token' }],
    contexts: [{ name: 'emulated', cluster: 'emulated', user: 'agent' }],
    currentContext: 'emulated',
  });
  return kc;
}


const hex = (seed: string): string => Buffer.from(seed.padEnd(32, '.')).toString('hex').slice(0, 64);

/** A pod as the kubelet reports it once its containers run under containerd. */
function podOn(node: string, ns: string, name: string, containers: { name: string; id: string }[]): KObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: ns,
      labels: { app: name.split('-')[0], 'pod-template-hash': '7d9f8b6c5' },
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: `${name.split('-')[0]}-7d9f8b6c5`, uid: 'rs-uid', controller: true }],
    },
    spec: { nodeName: node, serviceAccountName: `${name.split('-')[0]}-sa`, containers: containers.map((c) => ({ name: c.name, image: 'nginx:1.27' })) },
    status: {
      phase: 'Running',
      containerStatuses: containers.map((c) => ({
        name: c.name,
        containerID: `containerd://${c.id}`,
        image: 'docker.io/library/nginx:1.27',
        imageID: '',
        ready: true,
        restartCount: 0,
        started: true,
        state: { running: { startedAt: '2026-11-29T04:00:00Z' } },
      })),
    },
  };
}

/** Registry rows as the runtime shim's consumer writes them for a pod: the sandbox, then its containers. */
function registerPod(registry: Registry, ns: string, pod: string, containers: { name: string; id: string }[]): { sandbox: ContainerRecord; apps: ContainerRecord[] } {
  const sandbox = registry.registerContainer({
    orchestrator: 'kubernetes',
    name: `${ns}/${pod}`,
    runtimeId: hex(`sandbox-${ns}-${pod}`),
    labels: { 'contid.io/container-type': 'sandbox' },
  });
  const apps = containers.map((c) =>
    registry.registerContainer({
      orchestrator: 'kubernetes',
      name: `${ns}/${pod}/${c.name}`,
      runtimeId: c.id,
      labels: { 'contid.io/container-type': 'container' },
      parent: sandbox.contid,
    }),
  );
  return { sandbox, apps };
}

const annotationOf = (server: EmulatedApiServer, ns: string, name: string): Record<string, string> | undefined => {
  const raw = server.getPod(ns, name)?.metadata.annotations?.[CONTAINERS_ANNOTATION];
  return raw === undefined ? undefined : (JSON.parse(raw) as Record<string, string>);
};

describe('kubernetes node agent (emulated API server)', () => {
  let server: EmulatedApiServer;
  let scratch: string;
  const agents: KubernetesAgent[] = [];
  const registries: Registry[] = [];
  const logs: string[] = [];

  function openRegistry(label: string): Registry {
    const r = Registry.open(join(scratch, label));
    registries.push(r);
    return r;
  }

  function agentFor(node: string, registry: Registry, log: string[] = logs, sink = new RecordingSink()): KubernetesAgent {
    const agent = new KubernetesAgent({
      kubeConfig: kubeConfigFor(server),
      tagger: taggerOver(registry, sink),
      nodeName: node,
      namespace: NS,
      resyncMs: 300,
      backoffInitialMs: 100,
      backoffMaxMs: 1_000,
      log: (line) => log.push(line),
    });
    agents.push(agent);
    return agent;
  }

  beforeEach(async () => {
    scratch = mkdtempSync(join(tmpdir(), 'contid-k8s-agent-'));
    server = new EmulatedApiServer();
    await server.start();
  });

  afterEach(async () => {
    await Promise.all(agents.splice(0).map((a) => a.stop()));
    for (const r of registries.splice(0)) r.close();
    await server.stop();
    rmSync(scratch, { recursive: true, force: true });
    logs.length = 0;
  });

  test('emulated API server: pods on the node are annotated with their contids and registry rows enriched', async () => {
    const registry = openRegistry('node-a');
    const web = [
      { name: 'nginx', id: hex('web-nginx') },
      { name: 'log-shipper', id: hex('web-logs') },
    ];
    server.addPod(podOn('node-a', 'shop', 'web-7d9f8b6c5-x2k4p', web));
    server.addPod(podOn('node-b', 'shop', 'cart-7d9f8b6c5-q9w8e', [{ name: 'cart', id: hex('cart') }]));
    const sink = new RecordingSink();
    const agent = agentFor('node-a', registry, logs, sink);
    const claim = await agent.start();
    expect(claim).toMatchObject({ prefix: 1, claimedNow: true });
    expect(registry.ids.nodePrefix()).toBe(1);

    // Rows created after the prefix claim carry it; the agent finds them by runtime id.
    const { sandbox, apps } = registerPod(registry, 'shop', 'web-7d9f8b6c5-x2k4p', web);
    expect(apps.map((a) => prefixOf(a.contid))).toEqual([1, 1]);
    const annotation = await waitFor('the web pod annotation', () => annotationOf(server, 'shop', 'web-7d9f8b6c5-x2k4p'));
    expect(annotation).toEqual({
      nginx: formatContainerId(apps[0].contid),
      'log-shipper': formatContainerId(apps[1].contid),
      POD: formatContainerId(sandbox.contid),
    });
    // The pod on another node is not this agent's: never listed, never patched.
    expect(annotationOf(server, 'shop', 'cart-7d9f8b6c5-q9w8e')).toBeUndefined();
    expect(agent.pods().map((p) => p.metadata?.name)).toEqual(['web-7d9f8b6c5-x2k4p']);
    expect(server.requests.filter((r) => r.path === '/api/v1/pods').every((r) => r.query.fieldSelector === 'spec.nodeName=node-a')).toBe(true);
    const patches = server.requests.filter((r) => r.method === 'PATCH');
    expect(patches.length).toBeGreaterThan(0);
    expect(patches.every((p) => p.contentType === 'application/merge-patch+json')).toBe(true);

    const nginx = registry.get(apps[0].contid)!;
    expect(nginx.labels).toMatchObject({
      app: 'web',
      'io.kubernetes.pod.name': 'web-7d9f8b6c5-x2k4p',
      'io.kubernetes.pod.namespace': 'shop',
      'io.kubernetes.container.name': 'nginx',
      'contid.io/owner': 'ReplicaSet/web-7d9f8b6c5',
      'contid.io/workload': 'Deployment/web',
      'contid.io/service-account': 'web-sa',
      'contid.io/container-type': 'container',
    });
    // The enrichment went through the core: one op=update record for the row, none repeated on resync.
    const updates = () => sink.texts.filter((t) => t.includes(' op=update ') && t.includes(` contid=${formatContainerId(nginx.contid)} `));
    expect(updates()).toHaveLength(1);
    await new Promise((r) => setTimeout(r, 700)); // two resyncs
    expect(updates()).toHaveLength(1);
    expect(registry.get(sandbox.contid)!.labels).toMatchObject({ 'contid.io/workload': 'Deployment/web', 'contid.io/container-type': 'sandbox' });

    // Steady state: the resync finds nothing to change, so no further patches.
    const before = agent.stats.patches;
    await new Promise((r) => setTimeout(r, 800));
    expect(agent.stats.patches).toBe(before);

    // A restarted container (new runtime id, new contid) replaces its entry.
    const restarted = { name: 'nginx', id: hex('web-nginx-2') };
    const row = registry.registerContainer({ orchestrator: 'kubernetes', name: 'shop/web-7d9f8b6c5-x2k4p/nginx', runtimeId: restarted.id, parent: sandbox.contid });
    server.updatePod('shop', 'web-7d9f8b6c5-x2k4p', (p) => {
      (p.status as { containerStatuses: { name: string; containerID: string }[] }).containerStatuses[0].containerID = `containerd://${restarted.id}`;
    });
    await waitFor('the restarted container in the annotation', () => annotationOf(server, 'shop', 'web-7d9f8b6c5-x2k4p')?.nginx === formatContainerId(row.contid));
  });

  test('emulated API server: watch expiry (410 Gone) → relist, and no pod added meanwhile is missed', async () => {
    const registry = openRegistry('node-a');
    const agent = agentFor('node-a', registry);
    await agent.start();
    const first = [{ name: 'app', id: hex('first') }];
    registerPod(registry, 'ns1', 'first-1', first);
    server.addPod(podOn('node-a', 'ns1', 'first-1', first));
    await waitFor('first pod annotated', () => annotationOf(server, 'ns1', 'first-1'));
    const listsBefore = server.count('GET', /^\/api\/v1\/pods$/) - server.requests.filter((r) => r.query.watch === 'true').length;

    // The watch stalls; a pod arrives; etcd compacts past the watch's version; the watch expires.
    server.holdWatchEvents = true;
    const late = [{ name: 'app', id: hex('late') }];
    const { apps } = registerPod(registry, 'ns1', 'late-1', late);
    server.addPod(podOn('node-a', 'ns1', 'late-1', late));
    server.expireWatches();
    server.releaseWatchEvents();

    const annotation = await waitFor('the pod added during the expired watch', () => annotationOf(server, 'ns1', 'late-1'));
    expect(annotation.app).toBe(formatContainerId(apps[0].contid));
    const lists = server.requests.filter((r) => r.path === '/api/v1/pods' && r.query.watch !== 'true').length;
    expect(lists).toBeGreaterThan(listsBefore); // the pod came from a relist, not from the stalled watch
    // 410 is the informer's own relist path, not an error the agent had to back off from.
    expect(agent.stats.listWatchErrors).toBe(0);
  });

  test('emulated API server: outage → back-off, recovery and catch-up (including a 410 on the resumed watch)', async () => {
    const registry = openRegistry('node-a');
    const agent = agentFor('node-a', registry);
    await agent.start();
    const before = [{ name: 'app', id: hex('before') }];
    registerPod(registry, 'ns2', 'before-1', before);
    server.addPod(podOn('node-a', 'ns2', 'before-1', before));
    await waitFor('pod annotated before the outage', () => annotationOf(server, 'ns2', 'before-1'));

    await server.outage();
    // While the API server is down its state moves on and its history is compacted.
    const during = [{ name: 'app', id: hex('during') }];
    const { apps } = registerPod(registry, 'ns2', 'during-1', during);
    server.addPod(podOn('node-a', 'ns2', 'during-1', during));
    server.expireWatches();
    await waitFor('several failed restarts', () => agent.stats.listWatchErrors >= 4, 20_000);
    const delays = logs.filter((l) => l.startsWith('pod watch failed')).map((l) => Number(/restarting in (\d+) ms/.exec(l)?.[1]));
    expect(delays.length).toBeGreaterThanOrEqual(3);
    // Exponential: each delay at least the one before, and the third at least twice the first.
    for (let i = 1; i < Math.min(delays.length, 4); i++) expect(delays[i]).toBeGreaterThanOrEqual(delays[i - 1]);
    expect(delays[2]).toBeGreaterThanOrEqual(2 * delays[0]);
    expect(logs.some((l) => /ECONNREFUSED/.test(l))).toBe(true);

    await server.recover();
    const annotation = await waitFor('the pod created during the outage', () => annotationOf(server, 'ns2', 'during-1'), 20_000);
    expect(annotation.app).toBe(formatContainerId(apps[0].contid));
    // The resumed watch asked for a compacted version and was told 410 Expired, so it relisted.
    expect(server.expiredWatchOpens).toBeGreaterThanOrEqual(1);
  });

  test('emulated API server: an agent started during an outage claims its prefix once the API is back', async () => {
    await server.outage();
    const agent = agentFor('node-a', openRegistry('node-a'));
    const started = agent.start();
    await waitFor('claim retries', () => logs.filter((l) => l.startsWith('claiming a node prefix failed')).length >= 2);
    await server.recover();
    await expect(started).resolves.toMatchObject({ prefix: 1, claimedNow: true });
  });

  test('emulated API server: stop() while the first pod list is in flight opens no watch afterwards', async () => {
    server.podListDelayMs = 400;
    const agent = agentFor('node-a', openRegistry('node-a'));
    await agent.start();
    const podRequests = () => server.requests.filter((r) => r.path === '/api/v1/pods');
    await waitFor('the pod list to be asked for', () => podRequests().length > 0);
    await agent.stop();
    await new Promise((r) => setTimeout(r, 800)); // the list has answered by now
    expect(podRequests().map((r) => r.query.watch ?? 'list')).toEqual(['list']);
    expect(server.openWatches()).toBe(0);
    expect(agent.stats.listWatchErrors).toBe(0); // a stop is not an API failure
  });

  test('emulated API server: agents on different nodes racing for prefixes get distinct ones', async () => {
    // Every claimer reads the ConfigMap before any writes it: the worst case for the race.
    server.configMapReadDelayMs = 150;
    const nodes = ['node-a', 'node-b', 'node-c', 'node-d'];
    const claims = await Promise.all(nodes.map((n) => agentFor(n, openRegistry(n)).start()));
    const prefixes = claims.map((c) => c.prefix);
    expect(new Set(prefixes).size).toBe(nodes.length);
    expect([...prefixes].sort()).toEqual([1, 2, 3, 4]);
    expect(server.getConfigMap(NS, CM)!.data).toEqual(Object.fromEntries(nodes.map((n, i) => [n, String(prefixes[i])])));
    // The race really happened: losers were refused with 409 (AlreadyExists on create, Conflict on update).
    expect(server.count('POST', /configmaps$/, 409) + server.count('PUT', /configmaps\//, 409)).toBeGreaterThanOrEqual(nodes.length - 1);
    expect(claims.reduce((n, c) => n + c.conflicts, 0)).toBeGreaterThanOrEqual(nodes.length - 1);
    registries.forEach((r, i) => expect(r.ids.nodePrefix()).toBe(prefixes[i]));
  });

  test('emulated API server: a restarted agent keeps its prefix; a wiped node gets its claim back', async () => {
    server.putConfigMap({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: CM, namespace: NS }, data: { 'node-x': '1' } });
    const first = agentFor('node-a', openRegistry('node-a'));
    expect(await first.start()).toMatchObject({ prefix: 2, claimedNow: true });
    await first.stop();
    registries.pop()!.close();

    // Same node, same registry: the claim is already there.
    const again = agentFor('node-a', openRegistry('node-a'));
    expect(await again.start()).toMatchObject({ prefix: 2, claimedNow: false });
    await again.stop();

    // Same node name, registry wiped: the ConfigMap still holds the node's prefix.
    const wiped = agentFor('node-a', openRegistry('node-a-wiped'));
    expect(await wiped.start()).toMatchObject({ prefix: 2, claimedNow: false });
    expect(server.getConfigMap(NS, CM)!.data).toEqual({ 'node-x': '1', 'node-a': '2' });
  });

  test('emulated API server: a registry whose prefix the cluster lost reclaims it, and never takes another node’s', async () => {
    const registry = openRegistry('node-a');
    registry.ids.setNodePrefix(7);
    const agent = agentFor('node-a', registry);
    expect(await agent.start()).toMatchObject({ prefix: 7, claimedNow: true });
    expect(server.getConfigMap(NS, CM)!.data).toEqual({ 'node-a': '7' });

    const clash = openRegistry('node-b');
    clash.ids.setNodePrefix(7);
    const err = await agentFor('node-b', clash)
      .start()
      .then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(ContidError);
    expect((err as Error).message).toMatch(/prefix 7, which another node has claimed/);
    expect(server.getConfigMap(NS, CM)!.data).toEqual({ 'node-a': '7' });
  });
});

describe('node prefix claim (emulated API server)', () => {
  test('emulated API server: a ConfigMap hand-edited to give two nodes one prefix stops the agent', async () => {
    const server = new EmulatedApiServer();
    await server.start();
    const dir = mkdtempSync(join(tmpdir(), 'contid-k8s-dup-'));
    const registry = Registry.open(dir);
    try {
      server.putConfigMap({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: CM, namespace: NS }, data: { 'node-a': '3', 'node-b': '3' } });
      const agent = new KubernetesAgent({ kubeConfig: kubeConfigFor(server), tagger: taggerOver(registry), nodeName: 'node-a', namespace: NS });
      await expect(agent.start()).rejects.toThrow(/prefix 3 of node node-a is also claimed by node-b/);
      await agent.stop();
      expect(registry.ids.nodePrefix()).toBeNull();
    } finally {
      registry.close();
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
