import { bytesToText } from './safe-text';
import { libauditTypeNumber } from './libaudit';

/**
 * One auditd log line: `[node=X ]type=NAME msg=audit(SEC.MSEC:SERIAL): k=v …`, optionally
 * followed by 0x1D and the ENRICHED part (UPPERCASE names with interpreted values).
 */
export interface AuditRecord {
  node: string | null;
  /** Type name as auditd printed it (`SYSCALL`, `UNKNOWN[1336]`). */
  type: string;
  /** Numeric type when the name is known (or printed as UNKNOWN[n]); null otherwise. */
  typeNumber: number | null;
  /** `SEC.MSEC` (milliseconds as three digits, whatever form the stamp had). */
  time: string;
  /** Milliseconds since the epoch. */
  timeMs: number;
  /** The serial as a number: exact up to 2^53 (see serialText). */
  serial: number;
  /** The serial's decimal digits without leading zeros: exact at any size. */
  serialText: string;
  /** The record without the enriched part: what `--raw` prints. */
  raw: string;
  /** Fields outside msg='…' (for user records these are stamped by the kernel), raw values. */
  fields: Map<string, string>;
  /** Fields inside a user record's msg='…' body, raw values; empty for kernel records. */
  msg: Map<string, string>;
  /** The msg='…' body text (what contid's mac= covers), or null. */
  body: string | null;
  /** Interpreted fields after 0x1D (enriched logs), or null. */
  enriched: Map<string, string> | null;
  /** The text after 0x1D as written (libauparse reads it whole), or null. */
  readonly enrichedText?: string | null;
  /** Byte offset of the line in its input (set by readers; -1 when unknown). */
  offset: number;
}

/** linux/audit.h numbers for the types auditd names; enough for filters and output. */
export const RECORD_TYPES: Readonly<Record<string, number>> = {
  USER: 1005, LOGIN: 1006, CONTAINER_OP: 1020,
  USER_AUTH: 1100, USER_ACCT: 1101, USER_MGMT: 1102, CRED_ACQ: 1103, CRED_DISP: 1104, USER_START: 1105,
  USER_END: 1106, USER_AVC: 1107, USER_CHAUTHTOK: 1108, USER_ERR: 1109, CRED_REFR: 1110, USYS_CONFIG: 1111,
  USER_LOGIN: 1112, USER_LOGOUT: 1113, ADD_USER: 1114, DEL_USER: 1115, ADD_GROUP: 1116, DEL_GROUP: 1117,
  DAC_CHECK: 1118, CHGRP_ID: 1119, TEST: 1120, TRUSTED_APP: 1121, USER_SELINUX_ERR: 1122, USER_CMD: 1123,
  USER_TTY: 1124, CHUSER_ID: 1125, GRP_AUTH: 1126, SYSTEM_BOOT: 1127, SYSTEM_SHUTDOWN: 1128,
  SYSTEM_RUNLEVEL: 1129, SERVICE_START: 1130, SERVICE_STOP: 1131, GRP_MGMT: 1132, GRP_CHAUTHTOK: 1133,
  USER_DEVICE: 1137, SOFTWARE_UPDATE: 1138,
  DAEMON_START: 1200, DAEMON_END: 1201, DAEMON_ABORT: 1202, DAEMON_CONFIG: 1203, DAEMON_RECONFIG: 1204,
  DAEMON_ROTATE: 1205, DAEMON_RESUME: 1206, DAEMON_ACCEPT: 1207, DAEMON_CLOSE: 1208, DAEMON_ERR: 1209,
  SYSCALL: 1300, PATH: 1302, IPC: 1303, SOCKETCALL: 1304, CONFIG_CHANGE: 1305, SOCKADDR: 1306, CWD: 1307,
  EXECVE: 1309, IPC_SET_PERM: 1311, MQ_OPEN: 1312, MQ_SENDRECV: 1313, MQ_NOTIFY: 1314, MQ_GETSETATTR: 1315,
  KERNEL_OTHER: 1316, FD_PAIR: 1317, OBJ_PID: 1318, TTY: 1319, EOE: 1320, BPRM_FCAPS: 1321, CAPSET: 1322,
  MMAP: 1323, NETFILTER_PKT: 1324, NETFILTER_CFG: 1325, SECCOMP: 1326, PROCTITLE: 1327, FEATURE_CHANGE: 1328,
  REPLACE: 1329, KERN_MODULE: 1330, FANOTIFY: 1331, TIME_INJOFFSET: 1332, TIME_ADJNTPVAL: 1333, BPF: 1334,
  EVENT_LISTENER: 1335, URINGOP: 1336, OPENAT2: 1337, DM_CTRL: 1338, DM_EVENT: 1339,
  AVC: 1400, SELINUX_ERR: 1401, AVC_PATH: 1402, MAC_POLICY_LOAD: 1403, MAC_STATUS: 1404, MAC_CONFIG_CHANGE: 1405,
  ANOM_PROMISCUOUS: 1700, ANOM_ABEND: 1701, ANOM_LINK: 1702, ANOM_CREAT: 1703,
  INTEGRITY_RULE: 1805, KERNEL: 2000,
  ANOM_LOGIN_FAILURES: 2100, ANOM_EXEC: 2112, RESP_ANOMALY: 2200,
  VIRT_CONTROL: 2500, VIRT_RESOURCE: 2501, VIRT_MACHINE_ID: 2502, VIRT_INTEGRITY_CHECK: 2503,
  VIRT_CREATE: 2504, VIRT_DESTROY: 2505, VIRT_MIGRATE_IN: 2506, VIRT_MIGRATE_OUT: 2507,
};

