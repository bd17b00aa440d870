import { ContidError } from './errors';

/**
 * Container IDs: unsigned 64-bit integers, printed in decimal, as in the kernel's
 * audit-container-ID proposal. 0 is never issued; 2^64-1 means "unset" (printed -1 by that
 * kernel), so neither can name a container.
 */
export type ContainerId = bigint & { readonly __brand: 'ContainerId' };

export const U64_MAX = (1n << 64n) - 1n;
/** The kernel proposal's "no container ID" value. */
export const UNSET_CONTAINER_ID = U64_MAX;

export class ContainerIdError extends ContidError {
  override name = 'ContainerIdError';
}

export function isReserved(value: bigint): boolean {
  return value === 0n || value === U64_MAX;
}

/** Wraps a bigint known to be a valid ID; throws on reserved or out-of-range values. */
export function toContainerId(value: bigint): ContainerId {
  if (value < 0n || value > U64_MAX) throw new ContainerIdError(`container ID ${value} is outside 1..2^64-2`);
  if (isReserved(value)) throw new ContainerIdError(`container ID ${value} is reserved (0 and 2^64-1 are never issued)`);
  return value as ContainerId;
}

/** Parses decimal text strictly: no sign, no spaces, no hex, no leading zeros beyond "0". */
export function parseContainerId(text: string): ContainerId {
  if (!/^[0-9]+$/.test(text)) {
    const what = text.startsWith('-') ? 'negative' : 'not a decimal number';
    throw new ContainerIdError(`invalid container ID "${text.slice(0, 40)}": ${what}`);
  }
  if (text.length > 20 || BigInt(text) > U64_MAX) {
    throw new ContainerIdError(`invalid container ID "${text.slice(0, 40)}": larger than 2^64-1`);
  }
  return toContainerId(BigInt(text));
}

export function formatContainerId(id: ContainerId): string {
  return id.toString(10);
}
