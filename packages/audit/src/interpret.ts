import type { AuditRecord } from './record';
import { libauditTypeName, machineOf } from './libaudit';
import { bytesToText } from './safe-text';
import { localTime } from './local-time';
import { AUPARSE_ESC_TTY, AUPARSE_TYPE, cstr, libauparse, type IdData, type Libauparse } from './libauparse';

/**
 * `ausearch -i` for one event, with libauparse doing every field's interpretation
 * (auparse_interp_adjust_type + auparse_do_interpretation, the calls ausearch 3.0.9 makes),
 * the log's ENRICHED part loaded for each record as ausearch loads it, and the same walk over
 * the record text: so uid/gid names, syscalls, exit codes, modes, capabilities, sockaddr,
 * proctitle and free text come out as ausearch prints them.
 */

const { UNCLASSIFIED: TYPE_UNCLASSIFIED, TTY_DATA: TYPE_TTY_DATA, MAC_LABEL: TYPE_MAC_LABEL, ESCAPED: TYPE_ESCAPED } = AUPARSE_TYPE;
const SYSCALL = 1300;
const SECCOMP = 1326;
const TRUSTED_APP = 1121;
const KEY_SEPARATOR = '\x01';

/** True when libauparse can be loaded (package libauparse0). */
export function libauparseAvailable(): boolean {
  return libauparse() !== null;
}

const pad = (n: number, w = 2): string => String(n).padStart(w, '0');

/** strftime("%x %T"), as ausearch -i prints a record's time. */
function stampOf(ms: number): string {
  const t = localTime(ms);
  return `${t.date} ${t.time}`;
}

/**
 * How one field name of one record type is interpreted: libauparse's field type (it reads
 * only the name and the record type here) and the memo of what it printed for each value.
 * auparse_do_interpretation reads nothing but the value for every type except SYSCALL and
 * ARCH (the record's machine) and A0–A3 (machine, syscall, the SYSCALL's a0 and a1), and
 * the log's ENRICHED value of the same name when there is one: those go into the memo key.
 */
interface FieldPlan {
  type: number;
  /** The ENRICHED name (upper case) that overrides the interpretation. */
  enrichedName: string;
  memo: Map<string, string>;
  /** Lookups and hits of `memo` (see worthRemembering). */
  stats: MemoStats;
}

interface MemoStats {
  tries: number;
  hits: number;
}

const CONTEXT_NONE = 0;
const CONTEXT_MACHINE = 1;
const CONTEXT_ARGS = 2;
const contextOf = (type: number): number =>
  type === AUPARSE_TYPE.SYSCALL || type === AUPARSE_TYPE.ARCH ? CONTEXT_MACHINE : type >= AUPARSE_TYPE.A0 && type <= AUPARSE_TYPE.A3 ? CONTEXT_ARGS : CONTEXT_NONE;

