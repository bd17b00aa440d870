import { clientNode, httpStatusOf } from '@contid/kubernetes';
import { EmulatedApiServer } from './emulated-api-server';

/** The emulator must answer like a real API server, as seen through the real client. */
describe('emulated API server: wire protocol seen through @kubernetes/client-node', () => {
  const server = new EmulatedApiServer();
  let api: InstanceType<ReturnType<typeof clientNode>['CoreV1Api']>;
  let kc: InstanceType<ReturnType<typeof clientNode>['KubeConfig']>;

  beforeAll(async () => {
    await server.start();
    kc = new (clientNode().KubeConfig)();
    kc.loadFromOptions({
      clusters: [{ name: 'e', server: server.url, skipTLSVerify: true }],
      users: [{ name: 'u', token: 't' }],
      contexts: [{ name: 'e', cluster: 'e', user: 'u' }],
      currentContext: 'e',
    });
    api = kc.makeApiClient(clientNode().CoreV1Api);
  });
  afterAll(() => server.stop());

  const statusOf = (p: Promise<unknown>) => p.then(() => 200, (e: unknown) => httpStatusOf(e));
  const pod = (name: string, node: string) => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'default' }, spec: { nodeName: node, containers: [{ name: 'c', image: 'i' }] } });

  test('emulated API server: list with resourceVersion and field selector; 410 Gone once compacted', async () => {
    server.addPod(pod('p1', 'n1'));
    server.addPod(pod('p2', 'n2'));
    const list = await api.listPodForAllNamespaces({ fieldSelector: 'spec.nodeName=n1' });
    expect(list.items.map((p) => p.metadata?.name)).toEqual(['p1']);
    const rv = list.metadata!.resourceVersion!;
    expect(await statusOf(api.listPodForAllNamespaces({ resourceVersion: rv }))).toBe(200);
    server.expireWatches();
    expect(await statusOf(api.listPodForAllNamespaces({ resourceVersion: rv }))).toBe(410);
  });

  test('emulated API server: chunked watch stream of events, and 410 Expired as an ERROR event', async () => {
    const events: { type: string; name?: string; code?: number }[] = [];
    const list = await api.listPodForAllNamespaces({});
    let done!: (err: unknown) => void;
    const finished = new Promise<unknown>((r) => (done = r));
    await new (clientNode().Watch)(kc).watch(
      '/api/v1/pods',
      { resourceVersion: list.metadata!.resourceVersion, fieldSelector: 'spec.nodeName=n3' },
      (type, obj: { metadata?: { name?: string }; code?: number }) => events.push({ type, name: obj.metadata?.name, code: obj.code }),
      (err) => done(err),
    );
    server.addPod(pod('p3', 'n3'));
    server.addPod(pod('p4', 'n4'));
    server.updatePod('default', 'p3', (p) => (p.metadata.labels = { a: 'b' }));
    await new Promise((r) => setTimeout(r, 200));
    server.expireWatches();
    expect(await finished).toBeNull();
    expect(events).toEqual([
      { type: 'ADDED', name: 'p3', code: undefined },
      { type: 'MODIFIED', name: 'p3', code: undefined },
      { type: 'ERROR', name: undefined, code: 410 },
    ]);
  });

  test('emulated API server: merge patch applies, stale resourceVersion → 409, JSON patch → 415', async () => {
    const p = await api.patchNamespacedPod(
      { name: 'p1', namespace: 'default', body: { metadata: { annotations: { x: '1' } } } },
      clientNode().setHeaderOptions('Content-Type', clientNode().PatchStrategy.MergePatch),
    );
    expect(p.metadata?.annotations).toEqual({ x: '1' });
    const stale = api.patchNamespacedPod(
      { name: 'p1', namespace: 'default', body: { metadata: { resourceVersion: '1', annotations: { x: '2' } } } },
      clientNode().setHeaderOptions('Content-Type', clientNode().PatchStrategy.StrategicMergePatch),
    );
    expect(await statusOf(stale)).toBe(409);
    expect(await statusOf(api.patchNamespacedPod({ name: 'p1', namespace: 'default', body: [{ op: 'add', path: '/x', value: 1 }] }))).toBe(415);
    expect(await statusOf(api.readNamespacedPod({ name: 'nope', namespace: 'default' }))).toBe(404);
  });

  test('emulated API server: ConfigMap create (409 AlreadyExists) and compare-and-swap update (409 Conflict)', async () => {
    const body = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cm', namespace: 'ns' }, data: { a: '1' } };
    expect(await statusOf(api.readNamespacedConfigMap({ name: 'cm', namespace: 'ns' }))).toBe(404);
    const created = await api.createNamespacedConfigMap({ namespace: 'ns', body });
    expect(await statusOf(api.createNamespacedConfigMap({ namespace: 'ns', body }))).toBe(409);
    const updated = await api.replaceNamespacedConfigMap({ name: 'cm', namespace: 'ns', body: { ...created, data: { a: '2' } } });
    expect(updated.metadata?.resourceVersion).not.toBe(created.metadata?.resourceVersion);
    expect(await statusOf(api.replaceNamespacedConfigMap({ name: 'cm', namespace: 'ns', body: { ...created, data: { a: '3' } } }))).toBe(409);
    expect((await api.readNamespacedConfigMap({ name: 'cm', namespace: 'ns' })).data).toEqual({ a: '2' });
  });
});
