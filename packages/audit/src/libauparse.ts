import { loadKoffi } from '@contid/core/dist/native-modules';

/**
 * libauparse (package libauparse0) through koffi: the calls ausearch 3.0.9 makes to interpret
 * a field (`-i`) and to normalize an event (`--format text|csv`). Loaded on first use; null
 * when the library is missing.
 */

/** auparse-defs.h auparse_type_t values contid tests for. */
export const AUPARSE_TYPE = { UNCLASSIFIED: 0, SYSCALL: 3, ARCH: 4, ESCAPED: 6, SOCKADDR: 9, A0: 14, A3: 17, TTY_DATA: 20, SECCOMP: 28, MAC_LABEL: 32, ESCAPED_FILE: 39 } as const;
/** auparse_esc_t: ausearch's default escape mode. */
export const AUPARSE_ESC_TTY = 1;
/** ausource_t AUSOURCE_FEED and normalize_option_t values. */
const AUSOURCE_FEED = 7;
export const NORM_OPT_ALL = 0;
export const NORM_OPT_NO_ATTRS = 1;

/** auparse-idata.h's idata, what auparse_do_interpretation reads. */
export interface IdData {
  machine: number;
  syscall: number;
  a0: bigint;
  a1: bigint;
  cwd: null;
  name: Buffer;
  val: Buffer;
}

/** An auparse_state_t *. */
export type AuState = unknown;
/** A C string owned by libauparse (valid until the next call on the state), or null. */
export type CPointer = unknown;

export interface Libauparse {
  adjustType(recordType: number, name: Buffer, value: Buffer): number;
  interpret(type: number, id: IdData, escape: number): CPointer;
  loadInterpretations(enriched: Buffer): number;
  freeInterpretations(): void;

  feedState(escape: number, onEvent: () => void): AuState;
  feed(au: AuState, data: Buffer, size: number): number;
  flushFeed(au: AuState): number;
  getTime(au: AuState): number | bigint;
  getMilli(au: AuState): number;
  getSerial(au: AuState): number | bigint;
  getNode(au: AuState): CPointer;
  getType(au: AuState): number;
  getTypeName(au: AuState): string | null;
  getFieldName(au: AuState): string | null;
  getFieldType(au: AuState): number;
  getFieldInt(au: AuState): number;
  interpretField(au: AuState): CPointer;
  interpretRealpath(au: AuState): CPointer;
  interpretSockAddress(au: AuState): CPointer;
  interpretSockFamily(au: AuState): CPointer;
  normalize(au: AuState, option: number): number;
  /** auparse_normalize_* returning a field cursor (1 when set): session, subject_primary, … */
  normalizeField(au: AuState, which: NormalizedField): number;
  /** auparse_normalize_* returning a constant word: get_event_kind, subject_kind, get_action, object_kind, how. */
  normalizeWord(au: AuState, which: NormalizedWord): string | null;

  /** A C string's bytes as a latin1 string (one char per byte), or null for NULL. */
  bytes(p: CPointer): string | null;
  free(p: CPointer): void;
}

export type NormalizedField =
  | 'session' | 'subject_primary' | 'subject_secondary' | 'subject_first_attribute' | 'subject_next_attribute'
  | 'get_results' | 'object_primary' | 'object_secondary' | 'object_primary2' | 'object_first_attribute'
  | 'object_next_attribute' | 'key';
export type NormalizedWord = 'get_event_kind' | 'subject_kind' | 'get_action' | 'object_kind' | 'how';

const FIELDS: readonly NormalizedField[] = [
  'session', 'subject_primary', 'subject_secondary', 'subject_first_attribute', 'subject_next_attribute',
  'get_results', 'object_primary', 'object_secondary', 'object_primary2', 'object_first_attribute',
  'object_next_attribute', 'key',
];
const WORDS: readonly NormalizedWord[] = ['get_event_kind', 'subject_kind', 'get_action', 'object_kind', 'how'];

let lib: Libauparse | null | undefined;
const ASCII = /^[\x00-\x7f]*$/;

