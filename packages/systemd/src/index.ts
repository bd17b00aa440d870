/** @contid/systemd: contid adapter for systemd units (Exec*= wrapper, bind, end, drop-ins). */
export * from './invocation';
export * from './unit-container';
export * from './unit-file';
export * from './drop-in';
export { systemdLiveness } from './liveness';
