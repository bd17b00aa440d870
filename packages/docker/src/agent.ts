import { FSWatcher, watch } from 'node:fs';
import type Dockerode from 'dockerode';
import { Tagger } from '@contid/core';
import { RequesterNotes, backfillDocker, recordIfUntagged } from './backfill';
import { REQUESTERS_DIR, RequesterStore } from './front/requesters';
import { EntryOutcome, Identifier, PidFileWaits, Spool, SpoolConsumer, alive } from '@contid/oci';
import { RecentExecs, dockerExecDescriber, dockerIdentifier } from './docker-identity';

export interface DockerAgentOptions {
  docker: Dockerode;
  tagger: Tagger;
  spool: Spool;
  /** The front's requester notes, for the untagged record of a container started without the shim (default: CONTID_REQUESTERS_DIR, else /run/contid/requesters). */
  requesters?: RequesterNotes;
  /** Identifiers run after Docker's (e.g. Kubernetes pod identity). */
  identifiers?: Identifier[];
  /** Periodic scan: catches entries an fs.watch event missed (ms). */
  scanMs?: number;
  /** Reconnect delays after the event stream ends (dockerd restarted): doubling from min to max (ms). */
  reconnectMs?: { min: number; max: number };
  /** How long an end event for a container not yet recorded is held for its spool entry (ms). */
  holdMs?: number;
  log?: (line: string) => void;
  /** Execs are logged as one summary line per this period (ms), not a line each (SpoolConsumer). */
  execSummaryMs?: number;
}

/** How soon a deferred entry is looked at again when nothing will announce it (taken by another consumer, a pid file whose directory cannot be watched). */
const RETRY_MS = 50;
/**
 * How soon entries that something will announce are looked at again anyway: a pid file being
 * watched (a runtime that exits without writing one announces nothing), an entry whose last
 * line the spool watch will see written.
 */
const ANNOUNCED_RETRY_MS = 1000;
/** How often at most the execs bound are summed up in the log (a busy host's execs: a line a minute, not one each). */
const EXEC_SUMMARY_MS = 60_000;
/** How long spool news waits for more before a pass (see settled()). */
const WATCH_SETTLE_MS = 15;

/**
 * The container events the agent acts on, asked of dockerd as a filter: the rest of a run's
 * (create, attach, resize, kill, exec_start, exec_die …) would each be sent, parsed and queued
 * for nothing. dockerd matches exec_create by prefix (its action carries the command), which
 * names an exec for the engines whose pid files do not (RecentExecs); the spool's and the pid
 * files' watches, not events, wake the drain.
 */
const FOLLOWED_EVENTS = ['start', 'die', 'destroy', 'exec_create'];

interface DockerEvent {
  Type?: string;
  timeNano?: number;
  Action?: string;
  Actor?: { ID?: string; Attributes?: Record<string, string> };
}

/**
 * `contid docker agent`: drains the shim's spool as entries arrive (fs.watch plus a periodic
 * scan), follows Docker's events (start, exec, die, destroy) and backfills at start. When the
 * event stream ends (dockerd restarted or stopped) it reconnects with backoff and reconciles
 * (list + inspect), so exits missed meanwhile are recorded. An end that arrives before the
 * container's spool entry was processed is held and applied once it is.
 */
export class DockerAgent {
  readonly consumer: SpoolConsumer;
  private watcher: FSWatcher | null = null;
  private timer: NodeJS.Timeout | null = null;
  private events: NodeJS.ReadableStream | null = null;
  private queue: Promise<void> = Promise.resolve();
  private readonly log: (line: string) => void;
  private readonly execs = new RecentExecs();
  /** die/destroy events whose container had no row yet, by runtime id. */
  private readonly held = new Map<string, { ev: DockerEvent; until: number }>();
  private stopping = false;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private retry: NodeJS.Timeout | null = null;
  private settle: NodeJS.Timeout | null = null;
  /** When the retry timer fires (ms since the epoch). */
  private retryAt = 0;
  /** The pid files entries wait for: their writes wake a pass. */
  private readonly pidFiles = new PidFileWaits(() => void this.kick());
  /** A drain queued and not yet begun: later kicks share it. */
  private queuedKick: Promise<void> | null = null;
  private backoff: number;
  private readonly requesters: RequesterNotes;

  constructor(private readonly options: DockerAgentOptions) {
    this.log = options.log ?? (() => undefined);
    this.backoff = options.reconnectMs?.min ?? 250;
    this.requesters = options.requesters ?? new RequesterStore(process.env.CONTID_REQUESTERS_DIR || REQUESTERS_DIR);
    this.consumer = new SpoolConsumer({
      tagger: options.tagger,
      spool: options.spool,
      identifiers: [dockerIdentifier(options.docker), ...(options.identifiers ?? [])],
      describeExec: dockerExecDescriber(options.docker, this.execs),
      log: this.log,
      execSummaryMs: options.execSummaryMs ?? EXEC_SUMMARY_MS,
    });
  }