function load(): Libauparse {
  const koffi = loadKoffi();
  const au = koffi.load('libauparse.so.0');
  const libc = koffi.load('libc.so.6');
  // anonymous: a named koffi type is process-wide and cannot be declared twice (jest loads modules per file)
  const idata = koffi.struct({ machine: 'uint', syscall: 'int', a0: 'uint64', a1: 'uint64', cwd: 'void *', name: 'void *', val: 'void *' });
  const callback = koffi.proto(`auparse_callback_${process.pid}_${Math.random().toString(36).slice(2)}`, 'void', ['void *', 'int', 'void *']);
  const init = au.func('void *auparse_init(int source, void *b)');
  const escapeMode = au.func('void auparse_set_escape_mode(void *au, int mode)');
  const addCallback = au.func('auparse_add_callback', 'void', ['void *', koffi.pointer(callback), 'void *', 'void *']);
  const strlen = libc.func('size_t strlen(void *s)');
  const state = (name: string): ((au: AuState) => number) => au.func(`int ${name}(void *au)`);
  const fields = Object.fromEntries(FIELDS.map((f) => [f, state(`auparse_normalize_${f}`)]));
  const words = Object.fromEntries(WORDS.map((w) => [w, au.func(`const char *auparse_normalize_${w}(void *au)`)]));
  const word = (name: string): ((au: AuState) => CPointer) => au.func(`void *${name}(void *au)`);
  return {
    adjustType: au.func('int auparse_interp_adjust_type(int rtype, void *name, void *val)'),
    interpret: au.func('auparse_do_interpretation', 'void *', ['int', koffi.pointer(idata), 'int']),
    loadInterpretations: au.func('int _auparse_load_interpretations(void *buf)'),
    freeInterpretations: au.func('void _auparse_free_interpretations(void)'),
    feedState: (escape, onEvent) => {
      const st = init(AUSOURCE_FEED, null);
      if (st === null) throw new Error('auparse_init failed');
      escapeMode(st, escape);
      // registered for the life of the process: a feed state is made once per output
      addCallback(st, koffi.register(() => onEvent(), koffi.pointer(callback)), null, null);
      return st;
    },
    feed: au.func('int auparse_feed(void *au, void *data, size_t size)'),
    flushFeed: state('auparse_flush_feed'),
    getTime: au.func('int64_t auparse_get_time(void *au)'),
    getMilli: au.func('unsigned int auparse_get_milli(void *au)'),
    getSerial: au.func('unsigned long auparse_get_serial(void *au)'),
    getNode: word('auparse_get_node'),
    getType: state('auparse_get_type'),
    getTypeName: au.func('const char *auparse_get_type_name(void *au)'),
    getFieldName: au.func('const char *auparse_get_field_name(void *au)'),
    getFieldType: state('auparse_get_field_type'),
    getFieldInt: state('auparse_get_field_int'),
    interpretField: word('auparse_interpret_field'),
    interpretRealpath: word('auparse_interpret_realpath'),
    interpretSockAddress: word('auparse_interpret_sock_address'),
    interpretSockFamily: word('auparse_interpret_sock_family'),
    normalize: au.func('int auparse_normalize(void *au, int opt)'),
    normalizeField: (st, which) => fields[which](st),
    normalizeWord: (st, which) => words[which](st) as string | null,
    bytes: (p) => {
      if (p === null) return null;
      // one call for the usual ASCII answer (koffi reads to the NUL as UTF-8); other bytes exactly
      const text = koffi.decode(p, 'char', -1) as string;
      if (ASCII.test(text)) return text;
      const n = Number(strlen(p));
      return n === 0 ? '' : Buffer.from(koffi.decode(p, koffi.array('uint8_t', n, 'Typed')) as Uint8Array).toString('latin1');
    },
    free: libc.func('void free(void *p)'),
  };
}

/** The library, or null when it is not installed. */
export function libauparse(): Libauparse | null {
  if (lib !== undefined) return lib;
  try {
    lib = load();
  } catch {
    lib = null;
  }
  return lib;
}

/** NUL-terminated bytes of a latin1 (one char per byte) string, for a `const char *`. */
export const cstr = (s: string): Buffer => Buffer.from(`${s}\0`, 'latin1');
