/** @contid/docker: contid adapter for Docker (runtime shim spool, dockerode enrichment). */
export * from './spool';
export * from './oci';
export * from './consumer';
export * from './docker-identity';
export * from './backfill';
export * from './agent';
export { DAEMON_JSON, RUNTIME_NAME, SHIM_INSTALL_PATH, addRuntime, parseDaemonJson, removeRuntime, sameJson } from './daemon-json';
export type { DaemonJsonChange } from './daemon-json';
export { backupPathOf, createdMarkerOf, installDaemonJson, installShim, removeShim, restoreDaemonJson } from './docker-install';
export type { DaemonJsonInstall, DaemonJsonRestore } from './docker-install';
export { containersUsingRuntime } from './runtime-users';
export type { RuntimeUser } from './runtime-users';
export * from './client';
export * from './health';
