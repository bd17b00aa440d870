/** Exponential back-off with jitter, so a fleet of node agents does not hammer a recovering API server in step. */
export class Backoff {
  private attempt = 0;

  constructor(
    readonly initialMs = 500,
    readonly maxMs = 30_000,
  ) {}

  /** The next delay: initial·2^n capped at max, drawn from its upper half. */
  next(): number {
    const ceiling = Math.min(this.maxMs, this.initialMs * 2 ** this.attempt);
    this.attempt = Math.min(this.attempt + 1, 30);
    return Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
  }

  reset(): void {
    this.attempt = 0;
  }
}

/** Waits `ms`, or less when `signal` aborts (then resolves too: the caller checks why). */
export const sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
