/**
 * A copy of `text` that shares no memory with the string it was cut from. V8 keeps a
 * substring of 13 characters or more as a view of its parent, so a value taken from a log
 * line and kept in a long-lived table (a signature, a container's name) keeps the whole line
 * alive. Only for what outlives its line; the round trip costs a few hundred nanoseconds.
 */
export function ownString(text: string): string {
  return text.length < 13 ? text : (JSON.parse(JSON.stringify(text)) as string);
}

export function ownStringOrNull(text: string | null): string | null {
  return text === null ? null : ownString(text);
}
