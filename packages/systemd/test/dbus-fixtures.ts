import { MessageType } from '../src/dbus-wire';

/** A little-endian D-Bus encoder for the test's own signals (what PID 1 sends: s a{sv} as). */
export class Enc {
  b: number[] = [];
  align(n: number): this {
    while (this.b.length % n) this.b.push(0);
    return this;
  }
  y(v: number): this {
    this.b.push(v);
    return this;
  }
  u(v: number): this {
    this.align(4);
    const x = Buffer.alloc(4);
    x.writeUInt32LE(v);
    this.b.push(...x);
    return this;
  }
  i(v: number): this {
    this.align(4);
    const x = Buffer.alloc(4);
    x.writeInt32LE(v);
    this.b.push(...x);
    return this;
  }
  s(v: string): this {
    this.u(Buffer.byteLength(v));
    this.b.push(...Buffer.from(v), 0);
    return this;
  }
  g(v: string): this {
    this.b.push(v.length, ...Buffer.from(v), 0);
    return this;
  }
  /** An array: its length is patched after `fill` wrote the elements (aligned to `elemAlign` first). */
  a(elemAlign: number, fill: () => void): this {
    this.u(0);
    const at = this.b.length - 4;
    this.align(elemAlign);
    const start = this.b.length;
    fill();
    const len = this.b.length - start;
    this.b.splice(at, 4, len & 0xff, (len >> 8) & 0xff, (len >> 16) & 0xff, (len >> 24) & 0xff);
    return this;
  }
}

/** A PropertiesChanged signal of `path` with string, int and byte-array properties. */
export function propertiesChanged(serial: number, path: string, iface: string, props: [string, 's' | 'i' | 'ay', string | number | Buffer][]): Buffer {
  const body = new Enc();
  body.s(iface).a(8, () => {
    for (const [k, t, v] of props) {
      body.align(8).s(k).g(t);
      if (t === 's') body.s(v as string);
      else if (t === 'i') body.i(v as number);
      else body.a(1, () => body.b.push(...(v as Buffer)));
    }
  });
  body.a(4, () => undefined);
  const fields = new Enc();
  // Aligned as in the message: the fields start at offset 16, a multiple of 8.
  const field = (code: number, sig: string, write: () => void): void => {
    fields.align(8).y(code).g(sig);
    write();
  };
  field(1, 'o', () => fields.s(path));
  field(2, 's', () => fields.s('org.freedesktop.DBus.Properties'));
  field(3, 's', () => fields.s('PropertiesChanged'));
  field(8, 'g', () => fields.g('sa{sv}as'));
  const head = Buffer.alloc(16);
  head.write('l');
  head[1] = MessageType.Signal;
  head[3] = 1;
  head.writeUInt32LE(body.b.length, 4);
  head.writeUInt32LE(serial, 8);
  head.writeUInt32LE(fields.b.length, 12);
  const pad = Buffer.alloc((8 - ((16 + fields.b.length) % 8)) % 8);
  return Buffer.concat([head, Buffer.from(fields.b), pad, Buffer.from(body.b)]);
}

/** A method return (or an error when `error` is given) to `replySerial`, with one string or object path, or a{sv} of properties. */
export function reply(serial: number, replySerial: number, body: { o?: string; props?: [string, 's' | 'i' | 'ay', string | number | Buffer][]; error?: string }): Buffer {
  const b = new Enc();
  let sig = '';
  if (body.error) {
    sig = 's';
    b.s('no such unit');
  } else if (body.o !== undefined) {
    sig = 'o';
    b.s(body.o);
  } else if (body.props) {
    sig = 'a{sv}';
    b.a(8, () => {
      for (const [k, t, v] of body.props!) {
        b.align(8).s(k).g(t);
        if (t === 's') b.s(v as string);
        else if (t === 'i') b.i(v as number);
        else b.a(1, () => b.b.push(...(v as Buffer)));
      }
    });
  }
  const fields = new Enc();
  const field = (code: number, fsig: string, write: () => void): void => {
    fields.align(8).y(code).g(fsig);
    write();
  };
  if (body.error) field(4, 's', () => fields.s(body.error!));
  field(5, 'u', () => fields.u(replySerial));
  if (sig) field(8, 'g', () => fields.g(sig));
  const head = Buffer.alloc(16);
  head.write('l');
  head[1] = body.error ? MessageType.Error : MessageType.MethodReturn;
  head[3] = 1;
  head.writeUInt32LE(b.b.length, 4);
  head.writeUInt32LE(serial, 8);
  head.writeUInt32LE(fields.b.length, 12);
  const pad = Buffer.alloc((8 - ((16 + fields.b.length) % 8)) % 8);
  return Buffer.concat([head, Buffer.from(fields.b), pad, Buffer.from(b.b)]);
}
