/**
 * A key given twice in one JSON object. JSON.parse keeps only the last value of a repeated key;
 * Go's encoding/json (dockerd) decodes each occurrence into the same struct or map, so what the
 * first one set survives unless the last one sets it again: `{"HostConfig":{"Binds":…},
 * "HostConfig":{}}` is judged as `{}` but created with the binds. The front therefore refuses
 * any judged body in which an object repeats a key after `fold` (Go matches struct fields
 * case-insensitively, and folding map keys too only ever refuses more).
 *
 * Scans `text`, which must already be valid JSON (JSON.parse accepted it): only strings and the
 * brackets, colons and commas outside them matter. A key is decoded as JSON.parse decodes it
 * (escapes, `\u0043` is `C`) before it is folded. Returns the first repeated key as written in
 * the body, decoded (null: none).
 */
export function repeatedKey(text: string, fold: (key: string) => string): string | null {
  /** One set of keys per open object; null for an open array. */
  const open: (Set<string> | null)[] = [];
  /** The next string in the innermost object is a key (after `{` or `,`). */
  let keyNext = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      const end = stringEnd(text, i);
      const keys = open.at(-1);
      if (keyNext && keys) {
        const key = JSON.parse(text.slice(i, end + 1)) as string;
        const folded = fold(key);
        if (keys.has(folded)) return key;
        keys.add(folded);
        keyNext = false;
      }
      i = end;
    } else if (c === '{') {
      open.push(new Set());
      keyNext = true;
    } else if (c === '[') {
      open.push(null);
      keyNext = false;
    } else if (c === '}' || c === ']') {
      open.pop();
      keyNext = false;
    } else if (c === ',') {
      keyNext = open.at(-1) instanceof Set;
    }
  }
  return null;
}

/** The index of the `"` that closes the string opening at `start` (a backslash always escapes the next character). */
function stringEnd(text: string, start: number): number {
  for (let i = start + 1; i < text.length; i++) {
    if (text[i] === '\\') i++;
    else if (text[i] === '"') return i;
  }
  throw new Error('unterminated string');
}
