import type { KeyObject } from 'node:crypto';
import { LifecycleRecord, Provenance, parseLifecycle, parseProvenance, splitSignedBody } from '@contid/core/dist/record-format';
import { TrustStore, verifySignature } from '@contid/core/dist/trust-store';
import { AuditRecord, splitAuditFields } from './record';

/**
 * Why a binding record was not used:
 * - uid: not sent by root; type: a contid binding in a USER record (contid writes VIRT_CONTROL);
 * - unsigned: no contid-sig= (another program, or a record older than signing);
 * - unknown-key: signed with a key this reader has not imported; revoked: with a revoked key;
 * - signature: the signature does not verify (a changed or forged payload);
 * - node: the key, the signed node and the log's node= prefix do not agree;
 * - time: the signed time is far from the kernel's time stamp (a replayed record);
 * - duplicate: a signature seen before (a replayed record);
 * - truncated: cut by the kernel (no libaudit trailer); malformed: fields repeated or unknown;
 * - nesting: sent from inside container X but binds X itself or a container outside X;
 * - exe: (only with the legacy rule) not an allowed executable.
 */
export type BindingProblem =
  | 'uid' | 'type' | 'unsigned' | 'unknown-key' | 'revoked' | 'signature' | 'node' | 'time'
  | 'duplicate' | 'truncated' | 'malformed' | 'nesting' | 'exe';

/** A binding whose signature verified (or, under the legacy rule, whose exe is allowed). */
export interface CheckedBinding {
  life: LifecycleRecord;
  /** Null only for unsigned records accepted by the legacy exe rule. */
  provenance: Provenance | null;
  signature: string | null;
  /** The kernel-stamped sender session (`ses=` of the header), null when unset. */
  senderSession: number | null;
}

export type BindingCheck = { ok: true; binding: CheckedBinding } | { ok: false; problem: BindingProblem; keyId?: string; node?: string };

/** What verifying a signed binding takes (the costly part: Ed25519, about a millisecond on a loaded VM). */
export interface SignatureProof {
  key: KeyObject;
  payload: string;
  signature: string;
}

/** A binding that passed every check but its signature (`proof`, null for the legacy rule's unsigned records). */
export type ClaimCheck = { ok: true; binding: CheckedBinding; proof: SignatureProof | null } | Extract<BindingCheck, { ok: false }>;

export interface BindingCheckOptions {
  trust: TrustStore;
  /**
   * The pre-signature rule (kernel uid 0 + an allowed exe=), for unsigned records only. A
   * container with CAP_AUDIT_WRITE can meet it: callers must ask for it by name.
   */
  legacyTrustedExes?: ReadonlySet<string> | null;
  /**
   * The node whose records carry no `node=` prefix (a node's own log): a binding in such a
   * record must be that node's, or another node's replayed binding would claim this node's
   * sessions. null: no prefix-less record is trusted to name its node (nothing to compare).
   */
  unprefixedNode?: string | null;
  /** How far the signed time may be from the kernel's stamp (default 5 minutes). */
  maxSkewMs?: number;
}

const UNSET = '4294967295';
const DEFAULT_SKEW_MS = 5 * 60_000;

/**
 * The kernel's header of a user record: the text between the stamp and ` msg='`, which only
 * the kernel writes. Nothing inside the payload can shadow these.
 */
export function senderHeader(rec: AuditRecord): Map<string, string> {
  const stamp = rec.raw.indexOf('): ');
  const open = rec.raw.indexOf(" msg='", stamp);
  return splitAuditFields(rec.raw.slice(stamp + 3, open < 0 ? undefined : open));
}

/** Does a body that failed to split still claim to be contid's (so it is counted, not ignored)? */
const looksLikeContid = (body: string): boolean => / contid=/.test(body) && /(^| )op=/.test(body);

function unquote(v: string): string {
  return v.length >= 2 && v.startsWith('"') && v.endsWith('"') ? v.slice(1, -1) : v;
}

/**
 * Checks one VIRT_CONTROL record: null when it is not a contid binding at all (libvirt's own
 * records), else whether it may be used, with the reason when not. The caller keeps the
 * state-dependent checks (duplicates, nesting).
 */
export function checkBinding(rec: AuditRecord, options: BindingCheckOptions): BindingCheck | null {
  const claim = claimBinding(rec, options);
  if (claim === null || !claim.ok) return claim;
  if (claim.proof && !proofHolds(claim.proof)) return { ok: false, problem: 'signature', keyId: claim.binding.provenance?.keyId, node: claim.binding.provenance?.node };
  return { ok: true, binding: claim.binding };
}

export const proofHolds = (p: SignatureProof): boolean => verifySignature(p.key, p.payload, p.signature);

/**
 * checkBinding without verifying a good-looking signature: the caller verifies `proof` before
 * the binding is used (search verifies only the bindings that can affect its answer). A
 * record that fails another check is verified first, so its reason is the one checkBinding
 * gives.
 */
export function claimBinding(rec: AuditRecord, options: BindingCheckOptions): ClaimCheck | null {
  const body = rec.body;
  if (body === null) return null;
  const header = senderHeader(rec);
  const ses = header.get('ses');
  const senderSession = ses === undefined || ses === UNSET || !/^\d{1,10}$/.test(ses) ? null : Number(ses);
  const split = splitSignedBody(body);
  if (split === 'truncated' || split === 'malformed') return looksLikeContid(body) ? { ok: false, problem: split } : null;
  if (split === 'unsigned') {
    const life = parseLifecycle(splitAuditFields(body));
    if (!life || life.contid === null) return null;
    // The kernel's word first: a record not sent by root is that, signed or not.
    if (header.get('uid') !== '0') return { ok: false, problem: 'uid' };
    const exes = options.legacyTrustedExes;
    if (!exes) return { ok: false, problem: 'unsigned' };
    const exe = / exe=(\S+) hostname=\S+ addr=\S+ terminal=\S+ res=\S+$/.exec(body)?.[1];
    if (exe === undefined || !exes.has(unquote(exe))) return { ok: false, problem: 'exe' };
    return { ok: true, binding: { life, provenance: null, signature: null, senderSession }, proof: null };
  }
  const life = parseLifecycle(split.fields);
  const provenance = parseProvenance(split.fields);
  if (!life || life.contid === null || !provenance) return { ok: false, problem: 'malformed' };
  const claim = { keyId: provenance.keyId, node: provenance.node };
  if (header.get('uid') !== '0') return { ok: false, problem: 'uid', ...claim };
  const trusted = options.trust.get(provenance.keyId);
  if (!trusted) return { ok: false, problem: 'unknown-key', ...claim };
  if (trusted.entry.revoked) return { ok: false, problem: 'revoked', ...claim };
  const proof: SignatureProof = { key: trusted.key, payload: split.payload, signature: split.signature };
  // The key names its node; the record and auditd's prefix (where there is one) must agree.
  const logNode = rec.node ?? options.unprefixedNode ?? null;
  const late: BindingProblem | null =
    trusted.entry.node !== provenance.node || (logNode !== null && logNode !== provenance.node) ? 'node'
    : Math.abs(provenance.timeMs - rec.timeMs) > (options.maxSkewMs ?? DEFAULT_SKEW_MS) ? 'time'
    : null;
  if (late !== null) return { ok: false, problem: proofHolds(proof) ? late : 'signature', ...claim };
  return { ok: true, binding: { life, provenance, signature: split.signature, senderSession }, proof };
}
