import type { ContainerRecord } from '@contid/core';
import type { SpoolEntry } from '@contid/oci';
import { probeDescriber, probeKindsOf } from '@contid/kubernetes';
import type { V1Pod } from '@kubernetes/client-node';

const pod = (uid = 'u-1'): V1Pod => ({
  metadata: { name: 'api-1', namespace: 'shop', uid },
  spec: {
    containers: [
      {
        name: 'api',
        livenessProbe: { exec: { command: ['/bin/check', '--live'] } },
        readinessProbe: { exec: { command: ['/bin/sh', '-c', 'test -e /ready'] } },
        startupProbe: { exec: { command: ['/bin/check', '--live'] } },
      },
      { name: 'web', livenessProbe: { httpGet: { path: '/', port: 80 } } },
    ],
    initContainers: [{ name: 'init', readinessProbe: { exec: { command: ['true'] } } }],
  },
});

describe('probeKindsOf: exactly a probe’s exec command', () => {
  test.each([
    ['liveness and startup share a command', 'api', ['/bin/check', '--live'], ['liveness', 'startup']],
    ['readiness', 'api', ['/bin/sh', '-c', 'test -e /ready'], ['readiness']],
    ['a prefix of a probe is not the probe', 'api', ['/bin/check'], []],
    ['one more argument is not the probe', 'api', ['/bin/check', '--live', 'x'], []],
    ['arguments joined differently are not the probe', 'api', ['/bin/sh', '-c test -e /ready'], []],
    ['an httpGet probe runs no process', 'web', ['/bin/check', '--live'], []],
    ['an init container’s probe', 'init', ['true'], ['readiness']],
    ['a container the spec does not have', 'nope', ['true'], []],
    ['an empty command', 'api', [], []],
  ])('%s', (_what, container, args, kinds) => {
    expect(probeKindsOf(pod(), container, args)).toEqual(kinds);
  });
});

describe('probeDescriber: from the registry row’s kubelet labels to the watched pod', () => {
  const row = (labels: Record<string, string>) => ({ labels }) as unknown as ContainerRecord;
  const labels = { 'io.kubernetes.pod.namespace': 'shop', 'io.kubernetes.pod.name': 'api-1', 'io.kubernetes.pod.uid': 'u-1', 'io.kubernetes.container.name': 'api' };
  const entry = {} as SpoolEntry;
  const ctx = {} as never;

  test('a probe’s command is marked as a healthcheck with its kinds', async () => {
    const describe = probeDescriber(() => [pod()]);
    await expect(describe(entry, row(labels), 1, { args: ['/bin/check', '--live'] }, ctx)).resolves.toEqual({ healthcheck: true, probe: ['liveness', 'startup'] });
  });

  test.each([
    ['another command (a kubectl exec)', labels, ['/bin/ls'], [pod()]],
    ['a pod of the same name with another uid (re-created)', labels, ['/bin/check', '--live'], [pod('u-2')]],
    ['a pod the agent does not know yet', labels, ['/bin/check', '--live'], []],
    ['a row without kubelet labels (not a pod container)', {}, ['/bin/check', '--live'], [pod()]],
  ])('%s: nothing marked', async (_what, l, args, pods) => {
    const describe = probeDescriber(() => pods);
    await expect(describe(entry, row(l), 1, { args }, ctx)).resolves.toEqual({});
  });

  test('no process.json copied: nothing marked', async () => {
    await expect(probeDescriber(() => [pod()])(entry, row(labels), 1, null, ctx)).resolves.toEqual({});
  });
});