/**
 * Every stamp form ausearch accepts (str2event in ausearch-lol.c): `audit(SEC.MSEC:SERIAL):`,
 * and without the colon after it (`type=DAEMON_CONFIG msg=audit(…:34) config changed`), the
 * milliseconds or the serial left out (0).
 */
const HEAD = /^(?:node=(\S+) )?type=(\S+) msg=audit\((\d{1,12})(?:\.(\d{1,3}))?(?::(\d{1,20}))?\)(?::? ?|$)/;
const FIELD = /([A-Za-z0-9_-]+)=("[^"]*"|\S*)/g;
const UNKNOWN = /^UNKNOWN\[(\d+)\]$/;

/** A character of a field name in FIELD: [A-Za-z0-9_-]. */
const isNameChar = (c: number): boolean => (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === 95 || c === 45;
/** JavaScript's \s (what FIELD's \S* stops at), for any UTF-16 unit. */
function isSpace(c: number): boolean {
  if (c <= 32) return c === 32 || (c >= 9 && c <= 13);
  if (c < 0xa0) return false;
  return c === 0xa0 || c === 0x1680 || (c >= 0x2000 && c <= 0x200a) || c === 0x2028 || c === 0x2029 || c === 0x202f || c === 0x205f || c === 0x3000 || c === 0xfeff;
}

/**
 * The next key=value token of `text` at or after `from`, FIELD's next match found by a loop
 * over the characters (no match array per field): its name is `text[at[0], at[1])`, its raw
 * value `text[at[1] + 1, at[2])`. Returns false when there is none. splitAuditFields and the
 * JSON writer (json-event.ts) read fields through it, so they split alike.
 */
export function nextField(text: string, from: number, at: Int32Array): boolean {
  const n = text.length;
  for (let i = from; i < n; ) {
    if (!isNameChar(text.charCodeAt(i))) {
      i++;
      continue;
    }
    // a run of name characters is a name only when '=' ends it (no shorter run of it can be)
    let j = i + 1;
    while (j < n && isNameChar(text.charCodeAt(j))) j++;
    if (j >= n || text.charCodeAt(j) !== 61) {
      i = j;
      continue;
    }
    const v = j + 1;
    let end = -1;
    if (v < n && text.charCodeAt(v) === 34) {
      const close = text.indexOf('"', v + 1);
      if (close >= 0) end = close + 1;
    }
    if (end < 0) {
      end = v;
      while (end < n && !isSpace(text.charCodeAt(end))) end++;
    }
    at[0] = i;
    at[1] = j;
    at[2] = end;
    return true;
  }
  return false;
}

const splitAt = new Int32Array(3);

/**
 * key=value tokens; values may be "quoted" or bare (hex or plain). The first of a name wins.
 * (record.test.ts holds nextField's loop to FIELD over random text.)
 */
export function splitAuditFields(text: string, into = new Map<string, string>()): Map<string, string> {
  const at = splitAt;
  for (let i = 0; nextField(text, i, at); i = at[2]) {
    const name = text.slice(at[0], at[1]);
    if (!into.has(name)) into.set(name, text.slice(at[1] + 1, at[2]));
  }
  return into;
}

/**
 * Fields the kernel and libaudit write with audit_log_untrustedstring / audit_encode_nv_string:
 * quoted, or upper-case hex when the text needs it. Only these may be hex-decoded: an inode,
 * a device or a pid of even length is made of hex digits too.
 */
const ENCODED_FIELDS = new Set([
  'acct', 'cmd', 'comm', 'cwd', 'data', 'dir', 'exe', 'file', 'grp', 'hostname', 'key', 'name',
  'new-chardev', 'new-disk', 'new-fs', 'new-net', 'new-rng', 'old-chardev', 'old-disk', 'old-fs',
  'old-net', 'old-rng', 'ocomm', 'path', 'proctitle', 'reason', 'root_dir', 'sw', 'terminal',
  'uuid', 'vm', 'watch',
]);
const ARGV_FIELD = /^a\d+(\[\d+\])?$/;

/** a0, a1 … are encoded strings in EXECVE records, but hex register values in SYSCALL ones. */
export function isEncodedField(name: string, type?: string): boolean {
  // the first letter before the pattern: this is asked for every field of every record printed
  return ENCODED_FIELDS.has(name) || (name.charCodeAt(0) === 97 && ARGV_FIELD.test(name) && (type === undefined || type === 'EXECVE'));
}

/**
 * The decoded value of a raw field: quotes stripped, and — for fields that are written
 * encoded (or when the name is not known) — upper-case hex decoded; else as is.
 */
export function fieldValue(raw: string | undefined, name?: string, type?: string): string | undefined {
  if (raw === undefined) return undefined;
  if (raw.length >= 2 && raw.startsWith('"') && raw.endsWith('"')) return bytesToText(raw.slice(1, -1), PLAIN);
  if (name !== undefined && !isEncodedField(name, type)) return bytesToText(raw, PLAIN);
  if (raw.length % 2 === 0 && raw.length > 0 && /^[0-9A-F]+$/.test(raw)) return bytesToText(Buffer.from(raw, 'hex').toString('latin1'), PLAIN);
  return bytesToText(raw, PLAIN);
}

/** Decoded values are text: valid UTF-8, an invalid byte as \ooo (ausearch's escape). */
const PLAIN = { escapeControls: false };

export function recordTypeNumber(type: string): number | null {
  // own keys only: a line of `type=valueOf` must not find Object.prototype.valueOf
  const known = Object.hasOwn(RECORD_TYPES, type) ? RECORD_TYPES[type] : undefined;
  if (known !== undefined) return known;
  const m = UNKNOWN.exec(type);
  return m ? Number(m[1]) : libauditTypeNumber(type);
}

/**
 * A record whose head is parsed at once and whose fields are split on first use: most lines
 * of a big log are only grouped, filtered by type or printed raw, never taken apart. Its text
 * is made on first use too: a full scan hands in the line's bytes (parseRecordBytes), and a
 * record printed raw is written from them without ever becoming a string.
 */
class LazyRecord implements AuditRecord {
  private split_: { fields: Map<string, string>; msg: Map<string, string>; body: string | null } | null = null;
  private enriched_: Map<string, string> | null | undefined = undefined;
  private raw_: string | null = null;
  private rest_: string | null = null;
  /** Set when fields, msg or body were assigned: the text no longer says what they are. */
  private assigned = false;
  /** kernelSession's answer, kept: an event's session is asked for several times on its way (NOT_READ: not yet). */
  private session_: number | null | undefined | typeof NOT_READ = NOT_READ;

  constructor(
    public node: string | null,
    public type: string,
    public typeNumber: number | null,
    public timeMs: number,
    public serial: number,
    public offset: number,
    /** `SEC.MSEC` when the seconds were not written as String(seconds) would (null: derived). */
    private time_: string | null,
    /** The serial's digits when String(serial) would not give them (null: derived). */
    private serialText_: string | null,
    /** The line as a latin1 string, or null while it is only `bytes[at, at + length)`. */
    private line_: string | null,
    private bytes: Buffer | null,
    private readonly at: number,
    private readonly length: number,
    /** Where the fields start in the line (after `…): `). */
    private readonly headEnd: number,
    /** Where 0x1D starts the ENRICHED part, or -1. */
    private readonly gs: number,
  ) {}

  get time(): string {
    return this.time_ ?? `${Math.floor(this.timeMs / 1000)}.${String(this.timeMs % 1000).padStart(3, '0')}`;
  }
  set time(v: string) {
    this.time_ = v;
  }
  get serialText(): string {
    return (this.serialText_ ??= String(this.serial));
  }
  /** The serial's digits when String(serial) would not give them (see explicitSerialText); null otherwise. */
  get explicitSerialText(): string | null {
    return this.serialText_;
  }
  set serialText(v: string) {
    this.serialText_ = v;
  }
  private get line(): string {
    return (this.line_ ??= this.bytes!.toString('latin1', this.at, this.at + this.length));
  }
  get raw(): string {
    return (this.raw_ ??= this.gs >= 0 ? this.line.slice(0, this.gs) : this.line);
  }
  set raw(v: string) {
    this.raw_ = v;
    this.session_ = NOT_READ;
  }
  private get rest(): string {
    return (this.rest_ ??= this.raw.slice(this.headEnd));
  }

  /** The raw part's bytes (`buf[start, end)`), when the record still has them and not only a string. */
  rawBytes(): { buf: Buffer; start: number; end: number } | null {
    if (this.bytes === null || this.raw_ !== null) return null;
    return { buf: this.bytes, start: this.at, end: this.at + (this.gs >= 0 ? this.gs : this.length) };
  }

  /** The whole line's length in bytes (ENRICHED part too) while the record still has them and its raw part is the line's, else -1. */
  lineByteLength(): number {
    return this.bytes === null || this.raw_ !== null ? -1 : this.length;
  }

  /** The raw part's length in bytes while the record has them (see rawBytes), else -1. */
  rawByteLength(): number {
    return this.bytes === null || this.raw_ !== null ? -1 : this.gs >= 0 ? this.gs : this.length;
  }

  /** Copies the whole line's bytes to `target` at `at` (see lineByteLength) and returns where they end; -1 when it has only strings. */
  copyLine(target: Buffer, at: number): number {
    if (this.bytes === null || this.raw_ !== null) return -1;
    return at + this.bytes.copy(target, at, this.at, this.at + this.length);
  }

  /** Its text as a string of its own: the buffer it was read into is no longer held. */
  detach(): void {
    if (this.bytes === null) return;
    this.line_ = this.line;
    this.bytes = null;
  }

  private parts(): { fields: Map<string, string>; msg: Map<string, string>; body: string | null } {
    if (this.split_) return this.split_;
    let rest = this.rest;
    let body: string | null = null;
    const msg = new Map<string, string>();
    const open = rest.indexOf("msg='");
    if (open >= 0) {
      const close = rest.lastIndexOf("'");
      // An unterminated body is a truncated line: keep what is there rather than drop it.
      const end = close > open + 4 ? close : rest.length;
      body = rest.slice(open + 5, end);
      splitAuditFields(body, msg);
      rest = rest.slice(0, open) + rest.slice(end + 1);
    }
    this.split_ = { fields: splitAuditFields(rest), msg, body };
    return this.split_;
  }

  get fields(): Map<string, string> {
    return this.parts().fields;
  }

  /**
   * fields.get(name) without splitting every field. When the first `name=` of the text not
   * right after a name character (old-ses= is another name) starts a word and nothing before
   * it is quoted or separated by anything but spaces (a kernel record up to its ses=), it is
   * the field the split would find: its value runs to the next blank. Else the split's own
   * scan, stopped at the first of that name.
   */
  field(name: string): string | undefined {
    const rest = this.rest;
    if (this.split_ || rest.includes("msg='")) return this.parts().fields.get(name);
    // the first `name=`, found as `name` followed by '=' (no key string made per call);
    // right after a name character it ends a longer name (old-ses=) or lies inside a value: a
    // name the split finds starts at the text's start or after a character no name has
    const n = name.length;
    let at = rest.indexOf(name);
    while (at >= 0 && (rest.charCodeAt(at + n) !== 61 || (at > 0 && isNameChar(rest.charCodeAt(at - 1))))) at = rest.indexOf(name, at + 1);
    if (at < 0) return undefined;
    const from = at + n + 1;
    if ((at === 0 || rest.charCodeAt(at - 1) === 32) && rest.charCodeAt(from) !== 34 && !notPlainBefore(rest, at)) {
      // to the next \s, by the split's own test: no match object per call
      let to = from;
      while (to < rest.length && !isSpace(rest.charCodeAt(to))) to++;
      return rest.slice(from, to);
    }
    FIELD.lastIndex = 0;
    for (let m = FIELD.exec(rest); m; m = FIELD.exec(rest)) if (m[1] === name) return m[2];
    return undefined;
  }
  set fields(v: Map<string, string>) {
    this.assigned = true;
    this.session_ = NOT_READ;
    this.parts().fields = v;
  }

  /**
   * The text `fields` is split from, when that is all of it: no `msg='…'` body, and nothing
   * assigned since. Null otherwise.
   */
  plainFieldsText(): string | null {
    if (this.assigned) return null;
    const rest = this.rest;
    return rest.includes("msg='") ? null : rest;
  }

  /**
   * The two texts `fields` and `msg` are split from, when the record has a `msg='…'` body and
   * nothing was assigned since: the kernel part with the body cut out, and the body (parts()'s
   * own cut, so each splits to the same map). Null otherwise.
   */
  bodyFieldsTexts(): { fields: string; body: string } | null {
    if (this.assigned) return null;
    const rest = this.rest;
    const open = rest.indexOf("msg='");
    if (open < 0) return null;
    const close = rest.lastIndexOf("'");
    const end = close > open + 4 ? close : rest.length;
    return { fields: rest.slice(0, open) + rest.slice(end + 1), body: rest.slice(open + 5, end) };
  }

  /**
   * field('ses') as a session (see kernelSession), read from the bytes while the record has
   * only them (plainSessionBytes); NOT_BY_BYTES when the bytes alone do not decide.
   */
  sessionFromBytes(): number | null | undefined | typeof NOT_BY_BYTES {
    const buf = this.bytes;
    if (buf === null || this.raw_ !== null || this.split_ !== null) return NOT_BY_BYTES;
    return plainSessionBytes(buf, this.at + this.headEnd, this.at + (this.gs >= 0 ? this.gs : this.length));
  }
  /** kernelSession(this), read once. */
  session(): number | null | undefined {
    if (this.session_ !== NOT_READ) return this.session_;
    const fast = this.sessionFromBytes();
    if (fast !== NOT_BY_BYTES) return (this.session_ = fast);
    const ses = this.field('ses');
    return (this.session_ = ses === undefined ? undefined : sessionValue(ses));
  }
  get msg(): Map<string, string> {
    return this.parts().msg;
  }
  set msg(v: Map<string, string>) {
    this.assigned = true;
    this.session_ = NOT_READ;
    this.parts().msg = v;
  }
  get body(): string | null {
    return this.parts().body;
  }
  set body(v: string | null) {
    this.assigned = true;
    this.session_ = NOT_READ;
    this.parts().body = v;
  }
  get enrichedText(): string | null {
    return this.gs >= 0 ? this.line.slice(this.gs + 1) : null;
  }
  get enriched(): Map<string, string> | null {
    if (this.enriched_ === undefined) this.enriched_ = this.gs >= 0 ? splitAuditFields(this.line.slice(this.gs + 1)) : null;
    return this.enriched_;
  }
  set enriched(v: Map<string, string> | null) {
    this.enriched_ = v;
  }
}

/** What could make a field split differ from a plain search before `end`: a quote, or a blank other than a space (["\t\n\v\f\r\xa0]). */
function notPlainBefore(text: string, end: number): boolean {
  for (let i = 0; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c === 34 || (c >= 9 && c <= 13) || c === 0xa0) return true;
  }
  return false;
}

