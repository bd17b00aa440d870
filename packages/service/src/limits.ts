import { MAX_REQUEST_BYTES } from './protocol';

/**
 * What one connection and one channel may hold of the service. A container that floods its
 * nested channel fills its own allowance and then waits (its socket is paused, so the kernel's
 * socket buffer pushes back on the writer); the host channel and other containers never wait
 * behind it.
 */
export interface ServiceLimits {
  /** Longest request line; a longer one is refused and its connection closed. */
  frameBytes: number;
  /** Request bytes read but not yet answered plus reply bytes not yet taken by the client. */
  connectionBytesInFlight: number;
  /** Requests read but not yet answered, per connection. */
  connectionRequestsInFlight: number;
  /** Request bytes read but not yet answered, summed over a nested channel's connections. */
  channelBytesInFlight: number;
  /** Sustained requests per second one nested channel is served (token bucket refill). */
  channelRequestsPerSecond: number;
  /** Requests a nested channel may have served at once after a quiet spell (bucket size). */
  channelBurst: number;
  /** Concurrent connections one nested channel may hold; more are closed on accept. */
  connectionsPerChannel: number;
  /** Longest run of requests before the service yields to the event loop (new connections, I/O). */
  sliceMs: number;
}

export const DEFAULT_LIMITS: ServiceLimits = {
  frameBytes: MAX_REQUEST_BYTES,
  connectionBytesInFlight: 256 * 1024,
  connectionRequestsInFlight: 64,
  channelBytesInFlight: 1024 * 1024,
  channelRequestsPerSecond: 200,
  channelBurst: 100,
  connectionsPerChannel: 32,
  sliceMs: 10,
};

/** A token bucket: `take()` succeeds while tokens last; they refill at `rate` per second. */
export class TokenBucket {
  private tokens: number;
  private at: number;

  constructor(
    private readonly rate: number,
    private readonly size: number,
    private readonly now: () => number = Date.now,
  ) {
    this.tokens = size;
    this.at = now();
  }

  private refill(): void {
    const t = this.now();
    this.tokens = Math.min(this.size, this.tokens + ((t - this.at) / 1000) * this.rate);
    this.at = t;
  }

  take(): boolean {
    this.refill();
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  /** Milliseconds until one token is available (0 when one is). */
  waitMs(): number {
    this.refill();
    return this.tokens >= 1 ? 0 : Math.ceil(((1 - this.tokens) / this.rate) * 1000);
  }
}
