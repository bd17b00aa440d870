/** @contid/systemd: contid adapter for systemd units (Exec*= wrapper, bind, end, drop-ins). */
export * from './invocation';
export * from './unit-container';
export * from './unit-file';
export * from './drop-in';
export { systemdLiveness } from './liveness';
export { bindSpooledLine, recordSpooledMainPid } from './spooled';
export type { SpooledLine, SpooledOutcome } from './spooled';
export { GENERATED_DROP_IN, GENERATOR_MAIN, GENERATOR_PATH, generatorLauncher, UNITS_FILE, generate, ownFragments, readUnitList, writeUnitList } from './generator';
export type { GeneratorOutcome } from './generator';
export { systemdInstaller } from './installer';
export { systemdAdapter } from './adapter';
