/**
 * Per-request log lines a caller cannot multiply: each key (a channel) may write `burst` lines
 * per window; the rest are counted by outcome and summarised in one line when the window
 * closes. A flood of 100,000 requests leaves a handful of lines in the journal, not 100,000.
 */
export class LogBudget {
  private readonly windows = new Map<string, { used: number; suppressed: Map<string, number> }>();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly write: (line: string) => void,
    private readonly burstOf: (key: string) => number,
    windowMs = 10_000,
  ) {
    this.timer = setInterval(() => this.flush(), windowMs);
    this.timer.unref();
  }

  /** Writes `line` if `key` has budget left in this window, else counts it under `outcome`. */
  note(key: string, outcome: string, line: string): void {
    let w = this.windows.get(key);
    if (!w) this.windows.set(key, (w = { used: 0, suppressed: new Map() }));
    if (w.used < this.burstOf(key)) {
      w.used++;
      this.write(line);
      return;
    }
    w.suppressed.set(outcome, (w.suppressed.get(outcome) ?? 0) + 1);
  }

  /** Ends the window: one summary line per key that went over its budget. */
  flush(): void {
    for (const [key, w] of this.windows) {
      const total = [...w.suppressed.values()].reduce((a, b) => a + b, 0);
      if (total > 0) {
        const parts = [...w.suppressed.entries()].map(([outcome, n]) => `${outcome} ${n}`).join(', ');
        this.write(`${key}: ${total} more requests not logged one by one (${parts})`);
      }
    }
    this.windows.clear();
  }

  close(): void {
    clearInterval(this.timer);
    this.flush();
  }
}
