import net from 'node:net';
import { ServiceLimits, TokenBucket } from './limits';

/** One client connection's unanswered requests. */
export class QueuedConnection {
  readonly lines: string[] = [];
  /** Request bytes read and not yet answered. */
  queuedBytes = 0;
  /** A request of this connection is being answered (replies keep request order). */
  busy = false;
  paused = false;

  constructor(
    readonly socket: net.Socket,
    readonly lane: Lane,
  ) {}
}

/**
 * A channel's share of the service: its connections (served round-robin), the bytes they have
 * queued, and — for a nested channel — the token bucket that paces it.
 */
export class Lane {
  readonly connections: QueuedConnection[] = [];
  queuedBytes = 0;
  private next = 0;

  constructor(
    readonly key: string,
    /** Host lanes are served first and not paced: root on the host is the service's reason to exist. */
    readonly priority: boolean,
    readonly bucket: TokenBucket | null,
  ) {}

  /** The next connection, round-robin, with a request waiting and room for its reply. */
  pick(limits: ServiceLimits): QueuedConnection | undefined {
    for (let i = 0; i < this.connections.length; i++) {
      const c = this.connections[(this.next + i) % this.connections.length];
      if (c.busy || c.lines.length === 0 || c.socket.writableLength > limits.connectionBytesInFlight) continue;
      this.next = (this.next + i + 1) % this.connections.length;
      return c;
    }
    return undefined;
  }
}

export type Answer = (line: string, connection: QueuedConnection) => Promise<string | null>;

/**
 * Answers requests one at a time (registry writes never interleave) in a fair order: host lanes
 * first, then nested lanes round-robin, each nested lane paced by its bucket. It runs for at
 * most `sliceMs` before yielding to the event loop, so a flood never keeps new connections —
 * the host's included — from being accepted and read.
 */
export class FairQueue {
  private readonly lanes: Lane[] = [];
  private nextLane = 0;
  private running = false;
  private wake: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(
    private readonly limits: ServiceLimits,
    private readonly answer: Answer,
  ) {}

  lane(key: string, priority: boolean): Lane {
    let lane = this.lanes.find((l) => l.key === key);
    if (!lane) {
      lane = new Lane(key, priority, priority ? null : new TokenBucket(this.limits.channelRequestsPerSecond, this.limits.channelBurst));
      this.lanes.push(lane);
    }
    return lane;
  }

  attach(socket: net.Socket, lane: Lane): QueuedConnection {
    const c = new QueuedConnection(socket, lane);
    lane.connections.push(c);
    socket.on('drain', () => this.kick());
    socket.on('close', () => this.detach(c));
    return c;
  }

  /** Queues one request line; pauses the socket once the connection or its lane holds its allowance. */
  push(c: QueuedConnection, line: string): void {
    const bytes = Buffer.byteLength(line);
    c.lines.push(line);
    c.queuedBytes += bytes;
    c.lane.queuedBytes += bytes;
    if (this.overAllowance(c) && !c.paused) {
      c.paused = true;
      c.socket.pause();
    }
    this.kick();
  }

  private overAllowance(c: QueuedConnection): boolean {
    return (
      c.lines.length >= this.limits.connectionRequestsInFlight ||
      c.queuedBytes + c.socket.writableLength > this.limits.connectionBytesInFlight ||
      (!c.lane.priority && c.lane.queuedBytes > this.limits.channelBytesInFlight)
    );
  }

  private detach(c: QueuedConnection): void {
    const lane = c.lane;
    lane.queuedBytes -= c.queuedBytes;
    c.lines.length = 0;
    c.queuedBytes = 0;
    const i = lane.connections.indexOf(c);
    if (i >= 0) lane.connections.splice(i, 1);
    if (lane.connections.length === 0 && !lane.priority) this.lanes.splice(this.lanes.indexOf(lane), 1);
    this.resumeWithin(lane);
  }

  private resumeWithin(lane: Lane): void {
    for (const other of lane.connections) {
      if (other.paused && !this.overAllowance(other) && !other.socket.destroyed) {
        other.paused = false;
        other.socket.resume();
      }
    }
  }

  /** Starts a run soon, unless one is under way or scheduled. */
  kick(): void {
    if (this.running || this.closed) return;
    if (this.wake) clearTimeout(this.wake);
    this.wake = null;
    this.running = true;
    setImmediate(() => void this.run());
  }

  private pick(): QueuedConnection | undefined {
    for (const lane of this.lanes) {
      if (!lane.priority) continue;
      const c = lane.pick(this.limits);
      if (c) return c;
    }
    const nested = this.lanes.filter((l) => !l.priority);
    for (let i = 0; i < nested.length; i++) {
      const lane = nested[(this.nextLane + i) % nested.length];
      if (lane.bucket && lane.bucket.waitMs() > 0) continue;
      const c = lane.pick(this.limits);
      if (!c) continue;
      lane.bucket?.take();
      this.nextLane = (this.nextLane + i + 1) % nested.length;
      return c;
    }
    return undefined;
  }

  private async run(): Promise<void> {
    const start = Date.now();
    try {
      for (let c = this.pick(); c && !this.closed; c = Date.now() - start < this.limits.sliceMs ? this.pick() : undefined) {
        const line = c.lines.shift()!;
        const bytes = Buffer.byteLength(line);
        c.queuedBytes -= bytes;
        c.lane.queuedBytes -= bytes;
        c.busy = true;
        let reply: string | null;
        try {
          reply = await this.answer(line, c);
        } finally {
          c.busy = false;
        }
        if (reply !== null && !c.socket.destroyed) c.socket.write(reply);
        if (c.paused && !this.overAllowance(c)) this.resumeWithin(c.lane);
      }
    } finally {
      this.running = false;
    }
    this.scheduleNext();
  }

  /** More work now: yield and go on. Work waiting only for tokens: wake when the first refills. */
  private scheduleNext(): void {
    if (this.closed) return;
    // A connection whose client leaves its replies unread waits for 'drain', which kicks again.
    const waiting = this.lanes.filter((l) => l.connections.some((c) => c.lines.length > 0 && !c.busy && c.socket.writableLength <= this.limits.connectionBytesInFlight));
    if (waiting.length === 0) return;
    const waitMs = Math.min(...waiting.map((l) => l.bucket?.waitMs() ?? 0));
    if (waitMs === 0) return this.kick();
    this.wake = setTimeout(() => {
      this.wake = null;
      this.kick();
    }, waitMs);
  }

  close(): void {
    this.closed = true;
    if (this.wake) clearTimeout(this.wake);
  }
}