/** True when `head` (a line's first few hundred bytes) starts like an audit record. */
export function looksLikeRecord(head: string): boolean {
  const gs = head.indexOf('\x1d');
  return HEAD.test(gs >= 0 ? head.slice(0, gs) : head);
}

/**
 * Parses one log line (without its newline). Null when the line is not an audit record:
 * callers count those as skipped. Never throws. Fields are split lazily, on first access.
 */
export function parseRecord(line: string, offset = -1): AuditRecord | null {
  const gs = line.indexOf('\x1d');
  const raw = gs >= 0 ? line.slice(0, gs) : line;
  const head = HEAD.exec(raw);
  if (!head) return null;
  const ms = Number(head[4] ?? 0);
  const serialText = (head[5] ?? '0').replace(/^0+(?=\d)/, '');
  return new LazyRecord(
    head[1] ?? null,
    head[2],
    recordTypeNumber(head[2]),
    Number(head[3]) * 1000 + ms,
    Number(serialText),
    offset,
    `${head[3]}.${String(ms).padStart(3, '0')}`,
    serialText,
    line,
    null,
    0,
    line.length,
    head[0].length,
    gs,
  );
}

/** A blank to `\s` in HEAD, for a latin1 byte: tab to carriage return, space, no-break space. */
const isBlankByte = (b: number): boolean => b === 0x20 || (b >= 0x09 && b <= 0x0d) || b === 0xa0;
const isDigit = (b: number): boolean => b >= 0x30 && b <= 0x39;
const NODE_EQ = [0x6e, 0x6f, 0x64, 0x65, 0x3d]; // node=
const TYPE_EQ = [0x74, 0x79, 0x70, 0x65, 0x3d]; // type=
const MSG_AUDIT = [0x20, 0x6d, 0x73, 0x67, 0x3d, 0x61, 0x75, 0x64, 0x69, 0x74, 0x28]; // ' msg=audit('
/** A loop, not Buffer.compare: for words this short the call costs more than the bytes. */
function startsWithAt(buf: Buffer, at: number, end: number, word: number[]): boolean {
  if (at + word.length > end) return false;
  for (let i = 0; i < word.length; i++) if (buf[at + i] !== word[i]) return false;
  return true;
}

