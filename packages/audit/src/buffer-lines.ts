/**
 * Calls `visit(start, end)` for each line of `bytes`, `bytes[start, end)` without its newline,
 * in order, until `visit` returns false. The last line needs no newline (an index range or an
 * event's bytes may end without one); a newline at the very end starts no further line. Empty
 * lines in between are visited (`start === end`). No line is cut or skipped by its length here:
 * the 16 MiB line cap is the reader's (scanLines), which hands out the buffers or built the
 * index ranges they come from. Returns false when `visit` stopped the walk.
 */
export function forEachLine(bytes: Buffer, visit: (start: number, end: number) => boolean | void): boolean {
  for (let start = 0; start < bytes.length; ) {
    let end = bytes.indexOf(10, start);
    if (end < 0) end = bytes.length;
    if (visit(start, end) === false) return false;
    start = end + 1;
  }
  return true;
}
