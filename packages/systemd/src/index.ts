/** @contid/systemd: contid adapter for systemd units (ExecStart= wrapper, bind, end, drop-ins). */
export * from './invocation';
export * from './unit-container';
export * from './unit-file';
export * from './drop-in';