/** A type name seen, its bytes (latin1) and number. */
interface TypeName {
  name: string;
  num: number | null;
}
/** Type names seen, by length and first letters; a log has a few dozen (bounded all the same). */
const typeNames = new Map<number, TypeName[]>();

/** The type name in `buf[start, end)`: no string made for a name seen before. */
function typeNameAt(buf: Buffer, start: number, end: number): TypeName {
  const len = end - start;
  const slot = len * 65536 + buf[start] * 256 + buf[end - 1];
  const seen = typeNames.get(slot);
  if (seen !== undefined)
    for (const t of seen) {
      let i = 0;
      while (i < len && t.name.charCodeAt(i) === buf[start + i]) i++;
      if (i === len) return t;
    }
  const name = buf.toString('latin1', start, end);
  const t = { name, num: recordTypeNumber(name) };
  if (typeNames.size < 4096 && (seen?.length ?? 0) < 8) {
    if (seen) seen.push(t);
    else typeNames.set(slot, [t]);
  }
  return t;
}

/** The first 0x1D at or after `gsFrom` in `gsBuf` (-1: none to the buffer's end), from one search for many lines. */
let gsBuf: Buffer | null = null;
let gsFrom = 0;
let gsAt = -1;

/**
 * Where the raw part of the line `buf[start, end)` ends: its first 0x1D, else `end`. One
 * search (memchr) serves every line up to the next 0x1D of the buffer — a search per line
 * would run past the line to the next one, and a byte loop costs more than the rest of the
 * parse. The buffer is never written again (parseRecordBytes' rule), so what was found stays.
 */