  async start(): Promise<void> {
    this.options.spool.prepare();
    // Follow events before the first pass, so nothing that happens during it is missed.
    await this.follow();
    // Only news wakes the drain: a new entry name, or a write into an entry a pass found
    // unfinished; not the agent's own claims and give-backs, which echo in the watch.
    this.watcher = watch(this.options.spool.dir, (event, file) => {
      if (this.consumer.isNews(event, file)) this.settled();
    });
    this.timer = setInterval(() => void this.kick(true), this.options.scanMs ?? 2000);
    await this.reconcile('backfill');
  }

  /** Drain, then list + inspect: containers that started or stopped while nobody watched. */
  private reconcile(what: string): Promise<void> {
    return this.serial(async () => {
      await this.drainSpool();
      const b = await backfillDocker(this.options.docker, this.options.tagger, undefined, this.requesters);
      this.log(`${what}: ${b.known.length} tagged, ${b.untagged.length} recorded untagged, ${b.ended.length} ended`);
    });
  }

  private async follow(): Promise<void> {
    const stream = (await this.options.docker.getEvents({ filters: { type: ['container'], event: FOLLOWED_EVENTS } })) as NodeJS.ReadableStream;
    this.events = stream;
    let buffered = '';
    stream.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('utf8');
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        if (!line.trim()) continue;
        let ev: DockerEvent;
        try {
          ev = JSON.parse(line) as DockerEvent;
        } catch {
          this.log(`docker events: not JSON, skipped: ${JSON.stringify(line.slice(0, 200))}`);
          continue;
        }
        this.noteExec(ev);
        this.serial(() => this.onEvent(ev));
      }
    });
    let lost = false;
    const onLost = (why: string) => {
      if (lost || this.stopping || this.events !== stream) return;
      lost = true;
      this.log(`docker events: ${why}; reconnecting`);
      this.scheduleReconnect();
    };
    stream.on('error', (e: Error) => onLost(e.message));
    stream.on('end', () => onLost('stream ended'));
    stream.on('close', () => onLost('stream closed'));
  }

  /** Doubling delays up to the maximum; a reconnect reconciles, and resets the delay. */
  private scheduleReconnect(): void {
    if (this.stopping || this.reconnectTimer) return;
    const delay = this.backoff;
    this.backoff = Math.min(delay * 2, this.options.reconnectMs?.max ?? 10_000);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      this.follow().then(
        async () => {
          this.backoff = this.options.reconnectMs?.min ?? 250;
          this.log('docker events: reconnected');
          await this.reconcile('reconciled after reconnect');
        },
        (e: Error) => {
          this.log(`docker events: cannot reconnect (${e.message}); retrying in ${this.backoff} ms`);
          this.scheduleReconnect();
        },
      );
    }, delay);
  }

  /** Noted at once (not queued): a spool entry being processed may be waiting for it. */
  private noteExec(ev: DockerEvent): void {
    const action = ev.Action ?? '';
    const execId = ev.Actor?.Attributes?.execID;
    // Docker 20.10 writes `exec_create: true ` (trailing space) for an exec without arguments.
    if (action.startsWith('exec_create:') && ev.Actor?.ID && execId) this.execs.add(ev.Actor.ID, execId.trim(), action.slice('exec_create:'.length).trim());
  }

  /**
   * Drains now (also what the watcher and the timer do), then applies held ends whose container
   * the drain recorded; `sweep` (the periodic scan) looks at every held end, and gives up on
   * those held too long. An entry left waiting (a runtime still writing its pid file) is looked
   * at again soon, by a timer rather than at the next scan.
   */
  kick(sweep = false): Promise<void> {
    if (!sweep && this.queuedKick) return this.queuedKick;
    const kick = this.serial(async () => {
      if (this.queuedKick === kick) this.queuedKick = null;
      await this.drainSpool();
      if (sweep) this.applyHeld();
    });
    if (!sweep) this.queuedKick = kick;
    return kick;
  }

  /**
   * One drain pass, then the held ends of the containers it recorded. An entry left waiting for
   * its runtime's pid file is announced by a watch on that file's directory, one waiting for its
   * last line by the spool's watch; either is looked at again after ANNOUNCED_RETRY_MS anyway,
   * and any other after RETRY_MS (whoever asked for the pass).
   */
  private async drainSpool(): Promise<void> {
    const outcomes = await this.consumer.drain();
    this.applyHeldFor(outcomes);
    if (this.stopping) return;
    const waiting: string[] = [];
    let unannounced = false;
    for (const o of outcomes) {
      if (o.kind !== 'deferred') continue;
      if (o.pidFile) waiting.push(o.pidFile);
      else if (!o.unfinished && !o.behindCreate) unannounced = true;
    }
    if (!this.pidFiles.watch(waiting)) unannounced = true;
    if (outcomes.some((o) => o.kind === 'deferred')) this.retryIn(unannounced ? RETRY_MS : ANNOUNCED_RETRY_MS);
  }

  /** A pass after `ms`, unless one is due sooner. */
  private retryIn(ms: number): void {
    const at = Date.now() + ms;
    if (this.retry && this.retryAt <= at) return;
    if (this.retry) clearTimeout(this.retry);
    this.retryAt = at;
    this.retry = setTimeout(() => {
      this.retry = null;
      void this.kick();
    }, ms);
  }

  /**
   * A pass WATCH_SETTLE_MS after the first spool news, for all news meanwhile. An entry's name
   * appears (open) before its writer has written it, so a pass at once found most entries
   * unfinished and took a second pass for the write that completed them; a runc create's or
   * exec's entry then waits for the runtime's pid file, and an end changes nothing on the
   * lifecycle's path, so the wait delays no binding that matters.
   */
  private settled(): void {
    if (this.settle || this.stopping) return;
    this.settle = setTimeout(() => {
      this.settle = null;
      void this.kick();
    }, WATCH_SETTLE_MS);
  }

  /** Waits for everything queued so far. */
  idle(): Promise<void> {
    return this.serial(async () => undefined);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    if (this.retry) clearTimeout(this.retry);
    if (this.settle) clearTimeout(this.settle);
    this.watcher?.close();
    this.pidFiles.close();
    if (this.timer) clearInterval(this.timer);
    const ev = this.events as (NodeJS.ReadableStream & { destroy?: () => void }) | null;
    ev?.destroy?.();
    await this.queue;
    this.consumer.summarizeExecs(true);
  }

  /** One thing at a time: the Tagger is synchronous, and events must apply in order. */
  private serial(job: () => Promise<void>): Promise<void> {
    const next = this.queue.then(job).catch((e: unknown) => this.log(`error: ${e instanceof Error ? e.message : String(e)}`));
    this.queue = next;
    return next;
  }

  /**
   * A start or an end of a container contid already has a row for needs no drain first: the
   * spool watch and the pid file watches drain as entries arrive. Only a container contid does
   * not know yet is looked for in the spool before it is taken for untagged, or its end held.
   */
  private async onEvent(ev: DockerEvent): Promise<void> {
    const id = ev.Actor?.ID;
    const action = (ev.Action ?? '').split(':')[0];
    if (!id) return;
    if (action === 'start') {
      if (this.runningRow(id)) return;
      await this.drainSpool();
      // Started without the shim, or the shim could not hand it over: never silently missing.
      if ((await recordIfUntagged(this.options.docker, this.options.tagger, id, 'start event', undefined, this.requesters)) === 'untagged') {
        this.log(`${id} started without a contid session: recorded untagged`);
      }
      return;
    }
    if (action === 'die' || action === 'destroy') {
      // An open row is this container's (or, for a die while its init runs, a newer instance's);
      // a destroy has nothing left to end once the row is ended (a re-create still waiting in
      // the spool is ended by the runtime's own delete entry after it).
      const row = this.options.tagger.containers.findByRuntimeId(id);
      if (row && (row.state !== 'ended' || action === 'destroy')) {
        this.applyEnd(id, ev);
        this.held.delete(id);
        return;
      }
      await this.drainSpool();
      // The spool entry may still be on its way (a short --rm container): hold the end for it.
      if (!this.applyEnd(id, ev)) this.held.set(id, { ev, until: Date.now() + (this.options.holdMs ?? 60_000) });
      else this.held.delete(id);
    }
  }

  private runningRow(id: string): boolean {
    const row = this.options.tagger.containers.findByRuntimeId(id);
    return row !== undefined && row.state !== 'ended';
  }

  /**
   * Ends the container's current row; false when contid has no row for it yet. Times cannot
   * order a die against a restart (a row may be recorded after the event it precedes), so a
   * die ends the row only if its init is gone: a running init is a newer instance, whose own
   * die will come. A destroy always ends it.
   */
  private applyEnd(id: string, ev: DockerEvent): boolean {
    const row = this.options.tagger.containers.findByRuntimeId(id);
    if (!row) return false;
    const action = (ev.Action ?? '').split(':')[0];
    if (row.state === 'ended' || (action === 'die' && row.initPid && alive(row.initPid))) return true;
    const code = ev.Actor?.Attributes?.exitCode;
    this.options.tagger.end(row.contid, action === 'die' ? `exited${code === undefined ? '' : ` ${code}`}` : 'removed');
    return true;
  }

  /**
   * The held ends of the containers a drain recorded: looked up by what it tagged, not by
   * every held end (ends of containers contid never runs — another runtime's short --rm runs —
   * are held for holdMs, and a query each per drain cost more than the drain).
   */
  private applyHeldFor(outcomes: readonly EntryOutcome[]): void {
    if (this.held.size === 0) return;
    for (const o of outcomes) {
      if (o.kind !== 'tagged') continue;
      const id = this.options.tagger.containers.get(o.contid)?.runtimeId;
      const held = id ? this.held.get(id) : undefined;
      if (id && held && this.applyEnd(id, held.ev)) this.held.delete(id);
    }
  }

  /** Ends held for containers recorded since (by anyone); given up (and logged) after holdMs. */
  private applyHeld(): void {
    const now = Date.now();
    for (const [id, { ev, until }] of this.held) {
      if (this.applyEnd(id, ev)) this.held.delete(id);
      else if (now > until) {
        this.held.delete(id);
        this.log(`${id}: ${ev.Action} for a container never recorded (no spool entry within ${this.options.holdMs ?? 60_000} ms)`);
      }
    }
  }
}
