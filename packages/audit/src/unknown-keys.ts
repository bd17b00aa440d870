import { ownString } from './own-string';

/** A key id some binding was signed with that this reader has not imported, and how often. */
export interface UnknownKey {
  node: string;
  keyId: string;
  count: number;
}

/** Keys kept by default: far more than the three a report names, far fewer than a flood. */
export const DEFAULT_MAX_UNKNOWN_KEYS = 256;

/**
 * The keys of bindings rejected as signed by an unknown key, bounded: anyone who may send an
 * audit record (root in a container keeps CAP_AUDIT_WRITE) can make up key ids without end.
 * When the table is full, the half with the fewest bindings is let go and counted in `shed`,
 * so a node whose key is missing (many bindings) stays named among any number of forgeries
 * (one each), and the number of bindings stays exact: kept counts plus `shed.bindings`.
 */
export class UnknownKeyTally {
  private readonly keys = new Map<string, UnknownKey>();
  /** Entries let go to stay within `max`, and the bindings they had counted. A key seen again after being let go is counted again. */
  readonly shed = { keys: 0, bindings: 0 };

  constructor(readonly max = DEFAULT_MAX_UNKNOWN_KEYS) {
    if (max < 2) throw new RangeError('the unknown-key table needs room for at least 2 keys');
  }

  add(keyId: string, node: string): void {
    const known = this.keys.get(keyId);
    if (known) {
      known.count++;
      return;
    }
    if (this.keys.size >= this.max) this.shedHalf();
    // Own copies: a key id sliced from a record would keep its whole line alive.
    const id = ownString(keyId);
    this.keys.set(id, { node: ownString(node), keyId: id, count: 1 });
  }

  get size(): number {
    return this.keys.size;
  }

  values(): IterableIterator<UnknownKey> {
    return this.keys.values();
  }

  /** Once per max/2 new keys: lets go of the half with the fewest bindings (the oldest first among equals). */
  private shedHalf(): void {
    const byCount = [...this.keys.values()].sort((a, b) => a.count - b.count);
    for (const k of byCount.slice(0, Math.floor(this.max / 2))) {
      this.keys.delete(k.keyId);
      this.shed.keys++;
      this.shed.bindings += k.count;
    }
  }
}