function enrichedStart(buf: Buffer, start: number, end: number): number {
  if (buf !== gsBuf || start < gsFrom || (gsAt >= 0 && gsAt < start)) {
    gsBuf = buf;
    gsFrom = start;
    gsAt = buf.indexOf(0x1d, start);
  }
  return gsAt >= 0 && gsAt < end ? gsAt : end;
}

/** What readHead found of a line's head (one object, reused: no object per line). */
const lineHead = {
  rawEnd: 0,
  nodeEnd: -1,
  typeStart: 0,
  typeEnd: 0,
  secStart: 0,
  secDigits: 0,
  sec: 0,
  ms: 0,
  serial: 0,
  serialText: null as string | null,
  /** Where the fields start: after `)`, an optional `:`, an optional space. */
  restStart: 0,
};

/**
 * The head of the line `buf[start, end)` read into `lineHead`, by HEAD's grammar byte for byte;
 * false when the line is not an audit record. parseRecordBytes and sessionOfRecordLine both
 * read heads through it, so the index reads a line's fields from where the scan does.
 */
function readHead(buf: Buffer, start: number, end: number): boolean {
  const rawEnd = enrichedStart(buf, start, end);
  let p = start;
  lineHead.nodeEnd = -1;
  if (buf[p] === 0x6e && startsWithAt(buf, p, rawEnd, NODE_EQ)) {
    let q = p + NODE_EQ.length;
    while (q < rawEnd && !isBlankByte(buf[q])) q++;
    if (q === p + NODE_EQ.length || q >= rawEnd || buf[q] !== 0x20) return false;
    lineHead.nodeEnd = q;
    p = q + 1;
  }
  if (!startsWithAt(buf, p, rawEnd, TYPE_EQ)) return false;
  const typeStart = p + TYPE_EQ.length;
  let q = typeStart;
  while (q < rawEnd && !isBlankByte(buf[q])) q++;
  if (q === typeStart || !startsWithAt(buf, q, rawEnd, MSG_AUDIT)) return false;
  const typeEnd = q;
  p = q + MSG_AUDIT.length;
  // SEC (1–12 digits), then .MSEC (1–3), then :SERIAL (1–20), then ')'
  const secStart = p;
  let sec = 0;
  while (p < rawEnd && isDigit(buf[p]) && p - secStart < 13) sec = sec * 10 + buf[p++] - 0x30;
  const secDigits = p - secStart;
  if (secDigits === 0 || secDigits > 12) return false;
  let ms = 0;
  if (p < rawEnd && buf[p] === 0x2e /* . */) {
    const m0 = ++p;
    while (p < rawEnd && isDigit(buf[p]) && p - m0 < 4) ms = ms * 10 + buf[p++] - 0x30;
    if (p === m0 || p - m0 > 3) return false;
  }
  let serial = 0;
  let serialText: string | null = null;
  if (p < rawEnd && buf[p] === 0x3a /* : */) {
    const s0 = ++p;
    while (p < rawEnd && isDigit(buf[p]) && p - s0 < 21) p++;
    if (p === s0 || p - s0 > 20) return false;
    let z = s0;
    while (z < p - 1 && buf[z] === 0x30) z++; // leading zeros, as parseRecord drops them
    if (p - z > 15) {
      serialText = buf.toString('latin1', z, p);
      serial = Number(serialText);
    } else for (let i = z; i < p; i++) serial = serial * 10 + buf[i] - 0x30;
  }
  if (p >= rawEnd || buf[p] !== 0x29 /* ) */) return false;
  p++;
  if (p < rawEnd && buf[p] === 0x3a) p++;
  if (p < rawEnd && buf[p] === 0x20) p++;
  lineHead.rawEnd = rawEnd;
  lineHead.typeStart = typeStart;
  lineHead.typeEnd = typeEnd;
  lineHead.secStart = secStart;
  lineHead.secDigits = secDigits;
  lineHead.sec = sec;
  lineHead.ms = ms;
  lineHead.serial = serial;
  lineHead.serialText = serialText;
  lineHead.restStart = p;
  return true;
}

