/** @contid/core: the public SDK. Adapters (Docker, LXC, systemd, Kubernetes) use only this. */
export * from './container-id';
export * from './errors';
export { escapeText, isPrintable } from './printable';
export { SPACE_LIKE_CLASS } from './space-like';
export { makeDirectory, openOutputFile, othersMayReplaceEntries, trustedDirectory, writeFileWhole } from './output-file';
export { clearSocketPath, listenWithMode } from './socket-mode';
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
export { KEYS_DIR, NodeSigner, ephemeralSigner, keyIdOf, loadOrCreateSigner, readSigner, rotateSigner, validNodeName } from './node-keys';
export {
  DEFAULT_TRUST_DIR,
  TrustStore,
  parsePublicKeyEntry,
  planImport,
  publishPublicKey,
  revokePublicKey,
  verifySignature,
  type ImportStep,
  type PublicKeyEntry,
  type TrustedKey,
} from './trust-store';
export {
  MAX_NAME_BYTES,
  MAX_ORCHESTRATOR_LENGTH,
  MAX_REASON_BYTES,
  MAX_RECORD_TEXT,
  MAX_RUNTIME_ID_BYTES,
  checkRecordFits,
  checkRecordStrings,
  fitReason,
  fitText,
  trailerReserve,
} from './record-limits';
export * from './audit-emitter';
export * from './write-paths';
export * from './config';
export * from './tagger';
export { boundSessions, type ContainerQueries } from './container-queries';
export { FOUND_GONE, appArmorConfined, auditControlHolders, containerLiveness, hostHelperHolders, inHostUserNamespace, reconcileLiveness, sameProcess, scanProcesses } from './liveness';
export type { CapabilityHolder, ContainerLiveness, Liveness, LivenessProbe, ProcessTable } from './liveness';
export { replaceProcess } from './process-replace';
export { copyProcessFd } from './process-fd';
export * from './health';
export { MIGRATIONS, type Migration } from './migrations';
export { foldKeyOf } from './binding-folds';
export { loadKoffi, loadSqlite } from './native-modules';
export { loginNameOf, passwdEntries, uidOfLogin } from './passwd';
