/**
 * @contid/audit: parse, reassemble and attribute Linux audit logs to containers.
 *
 * Streaming API (stable):
 * - `parseRecord(line, offset?)` → `AuditRecord | null` (raw and enriched lines, msg='…' bodies)
 * - `new Reassembler({ timeoutMs, clock? })`: `push(rec)` → completed `AuditEvent[]`, `tick()`, `flush()`
 *   (ausearch 3.0.9's event model; `opensSingleRecordEvent(typeNumber)`)
 * - `new Attributor({ trustedExes, key, procfsContid, registry })`: `observe(event)` learns
 *   bindings, `attribute(event)` → `AttributedContainer | null`, `chain(c)` → with ancestors;
 *   `rejected` / `rejectedCount` list forged binding records
 * - `matchesFilter(filter, event, chain)`, `parseTimeWords(words)`
 * - `formatAuditEvent('raw' | 'interpret' | 'json' | 'ecs', event, chain)` → text (valid UTF-8 once
 *   encoded; interpret = `ausearch -i` through libauparse)
 * - `searchLogs({ files, filter, onEvent })`: two-pass search over rotated logs
 */
export * from './record';
export * from './reassembler';
export * from './attributor';
export { LruMap } from './lru-map';
export { compactEvent, type CompactOptions, type OutputContainer } from './compact-format';
export * from './filter';
export * from './format';
export * from './reader';
export * from './search';
export * from './search-index';
export * from './line-bytes';
export * from './live';
export { AusearchInterpreter, libauparseAvailable } from './interpret';
export { bytesToText, escapeControls, safeRawBytes, type TextOptions } from './safe-text';
export { libauditTypeName, libauditTypeNumber, syscallName } from './libaudit';
