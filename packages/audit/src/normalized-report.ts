import type { AuditEvent } from './reassembler';
import { AUPARSE_ESC_TTY, AUPARSE_TYPE, NORM_OPT_ALL, NORM_OPT_NO_ATTRS, cstr, libauparse, type AuState, type CPointer, type Libauparse } from './libauparse';
import { localTime, type LocalTime } from './local-time';
import { csvCell } from './csv-cell';

/**
 * `ausearch --format text` and `--format csv` (ausearch-report.c, text_event and csv_event):
 * the event's records are fed to a libauparse feed state, and its normalizer
 * (auparse_normalize and the auparse_normalize_* cursor calls) says who did what to what
 * and how. The walk below is ausearch's own, so the sentence or row is the one it prints.
 */

/** ausearch's --extra-* options of the csv format. */
export interface CsvExtras {
  /** --extra-keys: a KEY column. */
  keys?: boolean;
  /** --extra-labels: SUBJ_LABEL and OBJ_LABEL columns. */
  labels?: boolean;
  /** --extra-obj2: an OBJ2 column. */
  obj2?: boolean;
  /** --extra-time: YEAR … GMT_OFFSET columns. */
  time?: boolean;
}

/** ausearch's csv header row (it prints it before the first event), newline-terminated. */
export function csvHeader(extras: CsvExtras = {}): string {
  return (
    `NODE,EVENT,DATE,TIME,${extras.time ? 'YEAR,MONTH,DAY,WEEKDAY,HOUR,MILLI,GMT_OFFSET,' : ''}SERIAL_NUM,EVENT_KIND,` +
    `SESSION,SUBJ_PRIME,SUBJ_SEC,SUBJ_KIND,${extras.labels ? 'SUBJ_LABEL,' : ''}ACTION,` +
    `RESULT,OBJ_PRIME,OBJ_SEC,${extras.obj2 ? 'OBJ2,' : ''}${extras.labels ? 'OBJ_LABEL,' : ''}OBJ_KIND,HOW${extras.keys ? ',KEY' : ''}\n`
  );
}

const AUDIT_CONFIG_CHANGE = 1305;
/** CONFIG_CHANGE actions whose object ausearch prints as the field's name. */
const setAction = (action: string | null): boolean => action === 'set' || action === 'seccomp-logging';

/** The --extra-time cells YEAR … GMT_OFFSET, each followed by a comma. */
function extraTime(t: LocalTime, milli: number): string {
  // ausearch's GMT_OFFSET minutes are (seconds past the hour) % 60: +05:30 prints +05:00
  const total = Math.abs(t.gmtOffset);
  const hour = Math.floor(total / 3600);
  const offset = `${t.gmtOffset >= 0 ? '+' : '-'}${String(hour).padStart(2, '0')}:${String((total - hour * 3600) % 60).padStart(2, '0')}`;
  return `${t.year},${t.month},${t.day},${t.weekday},${t.hour},${milli},${offset},`;
}

/** ausearch's row after SERIAL_NUM for an event it cannot normalize: empty cells. */
const emptyFrame = (x: CsvExtras): string => `,,,,,,,,,${x.labels ? ',,' : ''}${x.keys ? ',' : ''}\n`;

/**
 * One feed state of libauparse, as ausearch keeps one for its whole run. Output is latin1
 * (one char per byte): the caller makes it text.
 */
export class NormalizedReport {
  private out = '';
  private errors: string[] = [];
  private readonly au: AuState;

  private constructor(
    private readonly lib: Libauparse,
    private readonly format: 'text' | 'csv',
    private readonly extras: CsvExtras,
  ) {
    this.au = lib.feedState(AUPARSE_ESC_TTY, () => {
      this.out += format === 'text' ? this.textLine() : this.csvRow();
    });
  }

  /** Null when libauparse is not installed. */
  static open(format: 'text' | 'csv', extras: CsvExtras = {}): NormalizedReport | null {
    const lib = libauparse();
    return lib ? new NormalizedReport(lib, format, extras) : null;
  }

