/** @contid/lxc: contid adapter for LXC (start/attach wrappers, one hook for start-host and post-stop). */
export { ORCHESTRATOR, planStart } from './start';
export type { StartPlan } from './start';
export { planAttach } from './attach';
export type { AttachPlan } from './attach';
export { HOOK_TYPES, hookContext, runHook } from './hook';
export type { HookContext, HookOutcome, HookType } from './hook';
export { lxcPathOf, lxcState, validateContainerName } from './lxc-tools';
export type { LxcState } from './lxc-tools';
export { CONTID_LXC, DEFAULT_LXC_PATH, GLOBAL_SNIPPET, HOOK_MAIN, SYSTEMD_DROP_IN, hookLines, installLxc, systemdDropIn, uninstallLxc } from './install';
export type { InstallReport, LxcInstallOptions } from './install';
export { CAP_DROP_LINE, capSetting, dropsAuditControl } from './cap-config';
export type { CapSetting } from './cap-config';
export { lxcHealth } from './health';
export { recordSpooledInit } from './spooled-hook';
export type { SpooledInit, SpooledInitOutcome } from './spooled-hook';
export { instanceRecordPath } from './instance-record';
