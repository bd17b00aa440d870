import { ContidError } from './errors';
import { encodeValue } from './record-format';

/**
 * The kernel keeps at most 8559 bytes of a user record's text (AUDIT_MESSAGE_TEXT_MAX 8560
 * with its NUL; measured on this kernel in docs/records.md): anything longer is cut, and a cut
 * binding has lost its signature and libaudit's trailer. Every limit below keeps a record whole.
 */
export const MAX_RECORD_TEXT = 8559;

/** UTF-8 bytes; a name needing hex doubles, so the worst case is 512 characters in the record. */
export const MAX_NAME_BYTES = 256;
export const MAX_RUNTIME_ID_BYTES = 256;
export const MAX_ORCHESTRATOR_LENGTH = 32;
export const MAX_REASON_BYTES = 200;

const bytes = (s: string): number => Buffer.byteLength(s, 'utf8');

/**
 * Refuses a name, runtime id or orchestrator that would not fit, in one line naming the limit,
 * before anything is bound or started. Labels never enter a record (the registry only).
 */
export function checkRecordStrings(s: { name: string; runtimeId?: string | null; orchestrator: string }): void {
  if (s.name === '') throw new ContidError('a container name may not be empty', 2);
  if (bytes(s.name) > MAX_NAME_BYTES) throw new ContidError(`container name is ${bytes(s.name)} bytes; at most ${MAX_NAME_BYTES} fit in an audit record`, 2);
  if (s.runtimeId && bytes(s.runtimeId) > MAX_RUNTIME_ID_BYTES) throw new ContidError(`runtime id is ${bytes(s.runtimeId)} bytes; at most ${MAX_RUNTIME_ID_BYTES} fit in an audit record`, 2);
  if (s.orchestrator.length > MAX_ORCHESTRATOR_LENGTH) throw new ContidError(`orchestrator name is ${s.orchestrator.length} characters; at most ${MAX_ORCHESTRATOR_LENGTH}`, 2);
}

/** A string cut to at most `max` UTF-8 bytes (whole characters): for op=fail/end records, written whatever the input. */
export function fitText(text: string, max: number): string {
  let out = text;
  while (bytes(out) > max) out = out.slice(0, Math.min(out.length - 1, max));
  return out;
}

export const fitReason = (reason: string): string => fitText(reason, MAX_REASON_BYTES);

/**
 * What libaudit appends: ` exe=<encoded path> hostname=? addr=? terminal=<tty> res=success`.
 * The tty is reserved at its longest plausible name.
 */
export function trailerReserve(execPath = process.execPath): number {
  return ` exe=${encodeValue(execPath)} hostname=? addr=? terminal=`.length + 64 + ' res=success'.length;
}

/** The last guard: a record that would be cut is refused rather than sent. */
export function checkRecordFits(text: string): void {
  const total = bytes(text) + trailerReserve();
  if (total > MAX_RECORD_TEXT) throw new ContidError(`audit record of ${total} bytes would be cut by the kernel at ${MAX_RECORD_TEXT}: refused`, 2);
}
