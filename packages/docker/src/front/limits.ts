/**
 * What the front holds for its callers, bounded (outside attack 13, F6): a user in group docker
 * opened 200 connections each with an unfinished 1 MiB create body and took the front from 58
 * to 266 MB; unbounded, the kernel's OOM killer picks the front, and its unit's ExecStopPost
 * (`--restore`) then gives group docker dockerd's own socket until it is back.
 *
 * Only what the front must keep before it can relay counts: a request head not yet complete, a
 * judged body (request-policy: create, start, exec create … — small JSON) not yet complete,
 * input kept after an upgrade request until dockerd answers it, the front's own answers queued
 * behind one of dockerd's. Streamed bodies (a build context, an image load, a cp's tar) are
 * relayed as they come and the client is read no faster than dockerd takes them, so they hold
 * nothing here. Host root is not limited: it reaches dockerd's own socket anyway.
 */
export interface FrontLimits {
  /** Connections open at once, all callers. */
  connections: number;
  /** Connections open at once by one uid (SO_PEERCRED). */
  userConnections: number;
  /** Bytes held at once across all connections. */
  buffered: number;
  /** Bytes held at once across one uid's connections. */
  userBuffered: number;
  /** How long a request head, or a judged body, may stay unfinished (slowloris). */
  requestTimeoutMs: number;
}

/**
 * `docker stats` opens one streaming connection per container and compose a handful per
 * project, so a user's 256 are far from real use; a judged body over 1 MiB is refused anyway
 * (MAX_JUDGED_BODY), so 8 MiB is eight of the largest at once, and a client sends a head and its
 * small JSON body together, in well under 30 s.
 */
export const DEFAULT_LIMITS: FrontLimits = {
  connections: 4096,
  userConnections: 256,
  buffered: 64 << 20,
  userBuffered: 8 << 20,
  requestTimeoutMs: 30_000,
};

/**
 * Per-segment cost counted on top of its bytes: a body sent a byte at a time is one small Buffer
 * (and its segment object) per byte, which costs far more than the byte.
 */
export const SEGMENT_OVERHEAD = 256;

/** Connections and held bytes per uid and in total, against FrontLimits. */
export class Holdings {
  private readonly connections = new Map<number, number>();
  private totalConnections = 0;
  private readonly bytes = new Map<number, number>();
  private totalBytes = 0;

  constructor(readonly limits: FrontLimits) {}

  /** A new connection of `uid`: null when it may stay (it is then counted), else why not. */
  admit(uid: number): string | null {
    const mine = this.connections.get(uid) ?? 0;
    if (mine >= this.limits.userConnections) return `uid ${uid} has ${mine} connections open (at most ${this.limits.userConnections})`;
    if (this.totalConnections >= this.limits.connections) return `${this.totalConnections} connections are open (at most ${this.limits.connections})`;
    this.connections.set(uid, mine + 1);
    this.totalConnections++;
    return null;
  }

  /** A connection admit() counted has closed. */
  leave(uid: number): void {
    const mine = (this.connections.get(uid) ?? 0) - 1;
    if (mine > 0) this.connections.set(uid, mine);
    else this.connections.delete(uid);
    this.totalConnections--;
  }

  /**
   * One of `uid`'s connections now holds `now` bytes instead of `before`: null when that is
   * within the limits (it is then counted), else why not (nothing changes: the caller closes
   * that connection and reports 0).
   */
  hold(uid: number, before: number, now: number): string | null {
    const mine = (this.bytes.get(uid) ?? 0) - before + now;
    const total = this.totalBytes - before + now;
    if (now > before) {
      if (mine > this.limits.userBuffered) return `uid ${uid}'s connections would hold ${mine} bytes of unfinished requests (at most ${this.limits.userBuffered})`;
      if (total > this.limits.buffered) return `all connections would hold ${total} bytes of unfinished requests (at most ${this.limits.buffered})`;
    }
    if (mine > 0) this.bytes.set(uid, mine);
    else this.bytes.delete(uid);
    this.totalBytes = total;
    return null;
  }
}

/**
 * One line per key at most every `everyMs`, the lines held back counted in the next: an attacker
 * opening thousands of connections must not fill the journal with one line each.
 */
export class ThrottledLog {
  private readonly last = new Map<string, { at: number; held: number }>();

  constructor(
    private readonly log: (line: string) => void,
    private readonly everyMs = 10_000,
    private readonly now: () => number = Date.now,
  ) {}

  line(key: string, text: string): void {
    const t = this.now();
    const seen = this.last.get(key);
    if (seen && t - seen.at < this.everyMs) {
      seen.held++;
      return;
    }
    this.log(seen?.held ? `${text} (and ${seen.held} more like it in the last ${Math.round((t - seen.at) / 1000)} s)` : text);
    this.last.set(key, { at: t, held: 0 });
    if (this.last.size > 1024) this.last.delete(this.last.keys().next().value!);
  }
}
