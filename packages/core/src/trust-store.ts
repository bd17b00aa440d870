import { KeyObject, createHash, createPublicKey, randomBytes, verify } from 'node:crypto';
import { closeSync, constants, fstatSync, openSync, readFileSync, readdirSync, renameSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { ContidError } from './errors';
import { makeDirectory } from './output-file';

/** Readable by analysts (group adm, a log server): public keys only. Overridden by CONTID_TRUST_DIR. */
export const DEFAULT_TRUST_DIR = '/etc/contid/trusted-keys';

/** One node's public key as exported, imported and stored (`<keyId>.json`). */
export interface PublicKeyEntry {
  v: 1;
  /** The node that signs with it: its records must name this node. */
  node: string;
  keyId: string;
  /** SPKI DER, base64. */
  publicKey: string;
  created: string;
  /** Set by `contid keys revoke`: records signed with it are rejected. */
  revoked?: string;
}

const KEY_ID = /^[0-9a-f]{16}$/;
const NODE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** Checks an entry's shape and that its key id is really the id of its key. */
export function parsePublicKeyEntry(text: string): PublicKeyEntry {
  let o: Partial<PublicKeyEntry>;
  try {
    o = JSON.parse(text) as Partial<PublicKeyEntry>;
  } catch {
    throw new ContidError('not a contid public key (expected one JSON object per line, as `contid keys export` prints)');
  }
  if (o === null || typeof o !== 'object' || o.v !== 1 || typeof o.node !== 'string' || !NODE_NAME.test(o.node) || typeof o.keyId !== 'string' || !KEY_ID.test(o.keyId) || typeof o.publicKey !== 'string') {
    throw new ContidError('not a contid public key (needs v=1, node, keyId, publicKey)');
  }
  let key: KeyObject;
  try {
    key = createPublicKey({ key: Buffer.from(o.publicKey, 'base64'), format: 'der', type: 'spki' });
  } catch {
    throw new ContidError(`public key ${o.keyId} of node ${o.node} is not a valid SPKI key`);
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new ContidError(`public key ${o.keyId} of node ${o.node} is not Ed25519`);
  const id = createHash('sha256').update(key.export({ type: 'spki', format: 'der' })).digest('hex').slice(0, 16);
  if (id !== o.keyId) throw new ContidError(`public key of node ${o.node} has key id ${id}, not ${o.keyId} as it claims`);
  return {
    v: 1,
    node: o.node,
    keyId: o.keyId,
    publicKey: o.publicKey,
    created: typeof o.created === 'string' ? o.created : '?',
    ...(typeof o.revoked === 'string' ? { revoked: o.revoked } : {}),
  };
}

/** Writes an entry atomically (temp + rename), world-readable: public keys are not secret. */
function writeEntry(dir: string, entry: PublicKeyEntry): void {
  const tmp = join(dir, `.${entry.keyId}.${process.pid}.${randomBytes(6).toString('hex')}`);
  const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o644);
  try {
    writeSync(fd, `${JSON.stringify(entry)}\n`);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, join(dir, `${entry.keyId}.json`));
}

function ensureTrustDir(dir: string): void {
  makeDirectory(dir, 0o755);
  const st = statSync(dir);
  if (!st.isDirectory()) throw new ContidError(`${dir} is not a directory`);
  if ((st.mode & 0o022) !== 0) throw new ContidError(`${dir} is writable by group or others (mode ${(st.mode & 0o777).toString(8)}): anyone could plant a key there`);
}

/**
 * Adds (or refreshes) a public key. A revocation already recorded here sticks: importing an old
 * export of a revoked key never makes it valid again.
 */
export function publishPublicKey(dir: string, entry: PublicKeyEntry): PublicKeyEntry {
  ensureTrustDir(dir);
  const existing = TrustStore.loadOne(dir, entry.keyId)?.entry;
  if (existing && existing.node !== entry.node) throw new ContidError(`key ${entry.keyId} is already trusted for node ${existing.node}, not ${entry.node}`);
  const merged = existing?.revoked ? { ...entry, revoked: existing.revoked } : entry;
  if (!existing || JSON.stringify(existing) !== JSON.stringify(merged)) writeEntry(dir, merged);
  return merged;
}

/** What importing one exported key does to a trust directory (planImport). */
export type ImportStep =
  | { kind: 'new-node'; entry: PublicKeyEntry }
  | { kind: 'unchanged'; entry: PublicKeyEntry }
  /** Revoked here before: an export made before the revocation never makes it valid again. */
  | { kind: 'stays-revoked'; entry: PublicKeyEntry }
  /** A key added to, or revoked for, a node this directory already trusts. */
  | { kind: 'new-key'; entry: PublicKeyEntry }
  | { kind: 'newly-revoked'; entry: PublicKeyEntry };

/**
 * What `keys import` of ENTRIES, a file the importer got from node EXPECTED, would do to DIR,
 * before anything is written. Any node's administrator can write any node name into a file, so
 * the importer says which node the file is from and a file naming another is refused (outside
 * attack 11, K2: node B's file claiming node vm was trusted as vm when imported first). An
 * export is one node's. Adding a key to, or revoking a key of, a node this directory already
 * trusts changes whose signatures stand for that node's containers: only with UPDATE, which a
 * rotation or revocation there asks for (outside attack 10, K1: node B's export re-keyed node
 * vm and revoked vm's own key).
 */
export function planImport(dir: string, entries: PublicKeyEntry[], expected: string, update: boolean): ImportStep[] {
  const nodes = [...new Set(entries.map((e) => e.node))];
  if (nodes.length > 1) throw new ContidError(`the file holds keys of ${nodes.length} nodes (${nodes.join(', ')}): an export is one node's; import each node's own export`, 2);
  const node = nodes[0];
  if (node !== expected) throw new ContidError(`the file holds keys of node ${node}, not of ${expected} as --node says: nothing imported (is it the export of ${node}, or one that claims ${node}'s name?)`, 2);
  const trusted = TrustStore.load(dir).entries();
  const steps = entries.map((entry): ImportStep => {
    const known = trusted.find((t) => t.keyId === entry.keyId);
    if (known && known.node !== entry.node) throw new ContidError(`key ${entry.keyId} is already trusted for node ${known.node}, not ${entry.node}`, 2);
    if (known?.revoked) return { kind: 'stays-revoked', entry: { ...entry, revoked: known.revoked } };
    if (known && entry.revoked) return { kind: 'newly-revoked', entry };
    if (known) return { kind: 'unchanged', entry: known };
    return { kind: trusted.some((t) => t.node === entry.node) ? 'new-key' : 'new-node', entry };
  });
  const changes = steps.filter((s) => s.kind === 'new-key' || s.kind === 'newly-revoked');
  if (changes.length > 0 && !update) {
    const what = changes.map((c) => `${c.kind === 'new-key' ? 'adds key' : 'revokes key'} ${c.entry.keyId}`).join(', ');
    const have = trusted.filter((t) => t.node === node && !t.revoked).map((t) => t.keyId);
    throw new ContidError(
      `the file ${what} of node ${node}, which ${dir} already trusts (${have.length ? `keys ${have.join(', ')}` : 'all its keys revoked'}): if ${node} rotated or revoked its key, check the file came from ${node} and import it with --update`,
      2,
    );
  }
  return steps;
}

export function revokePublicKey(dir: string, keyId: string, when = new Date()): PublicKeyEntry {
  if (!KEY_ID.test(keyId)) throw new ContidError(`"${keyId}" is not a key id (16 hex digits)`, 2);
  const found = TrustStore.loadOne(dir, keyId);
  if (!found) throw new ContidError(`no key ${keyId} in ${dir} (contid keys list shows them)`);
  const entry = { ...found.entry, revoked: found.entry.revoked ?? when.toISOString() };
  writeEntry(dir, entry);
  return entry;
}

export interface TrustedKey {
  entry: PublicKeyEntry;
  key: KeyObject;
}

/**
 * The public keys a reader trusts. Files are taken only from a directory and files owned by
 * root or by the reader and not writable by group or others; anything else is skipped and
 * said in `problems` (a planted key must not make a forgery verify).
 */
export class TrustStore {
  readonly problems: string[] = [];
  private readonly keys = new Map<string, TrustedKey>();

  private constructor(readonly dir: string | null) {}

  static empty(): TrustStore {
    return new TrustStore(null);
  }

  static load(dir: string): TrustStore {
    const store = new TrustStore(dir);
    let names: string[];
    try {
      const st = statSync(dir);
      if (!store.safeOwner(st.uid, st.mode, dir)) return store;
      names = readdirSync(dir).filter((n) => n.endsWith('.json') && !n.startsWith('.'));
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT') store.problems.push(`cannot read trust directory ${dir}: ${code ?? (e as Error).message}`);
      return store;
    }
    for (const name of names.sort()) store.loadFile(join(dir, name));
    return store;
  }

  /** One entry by key id (the tagger checks its own key is published without reading them all). */
  static loadOne(dir: string, keyId: string): TrustedKey | undefined {
    const store = new TrustStore(dir);
    try {
      statSync(join(dir, `${keyId}.json`));
    } catch {
      return undefined;
    }
    store.loadFile(join(dir, `${keyId}.json`));
    return store.get(keyId);
  }

  /** Adds keys given directly (tests, or a caller that has them in memory). */
  add(entry: PublicKeyEntry): void {
    const key = createPublicKey({ key: Buffer.from(entry.publicKey, 'base64'), format: 'der', type: 'spki' });
    this.keys.set(entry.keyId, { entry, key });
  }

  get(keyId: string): TrustedKey | undefined {
    return this.keys.get(keyId);
  }

  entries(): PublicKeyEntry[] {
    return [...this.keys.values()].map((k) => k.entry);
  }

  get size(): number {
    return this.keys.size;
  }

  private safeOwner(uid: number, mode: number, path: string): boolean {
    const me = process.geteuid?.() ?? 0;
    if ((uid === 0 || uid === me) && (mode & 0o022) === 0) return true;
    this.problems.push(`ignored ${path}: owned by uid ${uid} with mode ${(mode & 0o777).toString(8)} (must be root's or yours and not group/world-writable)`);
    return false;
  }

  private loadFile(file: string): void {
    let fd: number;
    try {
      fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW);
    } catch (e) {
      this.problems.push(`ignored ${file}: ${(e as NodeJS.ErrnoException).code === 'ELOOP' ? 'a symbolic link' : (e as Error).message}`);
      return;
    }
    try {
      const st = fstatSync(fd);
      if (!st.isFile() || !this.safeOwner(st.uid, st.mode, file)) return;
      const entry = parsePublicKeyEntry(readFileSync(fd, 'utf8'));
      if (`${entry.keyId}.json` !== file.slice(file.lastIndexOf('/') + 1)) throw new ContidError(`file name does not match key id ${entry.keyId}`);
      this.add(entry);
    } catch (e) {
      this.problems.push(`ignored ${file}: ${(e as Error).message}`);
    } finally {
      closeSync(fd);
    }
  }
}

/** Ed25519 check of a payload against its unpadded base64url signature. */
export function verifySignature(key: KeyObject, payload: string, signature: string): boolean {
  const sig = Buffer.from(signature, 'base64url');
  // 86 characters carry 516 bits: the last one's low 4 bits are free, so 16 spellings decode to
  // one signature. Only the canonical spelling is the signature (duplicates are found by text).
  if (sig.length !== 64 || sig.toString('base64url') !== signature) return false;
  return verify(null, Buffer.from(payload, 'utf8'), key, sig);
}
