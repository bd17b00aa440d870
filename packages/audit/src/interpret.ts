import koffi from 'koffi';
import type { AuditEvent } from './reassembler';
import type { AuditRecord } from './record';
import { libauditTypeName, machineOf } from './libaudit';
import { bytesToText } from './safe-text';

/**
 * `ausearch -i` for one event, with libauparse doing every field's interpretation
 * (auparse_interp_adjust_type + auparse_do_interpretation, the calls ausearch 3.0.9 makes),
 * the log's ENRICHED part loaded for each record as ausearch loads it, and the same walk over
 * the record text: so uid/gid names, syscalls, exit codes, modes, capabilities, sockaddr,
 * proctitle and free text come out as ausearch prints them.
 */

/** auparse-defs.h auparse_type_t values this module tests for. */
const TYPE_UNCLASSIFIED = 0;
const TYPE_TTY_DATA = 20;
const TYPE_MAC_LABEL = 32;
const ESC_TTY = 1;
const SYSCALL = 1300;
const SECCOMP = 1326;
const TRUSTED_APP = 1121;
const KEY_SEPARATOR = '\x01';

interface Libauparse {
  adjustType(recordType: number, name: Buffer, value: Buffer): number;
  interpret(type: number, id: IdData, escape: number): unknown;
  loadInterpretations(enriched: Buffer): number;
  freeInterpretations(): void;
  strlen(p: unknown): number | bigint;
  free(p: unknown): void;
  bytes(p: unknown, n: number): Uint8Array;
}

interface IdData {
  machine: number;
  syscall: number;
  a0: bigint;
  a1: bigint;
  cwd: null;
  name: Buffer;
  val: Buffer;
}

let lib: Libauparse | null | undefined;

function libauparse(): Libauparse | null {
  if (lib !== undefined) return lib;
  try {
    const au = koffi.load('libauparse.so.0');
    const libc = koffi.load('libc.so.6');
    // anonymous: a named koffi type is process-wide and cannot be declared twice (jest loads modules per file)
    const idata = koffi.struct({ machine: 'uint', syscall: 'int', a0: 'uint64', a1: 'uint64', cwd: 'void *', name: 'void *', val: 'void *' });
    lib = {
      adjustType: au.func('int auparse_interp_adjust_type(int rtype, void *name, void *val)') as Libauparse['adjustType'],
      interpret: au.func('auparse_do_interpretation', 'void *', ['int', koffi.pointer(idata), 'int']) as Libauparse['interpret'],
      loadInterpretations: au.func('int _auparse_load_interpretations(void *buf)') as Libauparse['loadInterpretations'],
      freeInterpretations: au.func('void _auparse_free_interpretations(void)') as Libauparse['freeInterpretations'],
      strlen: libc.func('size_t strlen(void *s)') as Libauparse['strlen'],
      free: libc.func('void free(void *p)') as Libauparse['free'],
      bytes: (p, n) => koffi.decode(p, koffi.array('uint8_t', n, 'Typed')) as Uint8Array,
    };
  } catch {
    lib = null;
  }
  return lib;
}

/** True when libauparse can be loaded (package libauparse0). */
export function libauparseAvailable(): boolean {
  return libauparse() !== null;
}

/** NUL-terminated bytes of a latin1 (one char per byte) string, for a `const char *`. */
const cstr = (s: string): Buffer => Buffer.from(`${s}\0`, 'latin1');

const pad = (n: number, w = 2): string => String(n).padStart(w, '0');

let lastSecond = NaN;
let lastStamp = '';