  /** The lines libauparse's events of this event make (usually one), as latin1. */
  event(event: AuditEvent): string {
    // as ausearch feeds each record: the line with its ENRICHED part, newline-terminated (one
    // call for the event's lines: libauparse splits its input at newlines, wherever chunks end)
    let text = '';
    for (const r of event.records) text += r.enrichedText != null ? `${r.raw}\x1d${r.enrichedText}\n` : `${r.raw}\n`;
    const lines = cstr(text);
    this.lib.feed(this.au, lines, lines.length - 1);
    this.lib.flushFeed(this.au);
    const out = this.out;
    this.out = '';
    return out || this.unparsed(event);
  }

  /**
   * An event libauparse made nothing of (a NUL in its text, say) is still one line, never
   * dropped: the line ausearch prints for an event its normalizer knows nothing about.
   */
  private unparsed(event: AuditEvent): string {
    const t = localTime(event.timeMs);
    const serial = event.serialText ?? String(event.serial);
    if (this.format === 'text') return `${event.node !== null ? `On ${event.node} at` : 'At'} ${t.time} ${t.date}  did-unknown \n`;
    const x = this.extras;
    const time = x.time ? extraTime(t, event.timeMs % 1000) : '';
    return `${csvCell(event.node ?? '')},${csvCell(event.records[0].type)},${t.date},${t.time},${time}${serial},${emptyFrame(x)}`;
  }

  /** auparse_interpret_field at the cursor; printf's "(null)" for NULL. */
  private field(): string {
    return this.str(this.lib.interpretField(this.au));
  }

  private str(p: CPointer): string {
    return this.lib.bytes(p) ?? '(null)';
  }

  /** True when the normalizer set the cursor on the field asked for. */
  private at(which: Parameters<Libauparse['normalizeField']>[1]): boolean {
    return this.lib.normalizeField(this.au, which) === 1;
  }

  /** ausearch's RESULT word: index 1 for a success. */
  private succeeded(): boolean {
    const item = this.field();
    return item === 'yes' || item.startsWith('suc') || (this.lib.getFieldType(this.au) === AUPARSE_TYPE.SECCOMP && item === 'allow');
  }

  /** auparse_get_node: a malloc'd copy (freed) whose presence says the event has a node. */
  private hasNode(): boolean {
    const node = this.lib.getNode(this.au);
    if (node === null) return false;
    this.lib.free(node);
    return true;
  }

  /** A C string, or null for NULL (where ausearch tests for it). */
  private maybe(p: CPointer): string | null {
    return this.lib.bytes(p);
  }

  /** text_event's object: a file resolved, a socket address (else its family), a CONFIG_CHANGE `set` as its field name. */
  private textObject(recordType: number, action: string | null): string {
    const lib = this.lib;
    // ausearch's "accessing " for an AVC's object stays only where no other rule names it
    let val: string | null = action?.includes('violated') ? 'accessing ' : null;
    const ftype = lib.getFieldType(this.au);
    if (ftype === AUPARSE_TYPE.ESCAPED_FILE) val = this.maybe(lib.interpretRealpath(this.au));
    else if (ftype === AUPARSE_TYPE.SOCKADDR) val = this.maybe(lib.interpretSockAddress(this.au)) ?? this.maybe(lib.interpretSockFamily(this.au));
    else if (recordType === AUDIT_CONFIG_CHANGE) val = setAction(action) ? lib.getFieldName(this.au) : this.field();
    return val ?? this.field();
  }

  /** csv_event's object: a file resolved, a CONFIG_CHANGE `set` as its field name. */
  private csvObject(action: string | null): string {
    const lib = this.lib;
    if (lib.getFieldType(this.au) === AUPARSE_TYPE.ESCAPED_FILE) return this.str(lib.interpretRealpath(this.au));
    if (lib.getType(this.au) === AUDIT_CONFIG_CHANGE && setAction(action)) return lib.getFieldName(this.au) ?? '(null)';
    return this.field();
  }

  /** The second object (both formats): a file resolved. */
  private object2(): string {
    return this.lib.getFieldType(this.au) === AUPARSE_TYPE.ESCAPED_FILE ? this.str(this.lib.interpretRealpath(this.au)) : this.field();
  }

  private seconds(): number {
    return Number(this.lib.getTime(this.au)) * 1000;
  }

