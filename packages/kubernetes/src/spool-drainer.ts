import { FSWatcher, watch } from 'node:fs';
import type { Tagger } from '@contid/core';
import { Spool, SpoolConsumer } from '@contid/docker';
import { kubernetesIdentifier } from './spool-identifier';

export interface SpoolDrainerOptions {
  tagger: Tagger;
  spool: Spool;
  /** Periodic pass: catches what an fs.watch event missed and retries deferred entries (ms). */
  scanMs?: number;
  log?: (line: string) => void;
}

/**
 * The Node side of the contid-runc shim on a Kubernetes node (containerd or CRI-O, no
 * dockerd): drains the spool as entries arrive and names each container from its pod's CRI
 * annotations. Hand-offs written while it is down wait in the spool.
 */
export class SpoolDrainer {
  readonly consumer: SpoolConsumer;
  private watcher: FSWatcher | null = null;
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> = Promise.resolve();
  private readonly log: (line: string) => void;

  constructor(private readonly options: SpoolDrainerOptions) {
    this.log = options.log ?? (() => undefined);
    this.consumer = new SpoolConsumer({ tagger: options.tagger, spool: options.spool, identifiers: [kubernetesIdentifier], log: this.log });
  }

  get dir(): string {
    return this.options.spool.dir;
  }

  /** Starts watching (a second call only drains once more). */
  async start(): Promise<void> {
    if (this.watcher) return this.kick();
    this.options.spool.prepare();
    this.watcher = watch(this.options.spool.dir, () => void this.kick());
    this.timer = setInterval(() => void this.kick(), this.options.scanMs ?? 2000);
    await this.kick();
  }

  /** One drain pass (concurrent calls share it); failures are logged, entries stay spooled. */
  kick(): Promise<void> {
    this.running = this.consumer.drain().then(
      () => undefined,
      (e: unknown) => this.log(`spool: ${e instanceof Error ? e.message : String(e)}`),
    );
    return this.running;
  }

  async stop(): Promise<void> {
    this.watcher?.close();
    if (this.timer) clearInterval(this.timer);
    await this.running;
  }
}
