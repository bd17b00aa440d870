import { ContidError } from '@contid/core';

/**
 * The D-Bus wire format, as much as contid serve needs to follow systemd on its private socket
 * (no D-Bus library in the lockfile): method calls with string arguments out, and any message
 * in, little-endian as PID 1 writes it, its body read by its signature. Values come back as
 * plain JS: numbers (64-bit ones as bigint), strings, booleans, arrays, structs as arrays,
 * dicts as Maps, variants as their value, byte arrays as Buffers.
 */
export type DbusValue = number | bigint | string | boolean | Buffer | DbusValue[] | Map<DbusValue, DbusValue>;

export const enum MessageType {
  MethodCall = 1,
  MethodReturn = 2,
  Error = 3,
  Signal = 4,
}

export interface DbusMessage {
  type: MessageType;
  serial: number;
  path?: string;
  interface?: string;
  member?: string;
  errorName?: string;
  replySerial?: number;
  signature: string;
  body: DbusValue[];
}

/** Messages larger than this are refused (D-Bus's own limit is 128 MiB; systemd's signals are a few KiB). */
const MAX_MESSAGE = 8 * 1024 * 1024;

const ALIGN: Record<string, number> = { y: 1, b: 4, n: 2, q: 2, i: 4, u: 4, x: 8, t: 8, d: 8, h: 4, s: 4, o: 4, g: 1, a: 4, '(': 8, '{': 8, v: 1 };

/** The end (exclusive) of the single complete type starting at sig[i]. */
function completeType(sig: string, i: number): number {
  const c = sig[i];
  if (c === 'a') return completeType(sig, i + 1);
  if (c === '(' || c === '{') {
    const close = c === '(' ? ')' : '}';
    let j = i + 1;
    while (sig[j] !== close) {
      if (j >= sig.length) throw new ContidError(`D-Bus: unbalanced signature "${sig}"`);
      j = completeType(sig, j);
    }
    return j + 1;
  }
  if (!(c in ALIGN)) throw new ContidError(`D-Bus: unknown type "${c ?? ''}" in signature "${sig}"`);
  return i + 1;
}

/** Splits a signature into its complete types. */
export function signatureTypes(sig: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < sig.length; ) {
    const end = completeType(sig, i);
    out.push(sig.slice(i, end));
    i = end;
  }
  return out;
}

/** Reads values from one message; offsets are from the message's start, as D-Bus aligns them. */
class Reader {
  constructor(
    private readonly buf: Buffer,
    public pos: number,
    private readonly end: number,
  ) {}

  private need(n: number): void {
    if (this.pos + n > this.end) throw new ContidError('D-Bus: a message ends inside a value');
  }

  align(n: number): void {
    const to = Math.ceil(this.pos / n) * n;
    this.need(to - this.pos);
    this.pos = to;
  }

  read(type: string, depth = 0): DbusValue {
    if (depth > 32) throw new ContidError('D-Bus: values nested too deep');
    const c = type[0];
    this.align(ALIGN[c] ?? 1);
    const b = this.buf;
    switch (c) {
      case 'y':
        this.need(1);
        return b[this.pos++];
      case 'b':
      case 'u':
      case 'h': {
        this.need(4);
        const v = b.readUInt32LE(this.pos);
        this.pos += 4;
        return c === 'b' ? v !== 0 : v;
      }
      case 'i':
        this.need(4);
        this.pos += 4;
        return b.readInt32LE(this.pos - 4);
      case 'n':
        this.need(2);
        this.pos += 2;
        return b.readInt16LE(this.pos - 2);
      case 'q':
        this.need(2);
        this.pos += 2;
        return b.readUInt16LE(this.pos - 2);
      case 'x':
        this.need(8);
        this.pos += 8;
        return b.readBigInt64LE(this.pos - 8);
      case 't':
        this.need(8);
        this.pos += 8;
        return b.readBigUInt64LE(this.pos - 8);
      case 'd':
        this.need(8);
        this.pos += 8;
        return b.readDoubleLE(this.pos - 8);
      case 's':
      case 'o': {
        this.need(4);
        const len = b.readUInt32LE(this.pos);
        this.pos += 4;
        this.need(len + 1);
        const s = b.toString('utf8', this.pos, this.pos + len);
        this.pos += len + 1;
        return s;
      }
      case 'g':
        return this.signature();
      case 'v': {
        const sig = this.signature();
        const types = signatureTypes(sig);
        if (types.length !== 1) throw new ContidError(`D-Bus: a variant of signature "${sig}"`);
        return this.read(types[0], depth + 1);
      }
      case 'a': {
        this.need(4);
        const len = b.readUInt32LE(this.pos);
        this.pos += 4;
        const elem = type.slice(1);
        this.align(ALIGN[elem[0]] ?? 1);
        const stop = this.pos + len;
        if (stop > this.end) throw new ContidError('D-Bus: an array longer than its message');
        if (elem === 'y') {
          this.pos = stop;
          return b.subarray(stop - len, stop);
        }
        if (elem[0] === '{') {
          const [k, v] = signatureTypes(elem.slice(1, -1));
          const map = new Map<DbusValue, DbusValue>();
          while (this.pos < stop) {
            this.align(8);
            const key = this.read(k, depth + 1);
            map.set(key, this.read(v, depth + 1));
          }
          return map;
        }
        const out: DbusValue[] = [];
        while (this.pos < stop) out.push(this.read(elem, depth + 1));
        return out;
      }
      case '(':
        return signatureTypes(type.slice(1, -1)).map((t) => this.read(t, depth + 1));
      default:
        throw new ContidError(`D-Bus: cannot read type "${type}"`);
    }
  }

