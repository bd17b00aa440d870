/**
 * A keyed work queue with client-go's workqueue semantics: a key queued many times is
 * processed once, never twice at the same time, and again afterwards if it was queued while
 * being processed; up to `concurrency` different keys run in parallel.
 */
export class KeyedWorkQueue {
  private readonly waiting: string[] = [];
  private readonly queued = new Set<string>();
  private readonly running = new Set<string>();
  private readonly dirty = new Set<string>();
  private idleWaiters: (() => void)[] = [];
  private closed = false;

  constructor(
    private readonly work: (key: string) => Promise<void>,
    private readonly concurrency = 4,
  ) {}

  add(key: string): void {
    if (this.closed) return;
    if (this.running.has(key)) {
      this.dirty.add(key);
      return;
    }
    if (this.queued.has(key)) return;
    this.queued.add(key);
    this.waiting.push(key);
    this.pump();
  }

  /** Stops taking work and resolves once what is running has finished. */
  async close(): Promise<void> {
    this.closed = true;
    this.waiting.length = 0;
    this.queued.clear();
    this.dirty.clear();
    if (this.running.size) await new Promise<void>((r) => this.idleWaiters.push(r));
  }

  private pump(): void {
    while (this.running.size < this.concurrency && this.waiting.length) {
      const key = this.waiting.shift()!;
      this.queued.delete(key);
      this.running.add(key);
      // work() handles its own errors; a rejection here would be a bug in it, so keep going.
      void this.work(key)
        .catch(() => undefined)
        .finally(() => {
          this.running.delete(key);
          if (this.dirty.delete(key)) this.add(key);
          this.pump();
          if (!this.running.size) this.idleWaiters.splice(0).forEach((r) => r());
        });
    }
  }
}
