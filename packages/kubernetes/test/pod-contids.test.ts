import { enrichedLabels, podLabels, runtimeIdOf } from '../src/pod-contids';
import type { ContainerRecord } from '@contid/core';

type Pod = Parameters<typeof podLabels>[0];

const pod = (owner?: { kind: string; name: string }, labels: Record<string, string> = {}): Pod => ({
  metadata: {
    name: 'p',
    namespace: 'ns',
    uid: 'u',
    labels,
    ownerReferences: owner ? [{ apiVersion: 'apps/v1', kind: owner.kind, name: owner.name, uid: 'x', controller: true }] : undefined,
  },
  spec: { nodeName: 'n', serviceAccountName: 'sa', containers: [] },
});

describe('pod → registry labels', () => {
  test('runtime ids of every CRI runtime; anything else is no id', () => {
    expect(runtimeIdOf('containerd://abc123')).toBe('abc123');
    expect(runtimeIdOf('cri-o://def456')).toBe('def456');
    expect(runtimeIdOf('docker://0a1b')).toBe('0a1b');
    expect(runtimeIdOf('')).toBeNull();
    expect(runtimeIdOf(undefined)).toBeNull();
    expect(runtimeIdOf('abc123')).toBeNull();
  });

  test.each([
    ['a Deployment’s pod (ReplicaSet + pod-template-hash)', { kind: 'ReplicaSet', name: 'web-7d9f8b6c5' }, { 'pod-template-hash': '7d9f8b6c5' }, 'ReplicaSet/web-7d9f8b6c5', 'Deployment/web'],
    ['a bare ReplicaSet (no matching hash)', { kind: 'ReplicaSet', name: 'rs-1' }, {}, 'ReplicaSet/rs-1', 'ReplicaSet/rs-1'],
    ['a StatefulSet', { kind: 'StatefulSet', name: 'db' }, {}, 'StatefulSet/db', 'StatefulSet/db'],
    ['a Job', { kind: 'Job', name: 'backup-29123' }, {}, 'Job/backup-29123', 'Job/backup-29123'],
  ])('%s', (_what, owner, labels, wantOwner, wantWorkload) => {
    expect(podLabels(pod(owner, labels), 'c')).toMatchObject({ 'contid.io/owner': wantOwner, 'contid.io/workload': wantWorkload, 'contid.io/service-account': 'sa', 'io.kubernetes.container.name': 'c' });
  });

  test('a bare pod has no owner or workload label; the sandbox has no container name', () => {
    const labels = podLabels(pod(), null);
    expect(labels).not.toHaveProperty('contid.io/owner');
    expect(labels).not.toHaveProperty('contid.io/workload');
    expect(labels).not.toHaveProperty('io.kubernetes.container.name');
    expect(labels).toMatchObject({ 'io.kubernetes.pod.name': 'p', 'io.kubernetes.pod.namespace': 'ns', 'io.kubernetes.pod.uid': 'u', 'contid.io/node': 'n' });
  });

  test('enrichment keeps existing labels and is a no-op when nothing changed', () => {
    const record = { labels: { keep: 'me', app: 'old' } } as unknown as ContainerRecord;
    expect(enrichedLabels(record, { app: 'new' })).toEqual({ keep: 'me', app: 'new' });
    expect(enrichedLabels(record, { app: 'old' })).toBeNull();
  });
});