/**
 * parseRecord for the line `buf[start, end)`, its head read from the bytes (readHead: the same
 * grammar as HEAD, byte for byte) and no string made: the record points at `buf`, which the
 * caller must never write again (scanLines with keepChunks), and becomes text only when
 * something reads it.
 */
export function parseRecordBytes(buf: Buffer, start: number, end: number, offset: number): AuditRecord | null {
  if (!readHead(buf, start, end)) return null;
  const h = lineHead;
  const node = h.nodeEnd < 0 ? null : buf.toString('latin1', start + NODE_EQ.length, h.nodeEnd);
  const type = typeNameAt(buf, h.typeStart, h.typeEnd);
  // seconds written with a leading zero: the time keeps the digits as written
  const time = h.secDigits > 1 && buf[h.secStart] === 0x30 ? `${buf.toString('latin1', h.secStart, h.secStart + h.secDigits)}.${String(h.ms).padStart(3, '0')}` : null;
  const rawEnd = h.rawEnd;
  return new LazyRecord(node, type.name, type.num, h.sec * 1000 + h.ms, h.serial, offset, time, h.serialText, null, buf, start, end - start, h.restStart - start, rawEnd < end ? rawEnd - start : -1);
}

/**
 * kernelSession of the record on the line `buf[start, end)` (no newline), read as every
 * decoded path reads it — its head by readHead, its fields' bytes by plainSessionBytes, else
 * the record parsed and its fields split — for the readers that see lines as bytes only: the
 * index builder files each line's event by it and the index check reads every line it lets
 * print by it, so the index never says another session than a scan. Undefined when the line
 * names no session (or is not a record), null when unset or not a session number. `sesAt`:
 * where the first `ses=` after the line's stamp lies, when the caller searched for it already.
 */
