import type { ContainerId } from '@contid/core';
import { Attributor, type AttributedContainer, type AttributorOptions } from '../attributor';
import type { AuditEvent } from '../reassembler';
import { parseRecord, type AuditRecord } from '../record';

/**
 * @deprecated Names from the interim live API that test/security still imports; use
 * `parseRecord`, `AuditEvent` and `Attributor` (its `rejectedCount`) instead.
 */
export const parseLogLine: (line: string) => AuditRecord | null = (line) => parseRecord(line);

/** @deprecated use `AuditEvent` (`timeMs` is optional here because old callers omit it). */
export type LogEvent = Omit<AuditEvent, 'timeMs'> & { timeMs?: number };

/** @deprecated use `Attributor`: this only reports `rejected` as a count. */
export class LiveAttributor {
  private readonly inner: Attributor;

  constructor(options: AttributorOptions = {}) {
    this.inner = new Attributor(options);
  }

  get rejected(): number {
    return this.inner.rejectedCount;
  }

  observe(event: LogEvent): void {
    this.inner.observe(withTime(event));
  }

  attribute(event: LogEvent): AttributedContainer | null {
    return this.inner.attribute(withTime(event));
  }

  container(contid: ContainerId): AttributedContainer | undefined {
    return this.inner.container(contid);
  }
}

function withTime(e: LogEvent): AuditEvent {
  return { ...e, timeMs: e.timeMs ?? e.records[0]?.timeMs ?? 0 };
}
