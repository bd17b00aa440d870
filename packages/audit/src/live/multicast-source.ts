import { Worker } from 'node:worker_threads';
import { ContidError } from '@contid/core';
import type { BoundedLineQueue } from './bounded-queue';
import { MULTICAST_WORKER_SOURCE } from './multicast-worker';
import type { LineSource, SourceLosses } from './source';

export interface MulticastOptions {
  /** Socket receive buffer; SO_RCVBUFFORCE when we have CAP_NET_ADMIN. */
  receiveBufferBytes?: number;
  /** Lines the worker may have posted and the main thread not yet taken. */
  maxInFlight?: number;
}

type WorkerMessage =
  | { kind: 'ready' }
  | { kind: 'closed' }
  | { kind: 'error'; message: string; errno: number }
  | { kind: 'batch'; lines: string[]; kernelOverruns: number; dropped: number };

const EPERM = 1;

/**
 * Every kernel audit record, live, from the audit multicast group (AUDIT_NLGRP_READLOG,
 * needs CAP_AUDIT_READ). Works beside a running auditd. recv() blocks, so it runs on a
 * worker thread and hands batches to the main thread.
 */
export class MulticastSource implements LineSource {
  readonly name = 'multicast';
  private worker: Worker | undefined;
  private readonly shared = new SharedArrayBuffer(8);
  private readonly flags = new Int32Array(this.shared);
  private readerDropped = 0;
  private kernelOverruns = 0;
  private failed: string | null = null;
  private finish!: () => void;
  readonly done = new Promise<void>((resolve) => (this.finish = resolve));

  constructor(private readonly options: MulticastOptions = {}) {}

  start(queue: BoundedLineQueue): Promise<void> {
    const worker = new Worker(MULTICAST_WORKER_SOURCE, {
      eval: true,
      workerData: {
        koffiPath: require.resolve('koffi'),
        shared: this.shared,
        rcvbuf: this.options.receiveBufferBytes ?? 64 * 1024 * 1024,
        maxInFlight: this.options.maxInFlight ?? 65536,
        batchSize: 512,
      },
    });
    this.worker = worker;
    return new Promise<void>((resolve, reject) => {
      let ready = false;
      worker.on('message', (m: WorkerMessage) => {
        if (m.kind === 'ready') {
          ready = true;
          resolve();
        } else if (m.kind === 'batch') {
          // The lines leave the worker's account as they enter the bounded queue.
          Atomics.sub(this.flags, 1, m.lines.length);
          queue.offer(m.lines);
          this.readerDropped += m.dropped;
          this.kernelOverruns += m.kernelOverruns;
        } else if (m.kind === 'error') {
          const hint = m.errno === EPERM ? ' — run as root (CAP_AUDIT_READ)' : '';
          const err = new ContidError(`audit multicast: ${m.message}${hint}`);
          if (!ready) reject(err);
          else this.failed = err.message;
        }
      });
      worker.on('error', (err) => {
        if (!ready) reject(err);
        else this.failed = `audit multicast reader failed: ${err.message}`;
      });
      worker.on('exit', () => {
        if (!ready) reject(new ContidError('audit multicast reader exited before it was ready'));
        this.finish();
      });
    });
  }

  async stop(): Promise<void> {
    if (!this.worker) return;
    Atomics.store(this.flags, 0, 1); // the worker sees it within one recv timeout (200 ms)
    await this.done;
  }

  losses(): SourceLosses {
    return { readerDropped: this.readerDropped, kernelOverruns: this.kernelOverruns };
  }

  failure(): string | null {
    return this.failed;
  }
}
