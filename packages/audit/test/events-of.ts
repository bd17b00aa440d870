import { Reassembler, parseRecord, type AuditEvent } from '@contid/audit';

/** The events of some log lines, as search reassembles them (lines that are no record skipped). */
export function eventsOf(lines: readonly string[]): AuditEvent[] {
  const r = new Reassembler();
  const out: AuditEvent[] = [];
  for (const l of lines) {
    const rec = parseRecord(l);
    if (rec) out.push(...r.push(rec));
  }
  return [...out, ...r.flush()];
}
