/**
 * @contid/audit: parse, reassemble and attribute Linux audit logs to containers.
 *
 * Streaming API (stable):
 * - `parseRecord(line, offset?)` → `AuditRecord | null` (raw and enriched lines, msg='…' bodies)
 * - `new Reassembler({ timeoutMs, clock? })`: `push(rec)` → completed `AuditEvent[]`, `tick()`, `flush()`

 *   (ausearch 3.0.9's event model; `opensSingleRecordEvent(typeNumber)`)
 * - `new Attributor({ trust, procfsContid, registry })`: `observe(event)` learns bindings whose
 *   Ed25519 signature verifies with a trusted public key, `attribute(event)` →
 *   `AttributedContainer | null` (sessions keyed by node and boot), `chain(c)` → with ancestors;
 *   `rejected` / `rejectedCount` / `rejectedBy` / `unknownKeys` say what was not used and why
 * - `checkBinding(record, { trust })`: one binding record taken apart the way it was built
 * - `matchesFilter(filter, event, chain)`, `parseTimeWords(words)`
 * - `formatAuditEvent('raw' | 'interpret' | 'text' | 'csv' | 'json' | 'ecs', event, chain, options?)` → text
 *   (valid UTF-8 once encoded; interpret = `ausearch -i`, text/csv = ausearch's through libauparse;
 *   `csvHeaderRow(options)` before the first csv row)
 * - `searchLogs({ files, filter, onEvent })`: two-pass search over rotated logs
 */
export * from './record';
export * from './reassembler';
export * from './attributor';
export { LruMap } from './lru-map';
export { type BootVerdict } from './boot-watch';
export { DEFAULT_MAX_UNKNOWN_KEYS, UnknownKeyTally, type UnknownKey } from './unknown-keys';
export { compactEvent, type CompactOptions, type OutputContainer } from './compact-format';
export { checkBinding, senderHeader, type BindingCheck, type BindingCheckOptions, type BindingProblem, type CheckedBinding } from './binding';
export { relevantBindings, type BindingQuery, type ClaimedBinding } from './binding-relevance';
export * from './filter';
export * from './format';
export * from './reader';
export * from './search';
export * from './search-index';
export { SCAN_MAX_OPEN } from './session-scan';
export * from './line-bytes';
export { EntryJudge, EntryWitness, describeUntaggedEntry, entryRoot, entrySyscall, eventEntry, pathRoot, untaggedEntryJson, type EntryKind, type EntrySighting, type EntrySyscall, type RootNamer, type UntaggedEntry } from './entries';
export { LiveEntryWatch, type LiveEntryOptions } from './entries-live';
export * from './live';
export { AusearchInterpreter, libauparseAvailable } from './interpret';
export { InterpretPipe } from './interpret-pipe';
export { NormalizedReport, csvHeader, type CsvExtras } from './normalized-report';
export { bytesToText, escapeControls, safeRawBytes, type TextOptions } from './safe-text';
export { findMalformedLine, type MalformedLine } from './strict-check';
export { errnoNumber, libauditTypeName, libauditTypeNumber, syscallName } from './libaudit';
