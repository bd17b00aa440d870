/** No held event: the end of a session's chain. */
export const NO_EVENT = -1;
const FIRST_SLOTS = 256;

/**
 * The events a live pipeline holds for their binding, in the order they were held, as columns
 * indexed by slot: `slab[start, end)` their lines (see HeldSlabs in pipeline.ts), the session
 * they wait for, the time they go out at the latest, whether they went out already, and the
 * next event their session held. Not an object per held event: each one outlived 2 s of
 * young-generation collections (the grace) and was copied, then promoted and marked; a
 * replay of short sessions holds nearly every event it reads.
 *
 * Slots are numbered from the first one not compacted away (`compact` moves the live ones to
 * the front: the caller renumbers what it keeps of them, see LivePipeline.compactQueue).
 */
export class HeldQueue<S> {
  private slabs: (Buffer | undefined)[] = new Array(FIRST_SLOTS);
  private sessions_: (S | undefined)[] = new Array(FIRST_SLOTS);
  private starts = new Int32Array(FIRST_SLOTS);
  private ends = new Int32Array(FIRST_SLOTS);
  private untils = new Float64Array(FIRST_SLOTS);
  private outs = new Uint8Array(FIRST_SLOTS);
  private nexts = new Int32Array(FIRST_SLOTS);
  /** Slots used: events held since the last compaction. */
  length = 0;
  /** The first slot whose event may still be held (the ones before it went out). */
  head = 0;

  add(slab: Buffer, start: number, end: number, session: S, until: number): number {
    if (this.length === this.starts.length) this.grow();
    const i = this.length++;
    this.slabs[i] = slab;
    this.sessions_[i] = session;
    this.starts[i] = start;
    this.ends[i] = end;
    this.untils[i] = until;
    this.outs[i] = 0;
    this.nexts[i] = NO_EVENT;
    return i;
  }

  slab(i: number): Buffer {
    return this.slabs[i]!;
  }
  start(i: number): number {
    return this.starts[i];
  }
  end(i: number): number {
    return this.ends[i];
  }
  session(i: number): S {
    return this.sessions_[i]!;
  }
  until(i: number): number {
    return this.untils[i];
  }
  isOut(i: number): boolean {
    return this.outs[i] === 1;
  }
  next(i: number): number {
    return this.nexts[i];
  }
  setNext(i: number, j: number): void {
    this.nexts[i] = j;
  }

  /** The event went out: its slot stays until compacted, its lines do not. */
  markOut(i: number): void {
    this.outs[i] = 1;
    this.slabs[i] = undefined;
  }

  /**
   * Drops the slots before `head` once they are most of the queue; returns by how much the
   * slots left were renumbered (0: nothing moved). Chains within the queue are renumbered here.
   */
  compact(): number {
    const shift = this.head;
    if (shift <= 4096 || shift * 2 <= this.length) return 0;
    const n = this.length - shift;
    for (let i = 0; i < n; i++) {
      this.slabs[i] = this.slabs[i + shift];
      this.sessions_[i] = this.sessions_[i + shift];
      const next = this.nexts[i + shift];
      this.nexts[i] = next === NO_EVENT ? NO_EVENT : next - shift;
    }
    this.slabs.fill(undefined, n, this.length);
    this.sessions_.fill(undefined, n, this.length);
    this.starts.copyWithin(0, shift, this.length);
    this.ends.copyWithin(0, shift, this.length);
    this.untils.copyWithin(0, shift, this.length);
    this.outs.copyWithin(0, shift, this.length);
    this.length = n;
    this.head = 0;
    return shift;
  }

  private grow(): void {
    const size = this.starts.length * 2;
    const widen = <T extends Int32Array | Float64Array | Uint8Array>(a: T, b: T): T => (b.set(a), b);
    this.starts = widen(this.starts, new Int32Array(size));
    this.ends = widen(this.ends, new Int32Array(size));
    this.untils = widen(this.untils, new Float64Array(size));
    this.outs = widen(this.outs, new Uint8Array(size));
    this.nexts = widen(this.nexts, new Int32Array(size));
    // new Array(size): fast holey elements, copied (lengthening in place could make a dictionary)
    const slabs: (Buffer | undefined)[] = new Array(size);
    const sessions: (S | undefined)[] = new Array(size);
    for (let i = 0; i < this.length; i++) {
      slabs[i] = this.slabs[i];
      sessions[i] = this.sessions_[i];
    }
    this.slabs = slabs;
    this.sessions_ = sessions;
  }
}
