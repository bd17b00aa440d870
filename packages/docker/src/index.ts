/** @contid/docker: contid adapter for Docker (runtime shim spool, dockerode enrichment). */
// The OCI hand-off moved to @contid/oci; re-exported so existing callers keep compiling.
export { Spool, SpoolConsumer, parseOciProcess, parseOciSpec, parseSpoolEntry, spoolDirFromEnv } from '@contid/oci';
export type { Identifier, SpoolEntry } from '@contid/oci';
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
export { DockerFront, failOpen } from './front/front';
export { FRONT_UPSTREAM, defaultRuntimeHealth } from './front/upstream-health';
export type { FrontOptions } from './front/front';
export { CHANGES, UNATTRIBUTED, containerTargetFor, isFullId, mayHijack, routeOf, targetProblem } from './front/api-routes';
export type { Change, Unattributed } from './front/api-routes';
export type { ApiRoute } from './front/api-routes';
export { isContidShim, runtimesOfInfo, startRefusal } from './front/start-policy';
export { DEFAULT_CAPABILITIES, HOST_CONFIG_RULES, bindRefusal, containerCreateRefusal, execCreateRefusal, hostConfigRefusal, startBodyRefusal, volumeCreateRefusal, volumeOptionsRefusal } from './front/request-policy';
export type { PolicyContext, Refusal } from './front/request-policy';
export { isHostRoot } from './front/host-root';
export type { DockerRuntimes, StartHostConfig } from './front/start-policy';
export { REQUESTERS_DIR, RequesterStore, formatChange, formatRequester, parseRequester, requesterOf, samePerson } from './front/requesters';
export type { Requester } from './front/requesters';
export { dockerAdapter } from './adapter';
export { dockerInstaller } from './installer';
