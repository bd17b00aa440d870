import { escapeText } from '@contid/core/dist/printable';
import type { AuditRecord } from '@contid/audit/dist/record';
import type { BootVerdict } from '@contid/audit/dist/boot-watch';

/** Verdicts worded one by one; the rest are counted in one line. */
const WORDED = 5;

/** Where a record is: `FILE byte N` over inputs read as one (search), or "in the stream" (tail). */
export type RecordPlace = (offset: number) => string;

/** One line for a settled drop of a node's serial (see SerialWatch): a boot inferred, or a lone low record not taken for one. */
export function describeBootVerdict(v: BootVerdict, rec: AuditRecord, place: RecordPlace): string {
  const node = escapeText(v.node === '' ? '(no node= prefix)' : v.node);
  const at = new Date(v.timeMs).toISOString();
  if (v.boot) {
    return `node ${node} booted again at ${at}, inferred from its kernel serials (${v.previousSerial} then ${v.serial} at ${place(rec.offset)}, the next record ${v.nextSerial}): its sessions before are not attributed by the bindings after, nor the reverse`;
  }
  return `a record of node ${node} at ${at} with serial ${v.serial}, far below the node's ${v.previousSerial} (${place(rec.offset)}), was not taken for a boot: the node's next record (${v.nextSerial}) went on with the old count — a forged or misplaced line?`;
}

/** Collects verdicts during a search; lines() words them for stderr, at most WORDED of each kind. */
export class BootReport {
  private readonly seen: { v: BootVerdict; rec: AuditRecord }[] = [];
  private counts = { boot: 0, lone: 0 };

  readonly onBootVerdict = (v: BootVerdict, rec: AuditRecord): void => {
    const kind = v.boot ? 'boot' : 'lone';
    if (this.counts[kind]++ < WORDED) this.seen.push({ v, rec });
  };

  lines(place: RecordPlace): string[] {
    const out = this.seen.map(({ v, rec }) => describeBootVerdict(v, rec, place));
    if (this.counts.boot > WORDED) out.push(`and ${this.counts.boot - WORDED} more boot(s) inferred from kernel serials`);
    if (this.counts.lone > WORDED) out.push(`and ${this.counts.lone - WORDED} more lone low-serial record(s) not taken for a boot`);
    return out;
  }
}

/** For a live reader: each verdict said as it comes, the first WORDED of each kind, then at every power of ten. */
export function liveBootReporter(say: (line: string) => void): (v: BootVerdict, rec: AuditRecord) => void {
  const counts = { boot: 0, lone: 0 };
  return (v, rec) => {
    const n = ++counts[v.boot ? 'boot' : 'lone'];
    if (n <= WORDED) say(describeBootVerdict(v, rec, () => 'in the stream'));
    else if (Number.isInteger(Math.log10(n))) say(`${n} ${v.boot ? 'boots inferred from kernel serials' : 'lone low-serial records not taken for a boot'} since start (the last: ${describeBootVerdict(v, rec, () => 'in the stream')})`);
  };
}