  /** Moves past one value of `type` without making it: an array or a string by its length. */
  skip(type: string, depth = 0): void {
    if (depth > 32) throw new ContidError('D-Bus: values nested too deep');
    const c = type[0];
    this.align(ALIGN[c] ?? 1);
    switch (c) {
      case 's':
      case 'o': {
        this.need(4);
        const len = this.buf.readUInt32LE(this.pos);
        this.need(4 + len + 1);
        this.pos += 4 + len + 1;
        return;
      }
      case 'g': {
        this.need(1);
        const len = this.buf[this.pos];
        this.need(1 + len + 1);
        this.pos += 1 + len + 1;
        return;
      }
      case 'a': {
        this.need(4);
        const len = this.buf.readUInt32LE(this.pos);
        this.pos += 4;
        this.align(ALIGN[type[1]] ?? 1);
        this.need(len);
        this.pos += len;
        return;
      }
      case 'v': {
        const types = signatureTypes(this.signature());
        if (types.length !== 1) throw new ContidError('D-Bus: a variant of more than one type');
        return this.skip(types[0], depth + 1);
      }
      case '(':
      case '{':
        for (const t of signatureTypes(type.slice(1, -1))) this.skip(t, depth + 1);
        return;
      default: {
        const size = { y: 1, b: 4, n: 2, q: 2, i: 4, u: 4, x: 8, t: 8, d: 8, h: 4 }[c];
        if (size === undefined) throw new ContidError(`D-Bus: cannot read type "${type}"`);
        this.need(size);
        this.pos += size;
      }
    }
  }

  /**
   * A PropertiesChanged body (s a{sv} as) with only the properties named in `keys` read: a
   * unit's signals carry all of its properties (exec lines, dependencies, cgroup settings …),
   * a few of which the follower uses.
   */
  changedProperties(keys: ReadonlySet<string>): DbusValue[] {
    const iface = this.read('s');
    return [iface, this.properties(keys)];
  }

  /** An a{sv} of properties with only those named in `keys` read (Properties.GetAll's answer). */
  properties(keys: ReadonlySet<string>): Map<DbusValue, DbusValue> {
    this.align(4);
    this.need(4);
    const len = this.buf.readUInt32LE(this.pos);
    this.pos += 4;
    this.align(8);
    const stop = this.pos + len;
    if (stop > this.end) throw new ContidError('D-Bus: an array longer than its message');
    const props = new Map<DbusValue, DbusValue>();
    while (this.pos < stop) {
      this.align(8);
      const key = this.read('s') as string;
      if (keys.has(key)) props.set(key, this.read('v'));
      else this.skip('v');
    }
    return props;
  }

  private signature(): string {
    this.need(1);
    const len = this.buf[this.pos++];
    this.need(len + 1);
    const s = this.buf.toString('latin1', this.pos, this.pos + len);
    this.pos += len + 1;
    return s;
  }
}

/** The length of the complete message at the start of buf, or null while it is not all there. */
export function messageLength(buf: Buffer): number | null {
  if (buf.length < 16) return null;
  if (buf[0] !== 0x6c) throw new ContidError('D-Bus: a big-endian message (PID 1 writes little-endian)');
  const fields = buf.readUInt32LE(12);
  const total = 16 + fields + ((8 - (fields % 8)) % 8) + buf.readUInt32LE(4);
  if (total > MAX_MESSAGE) throw new ContidError(`D-Bus: a message of ${total} bytes`);
  return buf.length >= total ? total : null;
}

/**
 * Parses one complete message (messageLength bytes). `wantBody` sees the header first: a body
 * it declines is left unread (body: []) — most of PID 1's signals are of units contid has not
 * wrapped, and reading their properties is most of the cost of following it. With
 * `onlyProperties`, a PropertiesChanged body, or a GetAll answer (a{sv}), holds those
 * properties alone (a PropertiesChanged's invalidated list is not read).
 */
