import { ContainerId, formatContainerId, parseContainerId } from './container-id';
import { Namespaces, formatNamespaces, parseNamespaces } from './proc';

/** Audit record types contid writes or reads (linux/audit.h, libvirt convention). */
export const AUDIT_VIRT_CONTROL = 2500;
/** Kernel audit-container-ID patches (never merged): only meaningful where procfs contid exists. */
export const AUDIT_CONTAINER_OP = 1020;
export const AUDIT_CONTAINER_ID = 1336;

export type LifecycleOp = 'create' | 'setns' | 'end' | 'untagged' | 'fail' | 'update';

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
  /** The cluster-unique ID prefix of the node (high 16 bits of its IDs), or null. */
  idPrefix: number | null;
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

/** contid's payload without its provenance; field order is fixed (docs/records.md). */
export function formatLifecycle(r: LifecycleRecord): string {
  const parts = [
    `virt=${r.orchestrator.replace(/[^A-Za-z0-9._-]/g, '_') || 'contid'}`,
    `op=${r.op}`,
    `vm=${encodeValue(r.name)}`,
    // Quoted like vm= (ausearch --uuid matches the quoted form): a bare id of hex digits
    // would be read back hex-decoded.
    `uuid=${r.runtimeId ? encodeValue(r.runtimeId) : '?'}`,
    `vm-pid=${orQ(r.pid)}`,
    `vm-ses=${orQ(r.session)}`,
    `contid=${r.contid === null ? '?' : formatContainerId(r.contid)}`,
    `parent-contid=${r.parent === null ? '?' : formatContainerId(r.parent)}`,
    `ns=${formatNamespaces(r.namespaces)}`,
    `id-prefix=${orQ(r.idPrefix)}`,
  ];
  if (r.reason !== undefined) parts.push(`reason=${encodeValue(r.reason)}`);
  return parts.join(' ');
}

/**
 * Who wrote a record, where and when: signed with the payload. Named `contid-*` so no reader
 * takes them for the kernel's header (pid uid auid ses) or libaudit's trailer (exe hostname …).
 */
export interface Provenance {
  /** The node that wrote it (as auditd's name_format names it); its key is tied to it. */
  node: string;
  /** /proc/sys/kernel/random/boot_id without dashes: session numbers restart every boot. */
  boot: string;
  /** Milliseconds since the epoch when it was signed. */
  timeMs: number;
  keyId: string;
}

export interface Signer {
  readonly node: string;
  readonly keyId: string;
  sign(payload: string): string;
}

export const SIGNATURE_FIELD = 'contid-sig';

/** The signed text: payload and provenance. The signature covers every byte of it. */
export function signedPayload(r: LifecycleRecord, p: Provenance): string {
  return `${formatLifecycle(r)} contid-node=${p.node} contid-boot=${p.boot} contid-time=${p.timeMs} contid-key=${p.keyId}`;
}

/** The msg text contid hands to libaudit: signed payload, then the signature. */
export function signLifecycle(r: LifecycleRecord, signer: Signer, boot: string, timeMs = Date.now()): string {
  const payload = signedPayload(r, { node: signer.node, boot, timeMs, keyId: signer.keyId });
  return `${payload} ${SIGNATURE_FIELD}=${signer.sign(payload)}`;
}

/** libaudit's trailer, always last and always in this order (audit_log_user_message). */
const TRAILER = / exe=(\S+) hostname=(\S+) addr=(\S+) terminal=(\S+) res=(\S+)$/;
const SIGNATURE = / contid-sig=([A-Za-z0-9_-]+)$/;
const PAYLOAD_TOKEN = /^([a-z][a-z-]*)=(\S*)$/;
const PAYLOAD_FIELDS = new Set([
  'virt', 'op', 'vm', 'uuid', 'vm-pid', 'vm-ses', 'contid', 'parent-contid', 'ns', 'id-prefix', 'reason',
  'contid-node', 'contid-boot', 'contid-time', 'contid-key',
]);

export interface SplitBody {
  /** Exactly the text the signature covers. */
  payload: string;
  /** The payload's fields (raw values), each present once. */
  fields: Map<string, string>;
  signature: string;
  /** exe hostname addr terminal res, taken from the end where libaudit put them. */
  trailer: { exe: string; hostname: string; addr: string; terminal: string; res: string };
}

export type BodyProblem = 'truncated' | 'unsigned' | 'malformed';

/**
 * Takes a VIRT_CONTROL msg body apart the way it was built: libaudit's trailer from the end,
 * then contid's signature, then the payload, whose fields may not repeat or come from outside
 * contid's own set — so no text inside the payload can stand in for a trailer or header field.
 */
export function splitSignedBody(body: string): SplitBody | BodyProblem {
  const t = TRAILER.exec(body);
  // The kernel cuts a message at 8560 bytes, trailer first: no trailer means a cut record.
  if (!t) return 'truncated';
  const beforeTrailer = body.slice(0, t.index);
  const s = SIGNATURE.exec(beforeTrailer);
  if (!s) return beforeTrailer.includes(`${SIGNATURE_FIELD}=`) ? 'malformed' : 'unsigned';
  const payload = beforeTrailer.slice(0, s.index);
  const fields = new Map<string, string>();
  for (const token of payload.split(' ')) {
    const m = PAYLOAD_TOKEN.exec(token);
    if (!m || !PAYLOAD_FIELDS.has(m[1]) || fields.has(m[1])) return 'malformed';
    fields.set(m[1], m[2]);
  }
  return { payload, fields, signature: s[1], trailer: { exe: t[1], hostname: t[2], addr: t[3], terminal: t[4], res: t[5] } };
}

/** Provenance fields of a split payload, or null when one is missing or ill-formed. */
export function parseProvenance(fields: ReadonlyMap<string, string>): Provenance | null {
  const node = fields.get('contid-node');
  const boot = fields.get('contid-boot');
  const time = fields.get('contid-time');
  const keyId = fields.get('contid-key');
  if (!node || !/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(node)) return null;
  if (!boot || !/^[0-9a-f]{32}$/.test(boot) || !time || !/^\d{1,15}$/.test(time) || !keyId || !/^[0-9a-f]{16}$/.test(keyId)) return null;
  return { node, boot, timeMs: Number(time), keyId };
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
const OPS: readonly string[] = ['create', 'setns', 'end', 'untagged', 'fail', 'update'];

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
    // `node=` in records written before the signed format.
    idPrefix: num(fields.get('id-prefix') ?? fields.get('node')),
    reason: fields.has('reason') ? decodeValue(fields.get('reason')!) : undefined,
  };
}