export function sessionOfRecordLine(buf: Buffer, start: number, end: number, sesAt = -1): number | null | undefined {
  if (!readHead(buf, start, end)) return undefined;
  const fast = plainSessionBytes(buf, lineHead.restStart, lineHead.rawEnd, sesAt);
  if (fast !== NOT_BY_BYTES) return fast;
  const rec = parseRecordBytes(buf, start, end, -1);
  return rec === null ? undefined : kernelSession(rec);
}

/**
 * The text a record's `fields` are split from (nextField's input) when they are all of it: a
 * record of this parser without a `msg='…'` body (a kernel record), fields never assigned.
 * Null otherwise: read `fields` and `msg`.
 */
export function plainFieldsText(rec: AuditRecord): string | null {
  return rec instanceof LazyRecord ? rec.plainFieldsText() : null;
}

/**
 * For a record of this parser with a `msg='…'` body (a user-space record: a binding, a PAM
 * record), the texts `fields` and `msg` are split from (nextField's inputs), fields never
 * assigned; null otherwise.
 */
export function bodyFieldsTexts(rec: AuditRecord): { fields: string; body: string } | null {
  return rec instanceof LazyRecord ? rec.bodyFieldsTexts() : null;
}

/** The raw part's bytes of a record parsed by parseRecordBytes, while it has them; else null (use `raw`). */
export function recordRawBytes(rec: AuditRecord): { buf: Buffer; start: number; end: number } | null {
  return rec instanceof LazyRecord ? rec.rawBytes() : null;
}

/**
 * A record's whole line — raw part, then 0x1D and the ENRICHED part when it has one: parsing
 * it again gives the record. Its length in bytes, and (writeRecordLine) the bytes themselves,
 * copied from the bytes read when the record still points at them, no string made.
 */
export function recordLineLength(rec: AuditRecord): number {
  const n = rec instanceof LazyRecord ? rec.lineByteLength() : -1;
  if (n >= 0) return n;
  const enriched = rec.enrichedText ?? null;
  return rec.raw.length + (enriched === null ? 0 : 1 + enriched.length);
}

/** The length in bytes of the record's raw part: the line's (see recordLineLength) up to its 0x1D. */
export function recordRawLength(rec: AuditRecord): number {
  const n = rec instanceof LazyRecord ? rec.rawByteLength() : -1;
  return n >= 0 ? n : rec.raw.length;
}

/** Writes the line (see recordLineLength) into `target` at `at`; returns where it ends. */
export function writeRecordLine(rec: AuditRecord, target: Buffer, at: number): number {
  const end = rec instanceof LazyRecord ? rec.copyLine(target, at) : -1;
  if (end >= 0) return end;
  let p = at + target.write(rec.raw, at, 'latin1');
  const enriched = rec.enrichedText ?? null;
  if (enriched !== null) {
    target[p++] = 0x1d;
    p += target.write(enriched, p, 'latin1');
  }
  return p;
}

/**
 * The record's serial digits when `String(rec.serial)` would not give them (more than 15
 * digits), else null — without making the string: String() of a number not seen before
 * enters V8's number-to-string cache, and one such call per event made a full scan's
 * scavenges copy and promote records of events long gone (a reader that needs the text
 * makes it where it prints it). Records of other parsers always have their text.
 */
export function explicitSerialText(rec: AuditRecord): string | null {
  return rec instanceof LazyRecord ? rec.explicitSerialText : rec.serialText;
}

