import { createHmac } from 'node:crypto';
import { ContainerId, formatContainerId, parseContainerId } from './container-id';
import { Namespaces, formatNamespaces, parseNamespaces } from './proc';

/** Audit record types contid writes or reads (linux/audit.h, libvirt convention). */
export const AUDIT_VIRT_CONTROL = 2500;
/** Kernel audit-container-ID patches (never merged): only meaningful where procfs contid exists. */
export const AUDIT_CONTAINER_OP = 1020;
export const AUDIT_CONTAINER_ID = 1336;

export type LifecycleOp = 'create' | 'setns' | 'end' | 'untagged' | 'fail';

/** What one contid record says; see docs/records.md. */
export interface LifecycleRecord {
  op: LifecycleOp;
  orchestrator: string;
  name: string;
  runtimeId: string | null;
  pid: number | null;
  session: number | null;
  contid: ContainerId | null;
  parent: ContainerId | null;
  namespaces: Namespaces;
  node: number | null;
  reason?: string;
}

/** audit_encode_nv_string's rule: hex when the value holds '"', a byte < 0x21 or > 0x7e. */
export function needsHex(value: string): boolean {
  return /["\x00-\x20\x7f-\uffff]/.test(value);
}

export function encodeValue(value: string): string {
  return needsHex(value) ? Buffer.from(value, 'utf8').toString('hex').toUpperCase() : `"${value}"`;
}

/** Inverse of encodeValue for a raw field value (quoted, hex, or bare like `?`). */
export function decodeValue(raw: string): string {
  if (raw.length >= 2 && raw.startsWith('"') && raw.endsWith('"')) return raw.slice(1, -1);
  if (raw.length % 2 === 0 && raw.length > 0 && /^[0-9A-F]+$/.test(raw)) return Buffer.from(raw, 'hex').toString('utf8');
  return raw;
}

const orQ = (v: string | number | null | undefined): string => (v === null || v === undefined ? '?' : String(v));

/** The msg text before the MAC; field order is fixed so the MAC is reproducible. */
export function formatLifecycle(r: LifecycleRecord): string {
  const parts = [
    `virt=${r.orchestrator.replace(/[^A-Za-z0-9._-]/g, '_') || 'contid'}`,
    `op=${r.op}`,
    `vm=${encodeValue(r.name)}`,
    `uuid=${r.runtimeId ? encodeValue(r.runtimeId).replace(/^"(.*)"$/, '$1') : '?'}`,
    `vm-pid=${orQ(r.pid)}`,
    `vm-ses=${orQ(r.session)}`,
    `contid=${r.contid === null ? '?' : formatContainerId(r.contid)}`,
    `parent-contid=${r.parent === null ? '?' : formatContainerId(r.parent)}`,
    `ns=${formatNamespaces(r.namespaces)}`,
    `node=${orQ(r.node)}`,
  ];
  if (r.reason !== undefined) parts.push(`reason=${encodeValue(r.reason)}`);
  return parts.join(' ');
}

export function recordMac(text: string, key: Buffer): string {
  return createHmac('sha256', key).update(text).digest('hex').slice(0, 16);
}

export function signLifecycle(r: LifecycleRecord, key: Buffer | null): string {
  const text = formatLifecycle(r);
  return key ? `${text} mac=${recordMac(text, key)}` : text;
}

/** Checks the MAC of a record's msg body (the text inside msg='…'); null when it has none. */
export function verifyMac(body: string, key: Buffer): boolean | null {
  const at = body.indexOf(' mac=');
  if (at < 0) return null;
  const mac = body.slice(at + 5, at + 21);
  return recordMac(body.slice(0, at), key) === mac;
}

const num = (v: string | undefined): number | null => (v === undefined || v === '?' || !/^\d+$/.test(v) ? null : Number(v));
const id = (v: string | undefined): ContainerId | null => {
  if (v === undefined || v === '?') return null;
  try {
    return parseContainerId(v);
  } catch {
    return null;
  }
};
const OPS: readonly string[] = ['create', 'setns', 'end', 'untagged', 'fail'];

/**
 * Reads a contid record back from its msg fields (already split into key → raw value).
 * Returns null for VIRT_CONTROL records written by others (libvirt): they have no contid= field.
 */
export function parseLifecycle(fields: ReadonlyMap<string, string>): LifecycleRecord | null {
  const op = fields.get('op');
  if (!op || !OPS.includes(op) || !fields.has('contid') || !fields.has('vm-ses')) return null;
  const uuid = fields.get('uuid');
  return {
    op: op as LifecycleOp,
    orchestrator: fields.get('virt') ?? 'contid',
    name: decodeValue(fields.get('vm') ?? '?'),
    runtimeId: uuid === undefined || uuid === '?' ? null : decodeValue(uuid),
    pid: num(fields.get('vm-pid')),
    session: num(fields.get('vm-ses')),
    contid: id(fields.get('contid')),
    parent: id(fields.get('parent-contid')),
    namespaces: parseNamespaces(fields.get('ns') ?? '?'),
    node: num(fields.get('node')),
    reason: fields.has('reason') ? decodeValue(fields.get('reason')!) : undefined,
  };
}