/** strftime("%x %T") of ausearch's locale: en_US prints a four-digit year, C/POSIX two. */
function stampTime(ms: number): string {
  const second = Math.floor(ms / 1000);
  if (second === lastSecond) return lastStamp;
  const d = new Date(second * 1000);
  const locale = process.env.LC_ALL || process.env.LC_TIME || process.env.LANG || 'C';
  const year = /^en_US/.test(locale) ? String(d.getFullYear()) : pad(d.getFullYear() % 100);
  lastSecond = second;
  lastStamp = `${pad(d.getMonth() + 1)}/${pad(d.getDate())}/${year} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  return lastStamp;
}

/**
 * Renders events as `ausearch -i` does. Holds what ausearch keeps between records (the last
 * SYSCALL's a0/a1) and a bounded cache of interpretations: most values (uid=0, arch, a
 * syscall number) repeat, and a call into the library is dearer than a map lookup.
 */
export class AusearchInterpreter {
  private a0 = 0n;
  private a1 = 0n;
  private readonly cache = new Map<string, string>();
  private readonly types = new Map<string, number>();
  private loaded = false;

  private constructor(private readonly au: Libauparse) {}

  /** Null when libauparse is not installed. */
  static open(): AusearchInterpreter | null {
    const au = libauparse();
    return au ? new AusearchInterpreter(au) : null;
  }

  /** The event as ausearch -i prints it (without the `----` line): text, ending in a newline. */
  event(event: AuditEvent): string {
    const recs = event.records;
    // ausearch prints newest record first; an event that ends in a DAEMON_* record, only that one.
    const last = recs[recs.length - 1];
    const shown = last.typeNumber !== null && last.typeNumber >= 1200 && last.typeNumber < 1300 ? [last] : [...recs].reverse();
    let out = '';
    for (const r of shown) out += this.record(r, event);
    // a log line holds no newline: every other control character is escaped
    return out.split('\n').map((line) => bytesToText(line, { escapeControls: true })).join('\n');
  }

  /** One record as a latin1 (byte) string. */
  private record(rec: AuditRecord, event: AuditEvent): string {
    let text = rec.raw;
    if (event.node !== null) {
      const sp = text.indexOf(' ');
      if (sp >= 0) text = text.slice(sp + 1);
    }
    const open = text.indexOf('(');
    if (open < 0) return '';
    const canonical = rec.typeNumber !== null ? libauditTypeName(rec.typeNumber) : null;
    let out = event.node !== null ? `node=${event.node} ` : '';
    out += canonical ? `type=${canonical} msg=audit(` : `${text.slice(0, open)}(`;
    const close = text.indexOf(')', open + 1);
    if (close < 0) return out;
    out += `${stampTime(event.timeMs)}.${pad(event.timeMs % 1000, 3)}:${event.serialText ?? event.serial}) `;
    const type = rec.typeNumber ?? -1;
    if (type === SYSCALL) {
      this.a0 = hexArg(rec.fields.get('a0'));
      this.a1 = hexArg(rec.fields.get('a1'));
    }
    const ctx: RecordContext = { type, machine: -1, syscall: -1, enriched: rec.enriched, rawEnriched: rec.enrichedText ?? null };
    try {
      out += this.fields(text.slice(close + 1), ctx);
    } finally {
      if (this.loaded) {
        this.au.freeInterpretations();
        this.loaded = false;
      }
    }
    return `${out}\n`;
  }

  /** ausearch's walk over `name=value` pairs, each value cut where ausearch cuts it. */
  private fields(rest: string, ctx: RecordContext): string {
    let out = '';
    let pos: number | null = 0;
    let found = false;
    let comma = false;
    let sawNoEquals = false;
    while (pos !== null && pos < rest.length) {
      const eq = rest.indexOf('=', pos);
      if (eq < 0) {
        sawNoEquals = true;
        break;
      }
      comma = false;
      found = true;
      let start = eq;
      while (start > pos && rest[start] !== ' ') start--;
      let name = rest.slice(start, eq);
      out += `${rest.slice(pos, eq)}=`;
      const from = eq + 1;
      // a user record's msg='…': its fields are walked as if they stood outside
      if (name === 'msg') {
        pos = from;
        continue;
      }
      if (name.startsWith("'")) name = name.slice(1);
      let end: number;
      let next: number | null;
      const q = rest[from];
      if (q === "'" || q === '"') {
        const closing = rest.indexOf(q, from + 1);
        if (closing < 0) {
          end = rest.length;
          next = null;
        } else {
          end = closing + 1;
          next = end < rest.length ? end + 1 : end; // the byte after the quote is eaten
        }
      } else {
        const c = rest.indexOf(',', from);
        const sp = rest.indexOf(' ', from);
        if (c >= 0 && sp >= 0 && c < sp) {
          // a value with commas: a MAC label keeps them, anything else ends at the comma
          if (this.adjustType(ctx.type, bare(name), rest.slice(sp)) === TYPE_MAC_LABEL) [end, next] = [sp, sp + 1];
          else [end, next, comma] = [c, c + 1, true];
        } else if (c >= 0 && sp < 0) {
          if (this.adjustType(ctx.type, bare(name), rest.slice(from)) === TYPE_MAC_LABEL) [end, next] = [rest.length, null];
          else [end, next, comma] = [c, c + 1, true];
        } else if (sp >= 0) [end, next] = [sp, sp + 1];
        else [end, next] = [rest.length, null];
      }
      out += this.value(name, rest.slice(from, end), comma, ctx);
      pos = next;
    }
    if ((!found && sawNoEquals) || comma) out += `${pos === null ? '' : rest.slice(pos)}\n`;
    return out;
  }

  /** One value as ausearch's report_interpret prints it. */
  private value(rawName: string, rawValue: string, comma: boolean, ctx: RecordContext): string {
    const name = bare(rawName);
    const val = name === 'acct' && rawValue.endsWith(':') ? rawValue.slice(0, -1) : rawValue;
    const type = this.adjustType(ctx.type, name, val);
    let syscall = 0;
    if (ctx.type === SYSCALL || ctx.type === SECCOMP) {
      if (ctx.machine === -1) ctx.machine = machineOf(undefined);
      if (name === 'arch') ctx.machine = machineOf(val);
      if (ctx.syscall < 0 && name === 'syscall') ctx.syscall = Number.parseInt(val, 10) || 0;
      syscall = ctx.syscall;
    }
    if (type === TYPE_UNCLASSIFIED) return `${val}${comma ? ',' : ' '}`;
    const out = this.interpretation(type, name, val, syscall, ctx);
    if (name === 'key') return `${out.split(KEY_SEPARATOR).join(' key=')} `;
    return type === TYPE_TTY_DATA ? out : `${out} `;
  }

  /** libauparse's field type; it reads the value only for acct= and TRUSTED_APP records. */
  private adjustType(recordType: number, name: string, val: string): number {
    if (name === 'acct' || recordType === TRUSTED_APP) return this.au.adjustType(recordType, cstr(name), cstr(val));
    const key = `${recordType}\0${name}`;
    let type = this.types.get(key);
    if (type === undefined) {
      type = this.au.adjustType(recordType, cstr(name), cstr(val));
      if (this.types.size < 10_000) this.types.set(key, type);
    }
    return type;
  }

  private interpretation(type: number, name: string, val: string, syscall: number, ctx: RecordContext): string {
    const enrichedValue = ctx.enriched?.get(name.toUpperCase()) ?? '';
    const args = /^a[0-3]$/.test(name) ? `${this.a0}:${this.a1}` : '';
    const key = `${type}\0${name}\0${val}\0${ctx.machine}\0${syscall}\0${args}\0${enrichedValue}`;
    const hit = this.cache.get(key);
    if (hit !== undefined) return hit;
    if (!this.loaded && ctx.rawEnriched !== null) {
      this.au.loadInterpretations(cstr(ctx.rawEnriched));
      this.loaded = true;
    }
    const id: IdData = { machine: ctx.machine >>> 0, syscall, a0: this.a0, a1: this.a1, cwd: null, name: cstr(name), val: cstr(val) };
    const p = this.au.interpret(type, id, ESC_TTY);
    let out = '';
    if (p !== null) {
      const n = Number(this.au.strlen(p));
      if (n > 0) out = Buffer.from(this.au.bytes(p, n)).toString('latin1');
      this.au.free(p);
    }
    // values that repeat (ids, arch, syscall, modes, capabilities) are short; a path or a title rarely repeats
    if (val.length <= 40) {
      if (this.cache.size >= 20_000) this.cache.clear();
      this.cache.set(key, out);
    }
    return out;
  }
}

interface RecordContext {
  type: number;
  machine: number;
  syscall: number;
  enriched: Map<string, string> | null;
  rawEnriched: string | null;
}

/** A field name without the leading blanks and parentheses ausearch skips. */
const bare = (name: string): string => name.replace(/^[ (]+/, '');

function hexArg(v: string | undefined): bigint {
  if (v === undefined || !/^[0-9a-fA-F]{1,16}$/.test(v)) return 0n;
  return BigInt(`0x${v}`);
}
