/** Splits a byte stream into lines, keeping a trailing partial line for the next chunk. */
export class LineSplitter {
  private partial = '';

  push(chunk: string): string[] {
    const text = this.partial + chunk;
    const parts = text.split('\n');
    this.partial = parts.pop() ?? '';
    return parts.filter((l) => l.length > 0);
  }

  /** What is left when the input ends without a final newline. */
  flush(): string[] {
    const rest = this.partial;
    this.partial = '';
    return rest.length > 0 ? [rest] : [];
  }
}