  /** text_event: "At TIME SUBJECT, acting as …, successfully VERB OBJECT using HOW". */
  private textLine(): string {
    const lib = this.lib;
    const au = this.au;
    const t = localTime(this.seconds());
    const stamp = `${t.time} ${t.date}`;
    const recordType = lib.getType(au);
    lib.normalize(au, NORM_OPT_NO_ATTRS);
    let out = this.hasNode() ? `On ${this.field()} at ${stamp} ` : `At ${stamp} `;
    let id = -2;
    if (this.at('subject_primary')) {
      const subj = this.field();
      id = lib.getFieldInt(au);
      out += subj === 'unset' ? 'system' : subj;
    }
    if (this.at('subject_secondary')) {
      const uid = lib.getFieldInt(au);
      if (uid !== id && id !== -2 && uid !== -1) out += `, acting as ${this.field()},`;
    }
    out += this.at('get_results') ? ` ${this.succeeded() ? 'successfully' : 'unsuccessfully'} ` : ' ';
    const action = lib.normalizeWord(au, 'get_action');
    out += `${action ?? 'did-unknown'} `;
    if (this.at('object_primary')) out += `${this.textObject(recordType, action)} `;
    if (this.at('object_primary2')) out += `to ${this.object2()} `;
    const how = lib.normalizeWord(au, 'how');
    if (how !== null && action !== null && !action.startsWith('e')) out += `using ${how}`; // not for ended-session
    return `${out}\n`;
  }

  /**
   * csv_event: one row of ausearch's columns. Every cell from the log or libauparse goes
   * through csvCell (quoted, formulas neutralised); only the cells contid writes from numbers
   * (DATE, TIME, the --extra-time cells, SERIAL_NUM) are written as they are.
   */
  private csvRow(): string {
    const lib = this.lib;
    const au = this.au;
    const x = this.extras;
    let out = this.hasNode() ? `${csvCell(this.field())},` : ',';
    const typeName = lib.getTypeName(au);
    out += `${csvCell(typeName ?? '')},`;
    const rc = lib.normalize(au, x.labels ? NORM_OPT_ALL : NORM_OPT_NO_ATTRS);
    const t = localTime(this.seconds());
    out += `${t.date},${t.time},`;
    if (x.time) out += extraTime(t, lib.getMilli(au));
    out += `${lib.getSerial(au)},`;
    if (rc !== 0) {
      // ausearch's stderr line for an event its normalizer cannot read (printf's "(null)" for no name)
      this.errors.push(`error normalizing ${typeName ?? '(null)'}`);
      return out + emptyFrame(x);
    }
    const cells: string[] = [lib.normalizeWord(au, 'get_event_kind') ?? 'unknown', this.at('session') ? this.field() : ''];
    let subj = '';
    if (this.at('subject_primary')) {
      subj = this.field();
      if (subj === 'unset') subj = 'system';
    }
    cells.push(subj, this.at('subject_secondary') ? this.field() : '', lib.normalizeWord(au, 'subject_kind') ?? '');
    if (x.labels) cells.push(this.attribute('subject', 'subj'));
    const action = lib.normalizeWord(au, 'get_action');
    cells.push(
      action ?? 'did-unknown',
      this.at('get_results') ? (this.succeeded() ? 'success' : 'failed') : '',
      this.at('object_primary') ? this.csvObject(action) : '',
      this.at('object_secondary') ? this.field() : '',
    );
    if (x.obj2) cells.push(this.at('object_primary2') ? this.object2() : '');
    if (x.labels) cells.push(this.attribute('object', 'obj'));
    cells.push(lib.normalizeWord(au, 'object_kind') ?? '(null)', lib.normalizeWord(au, 'how') ?? '');
    if (x.keys) cells.push(this.at('key') ? this.field() : '');
    return `${out}${cells.map(csvCell).join(',')}\n`;
  }

  /** ausearch's stderr lines ("error normalizing TYPE") since the last call. */
  takeErrors(): string[] {
    const errors = this.errors;
    this.errors = [];
    return errors;
  }

  /** The subj= or obj= attribute of the normalized subject or object, or ''. */
  private attribute(side: 'subject' | 'object', name: string): string {
    let rc = this.at(`${side}_first_attribute`);
    do {
      if (rc && this.lib.getFieldName(this.au) === name) return this.field();
      rc = this.at(`${side}_next_attribute`);
    } while (rc);
    return '';
  }
}
