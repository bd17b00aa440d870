/** @contid/systemd: contid adapter for systemd units (ExecStartPre helper, drop-ins). */
export {};
