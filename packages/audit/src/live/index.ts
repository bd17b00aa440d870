/** Live audit: sources (kernel multicast, auditd plugin pipe, followed log), bounded queue, sinks. */
export * from './bounded-queue';
export * from './source';
export * from './multicast-source';
export * from './file-follower';
export * from './stream-source';
export * from './output-sink';
export * from './live-tail';
export * from './auditd-plugin';
export * from './log-record';
export * from './event-assembler';
export * from './live-attributor';
export * from './event-filter';
export * from './event-format';
export * from './pipeline';
