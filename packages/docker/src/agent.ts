import { FSWatcher, watch } from 'node:fs';
import type Dockerode from 'dockerode';
import { Tagger } from '@contid/core';
import { backfillDocker, recordIfUntagged } from './backfill';
import { Identifier, SpoolConsumer } from './consumer';
import { RecentExecs, dockerExecDescriber, dockerIdentifier } from './docker-identity';
import { Spool } from './spool';

export interface DockerAgentOptions {
  docker: Dockerode;
  tagger: Tagger;
  spool: Spool;
  /** Identifiers run after Docker's (e.g. Kubernetes pod identity). */
  identifiers?: Identifier[];
  /** Periodic scan: catches entries an fs.watch event missed (ms). */
  scanMs?: number;
  log?: (line: string) => void;
}

interface DockerEvent {
  Type?: string;
  timeNano?: number;
  Action?: string;
  Actor?: { ID?: string; Attributes?: Record<string, string> };
}

/**
 * `contid docker agent`: drains the shim's spool as entries arrive (fs.watch plus a periodic
 * scan), follows Docker's events (start, exec, die, destroy) and backfills at start.
 */
export class DockerAgent {
  readonly consumer: SpoolConsumer;
  private watcher: FSWatcher | null = null;
  private timer: NodeJS.Timeout | null = null;
  private events: NodeJS.ReadableStream | null = null;
  private queue: Promise<void> = Promise.resolve();
  private readonly log: (line: string) => void;
  private readonly execs = new RecentExecs();

  constructor(private readonly options: DockerAgentOptions) {
    this.log = options.log ?? (() => undefined);
    this.consumer = new SpoolConsumer({
      tagger: options.tagger,
      spool: options.spool,
      identifiers: [dockerIdentifier(options.docker), ...(options.identifiers ?? [])],
      describeExec: dockerExecDescriber(options.docker, this.execs),
      log: this.log,
    });
  }

  async start(): Promise<void> {
    this.options.spool.prepare();
    // Follow events before the first pass, so nothing that happens during it is missed.
    this.events = (await this.options.docker.getEvents({ filters: { type: ['container'] } })) as NodeJS.ReadableStream;
    let buffered = '';
    this.events.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('utf8');
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        if (!line.trim()) continue;
        const ev = JSON.parse(line) as DockerEvent;
        // Noted at once (not queued): a spool entry being processed may be waiting for it.
        const action = ev.Action ?? '';
        const execId = ev.Actor?.Attributes?.execID;
        if (action.startsWith('exec_create: ') && ev.Actor?.ID && execId) this.execs.add(ev.Actor.ID, execId, action.slice('exec_create: '.length));
        this.serial(() => this.onEvent(ev));
      }
    });
    this.events.on('error', (e: Error) => this.log(`docker events: ${e.message}`));
    this.watcher = watch(this.options.spool.dir, () => this.kick());
    this.timer = setInterval(() => this.kick(), this.options.scanMs ?? 2000);
    await this.serial(async () => {
      await this.consumer.drain();
      const b = await backfillDocker(this.options.docker, this.options.tagger);
      this.log(`backfill: ${b.known.length} tagged, ${b.untagged.length} recorded untagged, ${b.ended.length} ended`);
    });
  }

  /** Drains now (also what the watcher and the timer do). */
  kick(): Promise<void> {
    return this.serial(async () => void (await this.consumer.drain()));
  }

  /** Waits for everything queued so far. */
  idle(): Promise<void> {
    return this.serial(async () => undefined);
  }

  async stop(): Promise<void> {
    this.watcher?.close();
    if (this.timer) clearInterval(this.timer);
    const ev = this.events as (NodeJS.ReadableStream & { destroy?: () => void }) | null;
    ev?.destroy?.();
    await this.queue;
  }

  /** One thing at a time: the Tagger is synchronous, and events must apply in order. */
  private serial(job: () => Promise<void>): Promise<void> {
    const next = this.queue.then(job).catch((e: unknown) => this.log(`error: ${e instanceof Error ? e.message : String(e)}`));
    this.queue = next;
    return next;
  }

  private async onEvent(ev: DockerEvent): Promise<void> {
    const id = ev.Actor?.ID;
    const action = (ev.Action ?? '').split(':')[0];
    if (!id) return;
    if (action === 'exec_create' || action === 'exec_start') {
      await this.consumer.drain();
      return;
    }
    if (action === 'start') {
      await this.consumer.drain();
      // Started without the shim, or the shim could not hand it over: never silently missing.
      if ((await recordIfUntagged(this.options.docker, this.options.tagger, id, 'start event')) === 'untagged') {
        this.log(`${id} started without a contid session: recorded untagged`);
      }
      return;
    }
    if (action === 'die' || action === 'destroy') {
      await this.consumer.drain();
      const row = this.options.tagger.registry.findByRuntimeId(id);
      // A restart's new instance may be tagged before its old instance's die event arrives.
      const at = ev.timeNano ? ev.timeNano / 1e6 : Date.now();
      if (row && row.state !== 'ended' && row.createdAt <= at) {
        const code = ev.Actor?.Attributes?.exitCode;
        this.options.tagger.end(row.contid, action === 'die' ? `exited${code === undefined ? '' : ` ${code}`}` : 'removed');
      }
    }
  }
}
