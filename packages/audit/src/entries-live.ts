import { formatContainerId } from '@contid/core/dist/container-id';
import type { AttributedContainer, Attributor } from './attributor';
import { EntryJudge, describeUntaggedEntry, eventEntry, untaggedEntryJson, type RootNamer } from './entries';
import type { AuditEvent } from './reassembler';

export interface LiveEntryOptions {
  rootNamer?: RootNamer;
  localNode?: string | null;
  /** JSON formats get the entry as an object in the stream; the others only the stderr line. */
  json: boolean;
  /** One line for whoever runs the tail (stderr), the same words as `search`. */
  report: (line: string) => void;
  /** `--container REF`: only entries into it (by name or contid). */
  container?: string;
}

/**
 * `contid tail`'s untagged entries: the judge `search` uses, fed event by event. It sees an
 * event when the pipeline sends it out, so a tagged start or attach has had the pipeline's
 * wait for its binding (the binding follows the first records of a fresh session).
 */
export class LiveEntryWatch {
  private readonly judge: EntryJudge;

  constructor(attributor: Attributor, private readonly options: LiveEntryOptions) {
    this.judge = new EntryJudge(attributor, { rootNamer: options.rootNamer, localNode: options.localNode });
  }

  /** For LivePipelineOptions.onEmit. */
  readonly onEmit = (event: AuditEvent, container: AttributedContainer | null): string => {
    const found = eventEntry(event.records);
    if (!found) return '';
    const entry = this.judge.judge({ ...found, bound: container?.contid ?? null, initOf: null });
    if (!entry) return '';
    const ref = this.options.container;
    if (ref !== undefined && entry.name !== ref && (entry.contid === null || formatContainerId(entry.contid) !== ref)) return '';
    this.options.report(describeUntaggedEntry(entry));
    return this.options.json ? untaggedEntryJson(entry) : '';
  };
}
