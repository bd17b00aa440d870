/** @contid/audit: Parse, reassemble and attribute Linux audit logs to containers; search and live tail. */
export {};
export * from './live';
