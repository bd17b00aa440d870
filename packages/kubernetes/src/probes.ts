import type { ExecDescriber } from '@contid/oci';
import type * as ClientNodeModule from '@kubernetes/client-node';

type V1Pod = ClientNodeModule.V1Pod;

export type ProbeKind = 'liveness' | 'readiness' | 'startup';

// The kubelet's labels on every pod container (podIdentityLabels copies them into the registry).
const POD_NAME = 'io.kubernetes.pod.name';
const POD_NAMESPACE = 'io.kubernetes.pod.namespace';
const POD_UID = 'io.kubernetes.pod.uid';
const CONTAINER_NAME = 'io.kubernetes.container.name';

const sameArgv = (a: readonly string[], b: readonly unknown[]): boolean => a.length === b.length && a.every((x, i) => x === b[i]);

/**
 * The kinds of exec probe of container CONTAINER in POD whose command is exactly ARGS. The
 * kubelet's ExecSync runs a probe's `exec.command` as given, so equality is the whole test;
 * httpGet, tcpSocket and grpc probes run no process and never match.
 */
export function probeKindsOf(pod: V1Pod, container: string, args: readonly unknown[]): ProbeKind[] {
  const spec = [...(pod.spec?.containers ?? []), ...(pod.spec?.initContainers ?? [])].find((c) => c.name === container);
  if (!spec) return [];
  const probes: [ProbeKind, ClientNodeModule.V1Probe | undefined][] = [
    ['liveness', spec.livenessProbe],
    ['readiness', spec.readinessProbe],
    ['startup', spec.startupProbe],
  ];
  return probes.filter(([, p]) => p?.exec?.command?.length && sameArgv(p.exec.command, args)).map(([kind]) => kind);
}

/**
 * Marks a setns binding as a probe (`healthcheck: true`, `probe: [kinds]`, folded by `contid
 * show` like Docker's healthchecks) when its command equals one of its container's exec probes
 * in the pod spec the node agent watches. On the node a probe's ExecSync and a `kubectl exec`
 * are the same CRI call, so the spec is the only witness; a `kubectl exec` of exactly a probe's
 * command is marked too, and either way the exec keeps its own session and binding. A pod the
 * agent does not know yet (or another pod with the same name: the uid differs) marks nothing.
 */
export function probeDescriber(pods: () => readonly V1Pod[]): ExecDescriber {
  return async (_entry, container, _pid, proc) => {
    const l = container.labels;
    const [ns, name, uid, cname] = [l[POD_NAMESPACE], l[POD_NAME], l[POD_UID], l[CONTAINER_NAME]];
    if (!ns || !name || !cname || !Array.isArray(proc?.args)) return {};
    const pod = pods().find((p) => p.metadata?.namespace === ns && p.metadata?.name === name && (!uid || !p.metadata?.uid || p.metadata.uid === uid));
    const kinds = pod ? probeKindsOf(pod, cname, proc.args) : [];
    return kinds.length ? { healthcheck: true, probe: kinds } : {};
  };
}