export function parseMessage(buf: Buffer, wantBody: (head: DbusMessage) => boolean = () => true, onlyProperties?: ReadonlySet<string>): DbusMessage {
  const total = messageLength(buf);
  if (total === null) throw new ContidError('D-Bus: an incomplete message');
  const r = new Reader(buf, 12, total);
  const fields = r.read('a(yv)') as DbusValue[][];
  const msg: DbusMessage = { type: buf[1] as MessageType, serial: buf.readUInt32LE(8), signature: '', body: [] };
  for (const [code, value] of fields) {
    if (code === 1) msg.path = value as string;
    else if (code === 2) msg.interface = value as string;
    else if (code === 3) msg.member = value as string;
    else if (code === 4) msg.errorName = value as string;
    else if (code === 5) msg.replySerial = value as number;
    else if (code === 8) msg.signature = value as string;
  }
  r.align(8);
  if (!wantBody(msg)) return msg;
  // A PropertiesChanged body is read for the named properties only, when names are given.
  if (onlyProperties && msg.member === 'PropertiesChanged' && msg.signature === 'sa{sv}as') msg.body = r.changedProperties(onlyProperties);
  else if (onlyProperties && msg.type === MessageType.MethodReturn && msg.signature === 'a{sv}') msg.body = [r.properties(onlyProperties)];
  else msg.body = signatureTypes(msg.signature).map((t) => r.read(t));
  return msg;
}

/** Writes values of the basic types a call to systemd needs (s, o, u, b), aligned from `base`. */
class Writer {
  private readonly parts: Buffer[] = [];
  length = 0;

  constructor(private readonly base = 0) {}

  private push(b: Buffer): void {
    this.parts.push(b);
    this.length += b.length;
  }

  align(n: number): void {
    const pad = (n - ((this.base + this.length) % n)) % n;
    if (pad) this.push(Buffer.alloc(pad));
  }

  byte(v: number): void {
    this.push(Buffer.from([v]));
  }

  u32(v: number): void {
    this.align(4);
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v);
    this.push(b);
  }

  string(s: string): void {
    const bytes = Buffer.from(s, 'utf8');
    this.u32(bytes.length);
    this.push(Buffer.concat([bytes, Buffer.alloc(1)]));
  }

  signature(s: string): void {
    this.byte(s.length);
    this.push(Buffer.from(`${s}\0`, 'latin1'));
  }

  raw(b: Buffer): void {
    this.push(b);
  }

  bytes(): Buffer {
    return Buffer.concat(this.parts);
  }
}

export interface MethodCall {
  path: string;
  interface: string;
  member: string;
  destination?: string;
  /** String arguments (signature "s…"). */
  args?: string[];
}

/** A method call message. */
export function marshalCall(serial: number, call: MethodCall): Buffer {
  const args = call.args ?? [];
  const body = new Writer(0);
  for (const a of args) body.string(a);
  const fields = new Writer(16);
  const field = (code: number, sig: string, write: () => void): void => {
    fields.align(8);
    fields.byte(code);
    fields.signature(sig);
    write();
  };
  field(1, 'o', () => fields.string(call.path));
  field(2, 's', () => fields.string(call.interface));
  field(3, 's', () => fields.string(call.member));
  if (call.destination) field(6, 's', () => fields.string(call.destination!));
  if (args.length) field(8, 'g', () => fields.signature('s'.repeat(args.length)));
  const head = Buffer.alloc(16);
  head.write('l', 0, 'latin1');
  head[1] = MessageType.MethodCall;
  head[2] = 0;
  head[3] = 1;
  const bodyBytes = body.bytes();
  head.writeUInt32LE(bodyBytes.length, 4);
  head.writeUInt32LE(serial, 8);
  const fieldBytes = fields.bytes();
  head.writeUInt32LE(fieldBytes.length, 12);
  const pad = Buffer.alloc((8 - ((16 + fieldBytes.length) % 8)) % 8);
  return Buffer.concat([head, fieldBytes, pad, bodyBytes]);
}

/** systemd's object path label of a unit name (bus_label_escape): `a.service` → `a_2eservice`. */
export function unitObjectPath(unit: string): string {
  const label = [...Buffer.from(unit, 'utf8')].map((c) => (/[A-Za-z0-9]/.test(String.fromCharCode(c)) ? String.fromCharCode(c) : `_${c.toString(16).padStart(2, '0')}`)).join('');
  return `/org/freedesktop/systemd1/unit/${label || '_'}`;
}

/** The unit name of systemd's unit object path, or null for another path. */
export function unitOfObjectPath(path: string): string | null {
  const m = /^\/org\/freedesktop\/systemd1\/unit\/([A-Za-z0-9_]+)$/.exec(path);
  if (!m) return null;
  const bytes: number[] = [];
  const label = m[1];
  for (let i = 0; i < label.length; i++) {
    if (label[i] === '_' && /^[0-9a-f]{2}$/.test(label.slice(i + 1, i + 3))) {
      bytes.push(parseInt(label.slice(i + 1, i + 3), 16));
      i += 2;
    } else bytes.push(label.charCodeAt(i));
  }
  return Buffer.from(bytes).toString('utf8');
}

