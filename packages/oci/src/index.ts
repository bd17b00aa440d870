/** @contid/oci: the hand-off between the tagging step (contid-runc, contid-spawn) and contid serve. */
export { DEFAULT_SPOOL_DIR, IncompleteEntryError, SPOOL_VERSION, Spool, entrySession, parseChanges, parseSpoolEntry, spoolDirFromEnv } from './spool';
export type { SpoolChange, SpoolContest, SpoolEntry, SpoolOp, SpoolRequester } from './spool';
export { parseOciProcess, parseOciSpec } from './oci-spec';
export type { OciProcess, OciSpec } from './oci-spec';
export { SpoolConsumer, alive, containerProcesses, sessionLeader } from './consumer';
export type { ConsumerOptions, ContainerIdentity, EntryOutcome, ExecDescriber, IdentifyContext, Identifier, InitRecorder, SpawnBinder } from './consumer';
export { SpoolDrainer } from './drainer';
export { PidFileWaits } from './pid-file-waits';
export { lowerCpuPriority } from './priority';
export type { SpoolDrainerOptions } from './drainer';
export { spoolHealth } from './health';
export { adapterHealth, adapterInstallers, consumerHooks } from './adapter';
export type { Adapter, InstallContext, Installer } from './adapter';