/** Bound on the memo (characters of values and answers kept): beyond it, it starts again. */
const MEMO_CHARS = 8 << 20;
/** Text that goes out as it is: printable ASCII (anything else is escaped, see event). */
const PLAIN = /^[\x20-\x7e]*$/;
/** See worthRemembering: lookups before judging, the share that must hit (1 in MIN_HITS), lookups per window. */
const RECORD_MEMO_PROBE = 512;
const RECORD_MEMO_MIN_HITS = 8;
const RECORD_MEMO_WINDOW = 1 << 16;
/** Field names that start the part of a record which repeats from one record to the next (PATH's dev=, a user record's subj= or msg=). */
const REPEATING_PARTS = ['dev=', 'subj=', 'msg='];
const startsRepeatingPart = (rest: string, pos: number): boolean => {
  for (const name of REPEATING_PARTS) if (rest.startsWith(name, pos)) return true;
  return false;
};
/** A SYSCALL head of name=value fields, one blank apart, nothing quoted (see syscallFields). */
const PLAIN_HEAD = /^:? ?[^\s='",]+=[^\s='",]*(?: [^\s='",]+=[^\s='",]*)*$/;

/** What the interpreter reads of a record: its text, type number and ENRICHED part. */
export type InterpretedRecord = Pick<AuditRecord, 'raw' | 'typeNumber' | 'enrichedText' | 'enriched'>;

/** What the interpreter reads of an event (an AuditEvent is one). */
export interface InterpretedEvent {
  node: string | null;
  timeMs: number;
  serial: number;
  serialText?: string;
  records: readonly InterpretedRecord[];
}

export interface InterpreterOptions {
  /** Remember interpretations (default true); false asks libauparse for every field (the reference the memo is tested against). */
  memo?: boolean;
}

/**
 * Renders events as `ausearch -i` does. Holds what ausearch keeps between records (the last
 * SYSCALL's a0/a1) and a bounded memo of interpretations: most values (uid=0, arch, a
 * syscall number, a path, a process title) repeat, and a call into the library costs more
 * than a map lookup.
 */
export class AusearchInterpreter {
  private a0 = '';
  private a1 = '';
  private readonly plans = new Map<number, Map<string, FieldPlan | null>>();
  /** Whole records' interpreted fields by record type, then text and ENRICHED part. */
  private readonly records = new Map<number, Map<string, string>>();
  /** SYSCALL records' interpreted tails (see syscallFields), by text and ENRICHED part. */
  private readonly syscallTails = new Map<string, string>();
  /** SYSCALL records' interpreted fronts (see syscallHead), by text, a0/a1 and ENRICHED part. */
  private readonly syscallFronts = new Map<string, { out: string; machine: number; syscall: number }>();
  /** Other records' repeating parts (see fields), by text and ENRICHED part. */
  private readonly suffixes = new Map<string, string>();
  /** Per record type, lookups and hits of the whole-record memo: a type whose records never repeat is not remembered. */
  private readonly recordHits = new Map<number, MemoStats>();
  private memoChars = 0;
  private loaded = false;
  /**
   * Pieces of output seen that are not printable ASCII (a record's text, an interpretation):
   * an event during which it did not move goes out as it is, and a memo keeps only what was
   * made while it did not move — so what a memo gives back is plain.
   */
  private nonPlain = 0;

  private constructor(
    private readonly au: Libauparse,
    private readonly memo: boolean,
  ) {}

  /** Null when libauparse is not installed. */
  static open(options: InterpreterOptions = {}): AusearchInterpreter | null {
    const au = libauparse();
    return au ? new AusearchInterpreter(au, options.memo ?? true) : null;
  }

  /** The event as ausearch -i prints it (without the `----` line): text, ending in a newline. */
  event(event: InterpretedEvent): string {
    const recs = event.records;
    const before = this.nonPlain;
    if (event.node !== null && !PLAIN.test(event.node)) this.nonPlain++;
    let out = '';
    // every record of the event has its stamp: made once
    const stamp = `${stampOf(event.timeMs)}.${pad(event.timeMs % 1000, 3)}:${event.serialText ?? event.serial}) `;
    // ausearch prints newest record first; an event that ends in a DAEMON_* record, only that one.
    const last = recs[recs.length - 1];
    if (last.typeNumber !== null && last.typeNumber >= 1200 && last.typeNumber < 1300) out = this.record(last, event.node, stamp);
    else for (let i = recs.length - 1; i >= 0; i--) out += this.record(recs[i], event.node, stamp);
    this.lastPlain = this.nonPlain === before;
    if (this.lastPlain) return out;
    // a log line holds no newline: every other control character is escaped
    return out.split('\n').map((line) => bytesToText(line, { escapeControls: true })).join('\n');
  }

  /** Whether the last event's text was printable ASCII and newlines only (its UTF-8 is its latin1). */
  lastPlain = false;

  /** One record as a latin1 (byte) string. */
  private record(rec: InterpretedRecord, node: string | null, stamp: string): string {
    let text = rec.raw;
    if (node !== null) {
      const sp = text.indexOf(' ');
      if (sp >= 0) text = text.slice(sp + 1);
    }
    const open = text.indexOf('(');
    if (open < 0) return '';
    const canonical = rec.typeNumber !== null ? libauditTypeName(rec.typeNumber) : null;
    let out = node !== null ? `node=${node} ` : '';
    if (canonical) out += `type=${canonical} msg=audit(`;
    else {
      const name = text.slice(0, open);
      if (!PLAIN.test(name)) this.nonPlain++;
      out += `${name}(`;
    }
    const close = text.indexOf(')', open + 1);
    if (close < 0) return out;
    out += stamp;
    const type = rec.typeNumber ?? -1;
    const rest = text.slice(close + 1);
    if (type === SYSCALL) {
      this.a0 = argText(rest, ' a0=');
      this.a1 = argText(rest, ' a1=');
    }
    const rawEnriched = rec.enrichedText ?? null;
    // a record that read nothing but its own text is remembered whole; not one that read the
    // previous SYSCALL's a0/a1 (contextual), nor a SYSCALL (its pid and pointers never repeat)
    let byText: Map<string, string> | undefined;
    let key = rest;
    const before = this.nonPlain;
    if (this.memo && type !== SYSCALL && this.recordsWorthRemembering(type)) {
      byText = this.records.get(type);
      if (byText === undefined) this.records.set(type, (byText = new Map()));
      if (rawEnriched !== null) key = `${rest}\x1d${rawEnriched}`;
      const seen = byText.get(key);
      if (seen !== undefined) {
        this.recordHits.get(type)!.hits++;
        return `${out}${seen}\n`;
      }
    }
    // a remembered record was plain (see nonPlain): only a new one is looked at
    if (!PLAIN.test(rest)) this.nonPlain++;
    const ctx: RecordContext = { type, machine: -1, syscall: -1, enriched: rawEnriched === null ? null : rec.enriched, rawEnriched, contextual: false };
    let fields: string;
    try {
      fields = type === SYSCALL && this.memo ? this.syscallFields(rest, ctx) : this.fields(rest, ctx);
    } finally {
      if (this.loaded) {
        this.au.freeInterpretations();
        this.loaded = false;
      }
    }
    if (byText !== undefined && !ctx.contextual && this.nonPlain === before) this.remember(byText, key, fields);
    return `${out}${fields}\n`;
  }

  /**
   * A SYSCALL record's fields: its head (arch … pid: pointers and pids that never repeat)
   * walked each time, its tail from ` auid=` on (ids, tty, session, comm, exe, key: the same
   * for every syscall of a process) remembered whole like other records. The walk of the
   * tail alone prints what the whole walk prints there when the head is plain name=value
   * fields one blank apart: then the walk reaches ` auid=` as the next field.
   */
  private syscallFields(rest: string, ctx: RecordContext): string {
    const cut = rest.indexOf(' auid=');
    if (cut < 0 || !PLAIN_HEAD.test(rest.slice(0, cut))) return this.fields(rest, ctx);
    const head = this.syscallHead(rest.slice(0, cut + 1), ctx);
    const tail = rest.slice(cut + 1);
    const key = ctx.rawEnriched === null ? tail : `${tail}\x1d${ctx.rawEnriched}`;
    const seen = this.syscallTails.get(key);
    if (seen !== undefined) return head + seen;
    const headContextual = ctx.contextual;
    ctx.contextual = false;
    const before = this.nonPlain;
    const fields = this.fields(tail, ctx);
    if (!ctx.contextual && this.nonPlain === before) this.remember(this.syscallTails, key, fields);
    ctx.contextual ||= headContextual;
    return head + fields;
  }

  /**
   * A plain SYSCALL head (see syscallFields): its front up to ` ppid=` (arch, syscall, success,
   * exit, a0–a3, items: the same for many calls of a program) remembered, ppid and pid walked
   * each time. The front's walk reads nothing but its text, the record's own a0/a1 and its
   * ENRICHED part (the machine and syscall start afresh for each record), all in the key; the
   * machine and syscall it leaves are remembered with it for the fields after it.
   */
  private syscallHead(head: string, ctx: RecordContext): string {
    const cut = head.indexOf(' ppid=');
    if (cut < 0) return this.fields(head, ctx);
    const front = head.slice(0, cut + 1);
    const key = `${front}\0${this.a0}\0${this.a1}${ctx.rawEnriched === null ? '' : `\x1d${ctx.rawEnriched}`}`;
    let seen = this.syscallFronts.get(key);
    if (seen === undefined) {
      const before = this.nonPlain;
      seen = { out: this.fields(front, ctx), machine: ctx.machine, syscall: ctx.syscall };
      if (this.nonPlain === before) this.remember(this.syscallFronts, key, seen, seen.out.length);
    } else {
      ctx.machine = seen.machine;
      ctx.syscall = seen.syscall;
      ctx.contextual = true; // a0–a3 read the machine and syscall
    }
    return seen.out + this.fields(head.slice(cut + 1), ctx);
  }

  /** Whether whole records of this type are looked up and remembered (see worthRemembering). */
  private recordsWorthRemembering(type: number): boolean {
    let h = this.recordHits.get(type);
    if (h === undefined) this.recordHits.set(type, (h = { tries: 0, hits: 0 }));
    return worthRemembering(h);
  }

  /** Adds to a memo within the bound on all of them. */
  private remember<V>(memo: Map<string, V>, key: string, out: V, outChars = (out as string).length): void {
    this.memoChars += key.length + outChars;
    if (this.memoChars > MEMO_CHARS) this.forget();
    flatten(typeof out === 'string' ? out : (out as { out?: unknown }).out);
    memo.set(key, out);
  }

  /**
   * ausearch's walk over `name=value` pairs, each value cut where ausearch cuts it. Where the
   * walk reaches a field that starts a record's repeating part (see SUFFIX_NAMES) the rest is
   * remembered whole, like a SYSCALL's tail: the walk from a field's name on prints what the
   * walk of that text alone prints (same names, values and cuts; a field already found), and
   * outside SYSCALL and SECCOMP records nothing carries from one field to the next but the
   * machine, syscall and a0/a1 that `contextual` flags.
   */
  private fields(rest: string, ctx: RecordContext, suffixes = true): string {
    let out = '';
    let pos = 0;
    let done = false;
    let found = false;
    let comma = false;
    let sawNoEquals = false;
    // the first comma at or after the value: found once, not once per field
    let nextComma = -2;
    const suffixMemo = suffixes && this.memo && ctx.type !== SYSCALL && ctx.type !== SECCOMP;
    while (!done && pos < rest.length) {
      if (suffixMemo && found && !comma && startsRepeatingPart(rest, pos)) return out + this.suffix(rest.slice(pos), ctx);
      const eq = rest.indexOf('=', pos);
      if (eq < 0) {
        sawNoEquals = true;
        break;
      }
      comma = false;
      found = true;
      let start = eq;
      while (start > pos && rest.charCodeAt(start) !== 32) start--;
      let name = rest.slice(start, eq);
      out += rest.slice(pos, eq + 1);
      const from = eq + 1;
      // a user record's msg='…': its fields are walked as if they stood outside
      if (name === 'msg') {
        pos = from;
        continue;
      }
      if (name.charCodeAt(0) === 39) name = name.slice(1);
      let end: number;
      let next: number;
      const q = rest.charCodeAt(from);
      if (q === 39 || q === 34) {
        const closing = rest.indexOf(q === 39 ? "'" : '"', from + 1);
        if (closing < 0) {
          end = rest.length;
          next = rest.length;
          done = true;
        } else {
          end = closing + 1;
          next = end < rest.length ? end + 1 : end; // the byte after the quote is eaten
        }
      } else {
        if (nextComma !== -1 && nextComma < from) nextComma = rest.indexOf(',', from);
        const c = nextComma;
        const sp = rest.indexOf(' ', from);
        if (c >= 0 && (sp < 0 || c < sp)) {
          // a value with commas: a MAC label keeps them, anything else ends at the comma
          if (this.adjustType(ctx.type, bare(name), sp >= 0 ? rest.slice(sp) : rest.slice(from)) === TYPE_MAC_LABEL) {
            end = sp >= 0 ? sp : rest.length;
            next = sp >= 0 ? sp + 1 : rest.length;
            done = sp < 0;
          } else {
            end = c;
            next = c + 1;
            comma = true;
          }
        } else if (sp >= 0) {
          end = sp;
          next = sp + 1;
        } else {
          end = rest.length;
          next = rest.length;
          done = true;
        }
      }
      out += this.value(name, rest.slice(from, end), comma, ctx);
      pos = next;
    }
    if ((!found && sawNoEquals) || comma) out += `${done ? '' : rest.slice(pos)}\n`;
    return out;
  }

  /** The walk of a record's repeating part (see fields), remembered by its text and ENRICHED part. */
  private suffix(text: string, ctx: RecordContext): string {
    const key = ctx.rawEnriched === null ? text : `${text}\x1d${ctx.rawEnriched}`;
    const seen = this.suffixes.get(key);
    if (seen !== undefined) return seen;
    const before = ctx.contextual;
    ctx.contextual = false;
    const plainBefore = this.nonPlain;
    const out = this.fields(text, ctx, false);
    if (!ctx.contextual && this.nonPlain === plainBefore) this.remember(this.suffixes, key, out);
    ctx.contextual ||= before;
    return out;
  }

  /** One value as ausearch's report_interpret prints it. */
  private value(rawName: string, rawValue: string, comma: boolean, ctx: RecordContext): string {
    const name = bare(rawName);
    if (ctx.type === SYSCALL || ctx.type === SECCOMP) {
      if (ctx.machine === -1) ctx.machine = machineOf(undefined);
      if (name === 'arch') ctx.machine = machineOf(rawValue);
      if (ctx.syscall < 0 && name === 'syscall') ctx.syscall = Number.parseInt(rawValue, 10) || 0;
    }
    const plan = this.plan(ctx.type, name, rawValue);
    if (plan === null) return this.unplanned(name, rawValue, comma, ctx);
    if (plan.type === TYPE_UNCLASSIFIED) return comma ? `${rawValue},` : `${rawValue} `;
    if (!this.memo) return this.printed(plan.type, name, rawValue, ctx);
    const context = contextOf(plan.type);
    if (context !== CONTEXT_NONE) ctx.contextual = true;
    // a field whose values never repeat (a path, an inode, an argument) is asked each time
    if (!worthRemembering(plan.stats)) return this.printed(plan.type, name, rawValue, ctx);
    let key = rawValue;
    if (context === CONTEXT_MACHINE) key = `${rawValue}\0${ctx.machine}`;
    else if (context === CONTEXT_ARGS) key = `${rawValue}\0${ctx.machine}\0${ctx.syscall}\0${this.a0}\0${this.a1}`;
    const enriched = ctx.enriched?.get(plan.enrichedName);
    if (enriched !== undefined) key = `${key}\x1d${enriched}`;
    const hit = plan.memo.get(key);
    if (hit !== undefined) {
      plan.stats.hits++;
      return hit;
    }
    const before = this.nonPlain;
    const out = this.printed(plan.type, name, rawValue, ctx);
    if (this.nonPlain === before) this.remember(plan.memo, key, out);
    return out;
  }

  /** acct= (its trailing colon cut) and TRUSTED_APP fields: libauparse reads their value to type them. */
  private unplanned(name: string, rawValue: string, comma: boolean, ctx: RecordContext): string {
    const val = name === 'acct' && rawValue.endsWith(':') ? rawValue.slice(0, -1) : rawValue;
    const type = this.au.adjustType(ctx.type, cstr(name), cstr(val));
    if (contextOf(type) !== CONTEXT_NONE) ctx.contextual = true;
    if (type === TYPE_UNCLASSIFIED) return `${val}${comma ? ',' : ' '}`;
    return this.printed(type, name, val, ctx);
  }

  /** What report_interpret prints for a classified field, separator included. */
  private printed(type: number, name: string, val: string, ctx: RecordContext): string {
    let out = this.interpretation(type, name, val, ctx);
    if (name === 'key') out = out.split(KEY_SEPARATOR).join(' key=');
    if (!PLAIN.test(out)) this.nonPlain++;
    return type === TYPE_TTY_DATA && name !== 'key' ? out : `${out} `;
  }

  /** The plan of a field name in a record type; null where the type depends on the value. */
  private plan(recordType: number, name: string, val: string): FieldPlan | null {
    if (name === 'acct' || recordType === TRUSTED_APP) return null;
    let byName = this.plans.get(recordType);
    if (byName === undefined) this.plans.set(recordType, (byName = new Map()));
    let plan = byName.get(name);
    if (plan === undefined) {
      plan = { type: this.au.adjustType(recordType, cstr(name), cstr(val)), enrichedName: name.toUpperCase(), memo: new Map(), stats: { tries: 0, hits: 0 } };
      if (byName.size < 4096) byName.set(name, plan);
    }
    return plan;
  }

  /** libauparse's field type, cached per record type and name but where it reads the value. */
  private adjustType(recordType: number, name: string, val: string): number {
    return this.plan(recordType, name, val)?.type ?? this.au.adjustType(recordType, cstr(name), cstr(val));
  }

  private forget(): void {
    for (const byName of this.plans.values()) for (const plan of byName.values()) plan?.memo.clear();
    this.records.clear();
    this.syscallTails.clear();
    this.syscallFronts.clear();
    this.suffixes.clear();
    this.memoChars = 0;
  }

  /** auparse_do_interpretation, with the record's ENRICHED part loaded as ausearch loads it. */
  private interpretation(type: number, name: string, val: string, ctx: RecordContext): string {
    if (type === TYPE_ESCAPED && ctx.rawEnriched === null) {
      const quoted = quotedPlain(val);
      if (quoted !== null) return quoted;
    }
    if (!this.loaded && ctx.rawEnriched !== null) {
      this.au.loadInterpretations(cstr(ctx.rawEnriched));
      this.loaded = true;
    }
    const syscall = ctx.type === SYSCALL || ctx.type === SECCOMP ? ctx.syscall : 0;
    const id: IdData = { machine: ctx.machine >>> 0, syscall, a0: hexArg(this.a0), a1: hexArg(this.a1), cwd: null, name: cstr(name), val: cstr(val) };
    const p = this.au.interpret(type, id, AUPARSE_ESC_TTY);
    const out = this.au.bytes(p) ?? '';
    if (p !== null) this.au.free(p);
    return out;
  }
}

/**
 * Whether a memo is worth a lookup and an entry: not while fewer than one in
 * RECORD_MEMO_MIN_HITS of its last lookups hit (a PATH's inode, an EXECVE's arguments): the
 * key and the entry cost more than the work they would save. Each window of
 * RECORD_MEMO_WINDOW lookups starts looking again.
 */
function worthRemembering(h: MemoStats): boolean {
  const n = ++h.tries;
  if (n >= RECORD_MEMO_WINDOW) {
    h.tries = 1;
    h.hits = 0;
    return true;
  }
  return n < RECORD_MEMO_PROBE || h.hits * RECORD_MEMO_MIN_HITS >= n;
}

interface RecordContext {
  type: number;
  machine: number;
  syscall: number;
  enriched: Map<string, string> | null;
  rawEnriched: string | null;
  /** A field read the machine, the syscall or the SYSCALL's a0/a1: the record's text alone does not say what it prints. */
  contextual: boolean;
}

/**
 * An ESCAPED field's interpretation without the library, where it is a copy: a value in double
 * quotes up to the next one, printable ASCII between them, prints what is between them
 * (libauparse's print_escaped takes the quoted text as it is, and ausearch's TTY escaping
 * leaves printable ASCII alone; a test holds it to the library on every printable byte).
 * Null where the library must be asked (unquoted hex, an unterminated quote, other bytes).
 */
export function quotedPlain(val: string): string | null {
  if (val.charCodeAt(0) !== 34) return null;
  const close = val.indexOf('"', 1);
  if (close < 0) return null;
  const inner = val.slice(1, close);
  return PLAIN.test(inner) ? inner : null;
}

/**
 * Makes V8 store a string built by `+=` (a rope of the record's slices) as one flat copy, in
 * place: a remembered piece is written out again and again, and written as a rope each write
 * walks it and copies it piece by piece (the write of an event cost several times its copy).
 * Reading a character is what flattens a rope in V8; the value is unchanged.
 */
function flatten(s: unknown): void {
  if (typeof s === 'string') s.charCodeAt(0);
}

/** A field name without the leading blanks and parentheses ausearch skips. */
function bare(name: string): string {
  const c = name.charCodeAt(0);
  return c === 32 || c === 40 ? name.replace(/^[ (]+/, '') : name;
}

/** The SYSCALL's a0= or a1= value as written (`needle` is ' a0='), '' when absent. */
function argText(rest: string, needle: string): string {
  const at = rest.indexOf(needle);
  if (at < 0) return '';
  const end = rest.indexOf(' ', at + needle.length);
  return rest.slice(at + needle.length, end < 0 ? rest.length : end);
}

function hexArg(v: string): bigint {
  if (!/^[0-9a-fA-F]{1,16}$/.test(v)) return 0n;
  return BigInt(`0x${v}`);
}
