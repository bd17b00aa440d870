import { FSWatcher, watch } from 'node:fs';
import type { Tagger } from '@contid/core';
import { ExecDescriber, Identifier, InitRecorder, SpawnBinder, SpoolConsumer } from './consumer';
import { Spool } from './spool';

export interface SpoolDrainerOptions {
  tagger: Tagger;
  spool: Spool;
  /** Who the containers are (Podman, Kubernetes …): run in order on each create entry. */
  identifiers?: Identifier[];
  describeExec?: ExecDescriber;
  initRecorders?: Readonly<Record<string, InitRecorder>>;
  spawnBinders?: Readonly<Record<string, SpawnBinder>>;
  /** Periodic pass: catches what an fs.watch event missed and retries deferred entries (ms). */
  scanMs?: number;
  log?: (line: string) => void;
}

/**
 * The long-running side of the tagging step: drains the spool as entries arrive (fs.watch plus
 * a periodic pass). Entries written while it is down wait in the spool and are bound, oldest
 * session first, when it starts.
 */
export class SpoolDrainer {
  readonly consumer: SpoolConsumer;
  private watcher: FSWatcher | null = null;
  private timer: NodeJS.Timeout | null = null;
  private retry: NodeJS.Timeout | null = null;
  private running: Promise<void> = Promise.resolve();
  private readonly log: (line: string) => void;

  constructor(private readonly options: SpoolDrainerOptions) {
    this.log = options.log ?? (() => undefined);
    this.consumer = new SpoolConsumer({
      tagger: options.tagger,
      spool: options.spool,
      identifiers: options.identifiers ?? [],
      describeExec: options.describeExec,
      initRecorders: options.initRecorders,
      spawnBinders: options.spawnBinders,
      log: this.log,
    });
  }

  get dir(): string {
    return this.options.spool.dir;
  }

  /** Starts watching (a second call only drains once more). */
  async start(): Promise<void> {
    if (this.watcher) return this.kick();
    this.options.spool.prepare();
    this.watcher = watch(this.options.spool.dir, (event, file) => {
      if (this.consumer.isNews(event, file)) void this.kick();
    });
    this.timer = setInterval(() => void this.kick(), this.options.scanMs ?? 2000);
    await this.kick();
  }

  /** One drain pass (concurrent calls share it); failures are logged, entries stay spooled. */
  kick(): Promise<void> {
    this.running = this.consumer.drain().then(
      (outcomes) => {
        // A runtime still writing its pid file: look again soon rather than at the next scan.
        if (this.timer && !this.retry && outcomes.some((o) => o.kind === 'deferred')) {
          this.retry = setTimeout(() => {
            this.retry = null;
            void this.kick();
          }, 50);
        }
      },
      (e: unknown) => this.log(`spool: ${e instanceof Error ? e.message : String(e)}`),
    );
    return this.running;
  }

  async stop(): Promise<void> {
    this.watcher?.close();
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    if (this.retry) clearTimeout(this.retry);
    await this.running;
  }
}
