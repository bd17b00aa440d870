/** @contid/kubernetes: contid adapter for Kubernetes (node agent, pod identity, cluster-unique prefixes). */
export * from './pod-identity';
export * from './identify';
export * from './spool-identifier';

export * from './node-prefix';
export * from './pod-contids';
export * from './agent';
export { Backoff } from './backoff';
export { clientNode, loadKubeConfig, httpStatusOf, isTransient, describeApiError } from './client';
export type { ClientNode, KubeConfig } from './client';
export { CriClient, exitCodeOf } from './cri-client';
export type { PodSandboxConfig, ContainerConfig, CriContainer, CriContainerStatus, ExecResult, NamespaceMode, ContainerState } from './cri-client';
export { kubernetesAdapter } from './adapter';
export { probeDescriber, probeKindsOf } from './probes';
export type { ProbeKind } from './probes';
export { criWrote } from './cri-origin';
export type { CriEntryFacts } from './cri-origin';
