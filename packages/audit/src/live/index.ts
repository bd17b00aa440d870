/** Live audit: sources (kernel multicast, auditd plugin pipe, followed log), bounded queue, sinks, pipeline. */
export * from './bounded-queue';
export * from './source';
export * from './multicast-source';
export * from './file-follower';
export * from './stream-source';
export * from './output-sink';
export { OutputBytes, type OutputText } from './output-bytes';
export * from './live-tail';
export { LineBlock, linesOf, type QueuedLines } from './line-splitter';
export * from './auditd-plugin';
export { auditdRunner, restartAdvice, restartAuditd, type AuditdRunner } from './auditd-service';
export * from './pipeline';
