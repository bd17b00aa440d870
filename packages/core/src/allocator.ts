import type Database from 'better-sqlite3';
import { ContainerId, toContainerId } from './container-id';
import { ContidError } from './errors';

/** High 16 bits: node prefix (cluster uniqueness). Low 48 bits: per-node counter. */
export const NODE_PREFIX_BITS = 16n;
export const COUNTER_BITS = 48n;
export const MAX_NODE_PREFIX = 0xfffe; // 0xffff could produce the reserved 2^64-1
const COUNTER_MASK = (1n << COUNTER_BITS) - 1n;
const EPOCH_2020_MS = 1577836800000;

/**
 * The counter never goes below (milliseconds since 2020) << 6, so even a wiped registry, a
 * restored backup or a re-imaged node never hands out an ID issued before: IDs are unique
 * across reboots and losses, not only across processes. 64 IDs a millisecond can be issued
 * before the counter runs ahead of the clock (then it simply keeps counting); 48 bits last
 * until 2159.
 */
export function timeFloor(nowMs = Date.now()): bigint {
  return BigInt(Math.max(1, nowMs - EPOCH_2020_MS)) << 6n;
}

export function composeId(prefix: number | null, counter: bigint): ContainerId {
  if (counter <= 0n || counter > COUNTER_MASK) throw new ContidError('container ID counter exhausted for this node');
  return toContainerId((BigInt(prefix ?? 0) << COUNTER_BITS) | counter);
}

export function prefixOf(id: ContainerId): number {
  return Number(id >> COUNTER_BITS);
}

/** Allocates IDs from the registry's meta table under SQLite's write lock. */
export class IdAllocator {
  /** Statements prepared once: an ID is allocated per container, and prepare() parses the SQL each time. */
  private readonly statements = new Map<string, Database.Statement>();

  constructor(private readonly db: Database.Database) {}

  private statement(sql: string): Database.Statement {
    let st = this.statements.get(sql);
    if (!st) this.statements.set(sql, (st = this.db.prepare(sql)));
    return st;
  }

  nodePrefix(): number | null {
    const row = this.statement(`SELECT value FROM meta WHERE key = 'node_prefix'`).get() as { value: string } | undefined;
    return row ? Number(row.value) : null;
  }

  /** Sets the node prefix once; changing it later would break nothing but is refused to keep IDs readable. */
  setNodePrefix(prefix: number): void {
    if (!Number.isInteger(prefix) || prefix < 1 || prefix > MAX_NODE_PREFIX) {
      throw new ContidError(`node prefix must be an integer in 1..${MAX_NODE_PREFIX}, got ${prefix}`);
    }
    this.db
      .transaction(() => {
        const current = this.nodePrefix();
        if (current !== null && current !== prefix) {
          throw new ContidError(`this node already has prefix ${current}; refusing to change it to ${prefix}`);
        }
        this.statement(`INSERT OR REPLACE INTO meta (key, value) VALUES ('node_prefix', ?)`).run(String(prefix));
      })
      .immediate();
  }

  allocate(): ContainerId {
    return this.db.transaction(() => this.allocateInTransaction()).immediate();
  }

  /** Must run inside an IMMEDIATE transaction so no other process reads the same counter. */
  allocateInTransaction(): ContainerId {
    const row = this.statement(`SELECT value FROM meta WHERE key = 'counter'`).get() as { value: string } | undefined;
    const last = row ? BigInt(row.value) : 0n;
    const next = last + 1n > timeFloor() ? last + 1n : timeFloor();
    this.statement(`INSERT OR REPLACE INTO meta (key, value) VALUES ('counter', ?)`).run(next.toString());
    return composeId(this.nodePrefix(), next);
  }
}
