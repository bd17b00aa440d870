import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Registry } from '@contid/core';
import { identifyPodContainer, podIdentityFromOciSpec } from '@contid/kubernetes';
import { tempStateDir } from '../helpers/cli';

const fixture = (name: string): unknown => JSON.parse(readFileSync(join(__dirname, 'fixtures', `${name}.config.json`), 'utf8'));

const CONTAINERD_SANDBOX = '4f1c7a2b9e0d6c3a8b5f2e1d0c9b8a7f6e5d4c3b2a1f0e9d8c7b6a5f4e3d2c1b';
const CRIO_SANDBOX = 'c0ffee00d15ea5e0badc0de0feedface0123456789abcdef0123456789abcdef';

describe('pod identity from OCI config.json annotations', () => {
  test('containerd CRI sandbox', () => {
    expect(podIdentityFromOciSpec(fixture('containerd-sandbox'))).toEqual({
      runtime: 'containerd',
      kind: 'sandbox',
      sandboxId: CONTAINERD_SANDBOX,
      podName: 'web-7d9f8b6c5-x2k4p',
      podNamespace: 'shop',
      podUid: '0b6f2c1e-3d4a-4e5f-8a9b-1c2d3e4f5a6b',
      containerName: null,
      image: null,
    });
  });

  test('containerd CRI app container', () => {
    expect(podIdentityFromOciSpec(fixture('containerd-container'))).toMatchObject({
      runtime: 'containerd',
      kind: 'container',
      sandboxId: CONTAINERD_SANDBOX,
      podName: 'web-7d9f8b6c5-x2k4p',
      podNamespace: 'shop',
      containerName: 'nginx',
      image: 'docker.io/library/nginx:1.27',
    });
  });

  test('CRI-O sandbox: pod name from the kubelet labels, not the k8s_… runtime name', () => {
    expect(podIdentityFromOciSpec(fixture('crio-sandbox'))).toEqual({
      runtime: 'cri-o',
      kind: 'sandbox',
      sandboxId: CRIO_SANDBOX,
      podName: 'db-0',
      podNamespace: 'data',
      podUid: '7e8d9c0b-1a2b-4c3d-9e8f-a1b2c3d4e5f6',
      containerName: null,
      image: null,
    });
  });

  test('CRI-O app container', () => {
    expect(podIdentityFromOciSpec(fixture('crio-container'))).toMatchObject({
      runtime: 'cri-o',
      kind: 'container',
      sandboxId: CRIO_SANDBOX,
      podName: 'db-0',
      podNamespace: 'data',
      containerName: 'postgres',
      image: 'docker.io/library/postgres:17',
    });
  });

  test('CRI-O with the kubelet labels only inside io.kubernetes.cri-o.Labels', () => {
    expect(podIdentityFromOciSpec(fixture('crio-container-labels-only'))).toMatchObject({
      runtime: 'cri-o',
      podName: 'debug',
      podNamespace: 'default',
      podUid: '11111111-2222-3333-4444-555555555555',
      containerName: 'shell',
      image: 'registry.k8s.io/busybox:1.36',
    });
  });

  test('not a pod: docker run spec, garbage, incomplete annotations', () => {
    expect(podIdentityFromOciSpec(fixture('docker-run'))).toBeNull();
    expect(podIdentityFromOciSpec(null)).toBeNull();
    expect(podIdentityFromOciSpec('config')).toBeNull();
    expect(podIdentityFromOciSpec({ annotations: { 'io.kubernetes.cri.container-type': 'container' } })).toBeNull();
    expect(podIdentityFromOciSpec({ annotations: { 'io.kubernetes.cri-o.ContainerType': 'sandbox', 'io.kubernetes.cri-o.Labels': '{not json' } })).toBeNull();
  });
});

