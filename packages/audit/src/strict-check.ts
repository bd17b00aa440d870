import { scanLines } from './reader';
import { looksLikeRecord } from './record';

export interface MalformedLine {
  file: string;
  /** 1-based line number. */
  line: number;
  reason: 'not an audit record' | 'longer than the line cap';
}

/**
 * `--strict`'s check, run before anything is printed: the first line of `files` that is not
 * an audit record (or is longer than `maxLineBytes`), with its file and line number; null
 * when every line is one. Only each line's head is decoded.
 */
export function findMalformedLine(files: string[], maxLineBytes = 16 << 20): MalformedLine | null {
  for (const file of files) {
    let found: MalformedLine | null = null;
    let newlinesBefore = 0; // newlines before the current line: its number is this + 1
    let nextStart = 0; // offset just past the previous line's newline
    const at = (offset: number): number => newlinesBefore + (offset - nextStart) + 1;
    scanLines(
      file,
      (buf, start, end, offset) => {
        if (found) return;
        const line = at(offset);
        if (!looksLikeRecord(buf.toString('latin1', start, Math.min(end, start + 512)))) found = { file, line, reason: 'not an audit record' };
        newlinesBefore = line;
        nextStart = offset + (end - start) + 1;
      },
      {
        maxLineBytes,
        onOversize: (offset, length) => {
          if (!found) found = { file, line: at(offset), reason: 'longer than the line cap' };
          newlinesBefore = at(offset);
          nextStart = offset + length + 1;
        },
      },
    );
    if (found) return found;
  }
  return null;
}
