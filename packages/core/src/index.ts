/** @contid/core: the public SDK. Adapters (Docker, LXC, systemd, Kubernetes) use only this. */
export * from './container-id';
export * from './errors';
export { escapeText, isPrintable } from './printable';
export * from './privilege';
export * from './proc';
export * from './allocator';
export * from './registry';
export {
  MIN_RUNTIME_PREFIX,
  UnknownContainerError,
  describeWithParents,
  isInSubtree,
  resolveContainerRef,
  type ContainerDirectory,
  type NamedContainer,
  type Resolved,
} from './container-ref';
export * from './record-format';
export * from './record-key';
export * from './audit-emitter';
export * from './write-paths';
export * from './config';
export * from './tagger';
export { FOUND_GONE, auditControlHolders, boundSessions, containerLiveness, reconcileLiveness, sameProcess, scanProcesses } from './liveness';
export type { CapabilityHolder, ContainerLiveness, Liveness, LivenessProbe, ProcessTable } from './liveness';
export { replaceProcess } from './process-replace';
export * from './health';
export { MIGRATIONS } from './migrations';
