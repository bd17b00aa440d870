/** @contid/systemd: contid adapter for systemd units (Exec*= wrapper, bind, end, drop-ins). */
export { checkUnitProcess, checkedInvocation, currentInvocation, mainPidFromEnv, stopReason, unitOfCgroup } from './invocation';
export type { Invocation } from './invocation';
export { ORCHESTRATOR, bindInvocation, endInvocation, renewOwnSession } from './unit-container';
export { UNIT_DIRS, effectiveList, normalizeUnitName, readUnit, readUnitFiles, settings, splitSystemctlCat } from './unit-file';
export type { UnitFragment } from './unit-file';
export { DROP_IN_MARKER, DROP_IN_NAME, EXEC_KEYS, ROOT_PATH, confinement, dropInPath, renderDropIn, unitWord } from './drop-in';
export type { ExecKey, UnitCommands } from './drop-in';
export { systemdLiveness } from './liveness';
export { bindSpooledLine, recordSpooledMainPid } from './spooled';
export type { SpooledLine, SpooledOutcome } from './spooled';
export { GENERATED_DROP_IN, GENERATOR_MAIN, GENERATOR_PATH, generatorLauncher, UNITS_FILE, generate, ownFragments, readUnitList, writeUnitList } from './generator';
export type { GeneratorOutcome } from './generator';
export { staticBusybox, systemdInstaller } from './installer';
export { STATIC_BUSYBOX, notStaticRootExecutable } from './static-exec';
export { systemdAdapter } from './adapter';
export { cgroupInvocation, forgedInvocation } from './cgroup-invocation';
export type { CgroupInvocation } from './cgroup-invocation';