/** Gives a record parsed by parseRecordBytes its own string, so that the buffer it points at can go. */
export function detachRecord(rec: AuditRecord): void {
  if (rec instanceof LazyRecord) rec.detach();
}

/** `rec.fields.get(name)`, without taking the whole record apart when it is not yet. */
export function kernelField(rec: AuditRecord, name: string): string | undefined {
  return rec instanceof LazyRecord ? rec.field(name) : rec.fields.get(name);
}

/** LazyRecord's session not read yet. */
const NOT_READ = Symbol('not read');
/** What LazyRecord.sessionFromBytes() says when the bytes alone do not decide. */
const NOT_BY_BYTES = Symbol('not by bytes');
const MSG_BODY = Buffer.from("msg='");
const SES_EQ = Buffer.from('ses=');

/**
 * The kernel's session of a record's raw part `buf[restStart, rawEnd)` (its text after the
 * head, up to its 0x1D or end), as LazyRecord.field('ses') and sessionValue read it, when the
 * bytes alone say it: the first `ses=` not after a name character (old-ses= is another name)
 * follows a space (or starts the text), is not quoted, nothing before it is quoted, and no
 * `msg='` begins before its value ends; the value runs to the next blank.
 * NOT_BY_BYTES when this path does not decide (the split then does: sessionOfRecordLine,
 * LazyRecord.session).
 */
function plainSessionBytes(buf: Buffer, restStart: number, rawEnd: number, sesAt = -1): number | null | undefined | typeof NOT_BY_BYTES {
  // searched in the line only: buf.indexOf would search on past it, to the buffer's end
  // when no later line has the bytes (a full scan's 1 MB chunk, once per event)
  const line = buf.subarray(restStart, rawEnd);
  // a body's `'` first: a byte's search (memchr) costs far less than a word's, and kernel
  // records have none
  const body = line.indexOf(0x27) < 0 ? -1 : line.indexOf(MSG_BODY);
  // the caller's search, when it made one for the same bytes (LineHeads)
  let found = sesAt >= restStart && sesAt + SES_EQ.length <= rawEnd ? sesAt - restStart : line.indexOf(SES_EQ);
  // as field(): after a name character it is the end of a longer name (old-ses=) or in a value
  while (found > 0 && isNameChar(buf[restStart + found - 1])) found = line.indexOf(SES_EQ, found + 1);
  // no ses= to find: none, unless a body's cut joins one (`ses` + msg='…' + `=7`)
  if (found < 0) return body >= 0 ? NOT_BY_BYTES : undefined;
  const at = restStart + found;
  const from = at + SES_EQ.length;
  if ((at !== restStart && buf[at - 1] !== 0x20) || (from < rawEnd && buf[from] === 0x22)) return NOT_BY_BYTES;
  // a quote before it may open a value the split runs over it: the split decides. Other
  // blanks before it change nothing here: with a space right before and no quote, every value
  // before it (unquoted, to the next blank) ends before it, and each earlier `ses=` follows a
  // name character, so none starts a field — this is the split's first ses field
  const quote = line.indexOf(0x22);
  if (quote >= 0 && quote < found) return NOT_BY_BYTES;
  let to = from;
  let n = 0;
  while (to < rawEnd && !isBlankByte(buf[to])) {
    const b = buf[to++];
    n = b >= 0x30 && b <= 0x39 && n >= 0 ? n * 10 + b - 0x30 : -1;
  }
  // a msg='…' body is cut out before the split (parts()): one that begins after the value's
  // blank leaves every byte up to it as it is, so the split finds this ses= and this value
  // (a user record's kernel part: `pid= uid= auid= ses=N msg='op=…'`); else the split decides
  if (body >= 0 && restStart + body < to) return NOT_BY_BYTES;
  // sessionValue's rule on the value's text: 1–10 digits, not the unset 4294967295
  return n < 0 || to === from || to - from > 10 || n === 4294967295 ? null : n;
}

/** A `ses=` value as a session: null when unset (4294967295) or not 1–10 digits. */
export function sessionValue(ses: string): number | null {
  return ses === '4294967295' || !/^\d{1,10}$/.test(ses) ? null : Number(ses);
}

/**
 * The kernel-stamped session of one record (its kernel part's `ses=`, never text inside a
 * msg='…' body or the enriched part): undefined when it has none, null when unset or not a
 * session number. A record parsed from bytes is read without becoming a string when its text
 * is plain (an index range's first line, for one); the value is the same either way.
 */
export function kernelSession(rec: AuditRecord): number | null | undefined {
  if (rec instanceof LazyRecord) return rec.session();
  const ses = kernelField(rec, 'ses');
  return ses === undefined ? undefined : sessionValue(ses);
}

/** A field from the kernel part first, then the msg body. */
export function recordField(rec: AuditRecord, name: string): string | undefined {
  return rec.fields.get(name) ?? rec.msg.get(name);
}
