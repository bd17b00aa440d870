/** Record types that can carry a binding: the only lines the first pass decodes. */
const BINDING_MARKERS = ['type=LOGIN ', 'type=VIRT_CONTROL ', 'type=USER ', 'type=CONTAINER_OP ', 'type=UNKNOWN[1020] '].map((s) => Buffer.from(s));

/** Byte test for `[node=X ]type=<binding type> `: no decoding, no search past the line head. */
export function isBindingLine(buf: Buffer, start: number, end: number): boolean {
  let t = start;
  if (buf[t] === 0x6e /* n: node=X */) {
    const sp = buf.indexOf(0x20, t);
    if (sp < 0 || sp - t > 256) return false;
    t = sp + 1;
  }
  const first = buf[t + 5];
  if (first !== 0x4c && first !== 0x56 && first !== 0x43 && first !== 0x55) return false; // L V C U
  for (const marker of BINDING_MARKERS) if (t + marker.length <= end && buf.compare(marker, 0, marker.length, t, t + marker.length) === 0) return true;
  return false;
}

