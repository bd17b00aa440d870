import type { BoundedLineQueue } from './bounded-queue';

/** Losses a source saw itself (the queue counts its own drops). */
export interface SourceLosses {
  /** Records the multicast reader dropped because the main thread was behind. */
  readerDropped: number;
  /** recv() returned ENOBUFS: the kernel overran the socket buffer; records were lost. */
  kernelOverruns: number;
}

/** Where audit log lines come from: kernel multicast, auditd's plugin pipe, or a log file. */
export interface LineSource {
  readonly name: string;
  /** Starts feeding `queue`; resolves once the source is receiving. */
  start(queue: BoundedLineQueue): Promise<void>;
  /** Stops reading; resolves when the source has let go of its resources. */
  stop(): Promise<void>;
  /** Resolves when the source has no more input (end of stdin, or stop()). */
  readonly done: Promise<void>;
  losses(): SourceLosses;
  /** Why the source stopped on its own (a read error), or null. */
  failure(): string | null;
}