describe('identifying a pod container against the registry', () => {
  const state = tempStateDir('k8s-identify');
  let registry: Registry;
  beforeAll(() => {
    registry = Registry.open(join(state.dir, 'state'));
  });
  afterAll(() => {
    registry.close();
    state.cleanup();
  });

  // The namespace paths of the fixtures, as inodes (no such pod runs here): the sandbox's were recorded at its create.
  const inodes: Record<string, number> = { net: 4026532001, ipc: 4026532002, uts: 4026532003 };
  // containerd's /proc/PID/ns/net, CRI-O's pinned /var/run/netns/ID.
  const namespaceOf = (path: string): number | null => inodes[/(net|ipc|uts)(?:ns\/[^/]+)?$/.exec(path)?.[1] ?? ''] ?? null;

  test.each([
    ['containerd', 'containerd-sandbox', 'containerd-container', 'shop/web-7d9f8b6c5-x2k4p', 'nginx'],
    ['CRI-O', 'crio-sandbox', 'crio-container', 'data/db-0', 'postgres'],
  ])('%s: the sandbox is the parent of the pod’s app container, when it shares the sandbox’s namespaces', (_runtime, sandboxFixture, containerFixture, pod, container) => {
    const sandboxId = identifyPodContainer(fixture(sandboxFixture), registry)!;
    expect(sandboxId).toMatchObject({ orchestrator: 'kubernetes', name: pod, parent: null });
    expect(sandboxId.labels['contid.io/container-type']).toBe('sandbox');
    const sandbox = registry.registerContainer({ ...sandboxId, runtimeId: sandboxId.pod.sandboxId, namespaces: inodes });

    const app = identifyPodContainer(fixture(containerFixture), registry, { namespaceOf })!;
    expect(app.name).toBe(`${pod}/${container}`);
    expect(app.parent).toBe(sandbox.contid);
    expect(app.labels).toMatchObject({ 'io.kubernetes.container.name': container, 'io.kubernetes.pod.namespace': pod.split('/')[0] });
    // Namespaces that are not the sandbox's (or unreadable), or made of its own: no member of the pod.
    expect(identifyPodContainer(fixture(containerFixture), registry, { namespaceOf: () => 4026532999 })!.parent).toBeNull();
    expect(identifyPodContainer(fixture(containerFixture), registry)!.parent).toBeNull();
    const own = fixture(containerFixture) as { linux: { namespaces: { type: string; path?: string }[] } };
    own.linux.namespaces = own.linux.namespaces.map((n) => (n.type === 'ipc' ? { type: 'ipc' } : n));
    expect(identifyPodContainer(own, registry, { namespaceOf })!.parent).toBeNull();
  });

  test('a parent is only a Kubernetes sandbox row of the same runtime and pod (outside attack 14, F1)', () => {
    const app = fixture('containerd-container') as { annotations: Record<string, string> };
    const claim = (sandboxRuntimeId: string) => identifyPodContainer({ annotations: { ...app.annotations, 'io.kubernetes.cri.sandbox-id': sandboxRuntimeId } }, registry)!.parent;
    // A Podman container, an LXC container: any runtime id the annotations can name.
    registry.registerContainer({ orchestrator: 'podman', name: 'victim', runtimeId: 'podman-victim' });
    expect(claim('podman-victim')).toBeNull();
    // Even one labelled like a sandbox (an image's LABELs become a Podman container's labels).
    const fake = identifyPodContainer(fixture('containerd-sandbox'), registry)!;
    registry.registerContainer({ orchestrator: 'podman', name: 'fake', runtimeId: 'podman-fake', labels: { ...fake.labels, 'io.kubernetes.sandbox.id': 'podman-fake' } });
    expect(claim('podman-fake')).toBeNull();
    // A Kubernetes app container is no sandbox; another pod's sandbox is not this pod's.
    registry.registerContainer({ orchestrator: 'kubernetes', name: 'shop/other/x', runtimeId: 'k8s-app', labels: { ...fake.labels, 'contid.io/container-type': 'container', 'io.kubernetes.sandbox.id': 'k8s-app' } });
    expect(claim('k8s-app')).toBeNull();
    registry.registerContainer({ orchestrator: 'kubernetes', name: 'shop/other', runtimeId: 'k8s-other', labels: { ...fake.labels, 'io.kubernetes.pod.name': 'other', 'io.kubernetes.sandbox.id': 'k8s-other' } });
    expect(claim('k8s-other')).toBeNull();
    registry.registerContainer({ orchestrator: 'kubernetes', name: 'shop/web', runtimeId: 'k8s-sb', labels: { ...fake.labels, 'io.kubernetes.sandbox.id': 'k8s-sb' } });
    expect(claim('k8s-sb')).not.toBeNull();
  });

  test('an app container whose sandbox contid never saw has no parent', () => {
    const app = identifyPodContainer(fixture('crio-container-labels-only'), registry)!;
    expect(app.name).toBe('default/debug/shell');
    expect(app.parent).toBeNull();
  });
});
