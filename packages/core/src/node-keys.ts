import { KeyObject, createHash, createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { closeSync, constants, fstatSync, fsyncSync, linkSync, lstatSync, mkdirSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ContidError } from './errors';
import { makeDirectory } from './output-file';
import { PublicKeyEntry, publishPublicKey } from './trust-store';

/** Under the state directory: root-only, holds this node's private signing key. */
export const KEYS_DIR = 'keys';
const SIGNING_FILE = 'signing.key';

/** Node names as auditd's name_format writes them (hostname, fqdn or a chosen name). */
const NODE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export function validNodeName(name: string): boolean {
  return NODE_NAME.test(name);
}

/** A key id: the first 16 hex digits of SHA-256 over the public key's SPKI DER bytes. */
export function keyIdOf(publicKey: KeyObject): string {
  return createHash('sha256').update(publicKey.export({ type: 'spki', format: 'der' })).digest('hex').slice(0, 16);
}

/** What the private key file holds (one JSON document, written once, never edited). */
interface SigningKeyFile {
  v: 1;
  node: string;
  keyId: string;
  created: string;
  privateKey: string;
}

/** This node's signer: every binding record it writes carries its key id and an Ed25519 signature. */
export class NodeSigner {
  constructor(
    readonly node: string,
    readonly keyId: string,
    private readonly privateKey: KeyObject,
    readonly publicEntry: PublicKeyEntry,
  ) {}

  /** Unpadded base64url: safe inside audit msg text (no quote, space or `=`). */
  sign(payload: string): string {
    return sign(null, Buffer.from(payload, 'utf8'), this.privateKey).toString('base64url');
  }
}

/**
 * The keys directory must be a real directory (not a link), ours, and closed to everyone else:
 * a key another user could read or swap signs nothing.
 */
function ensurePrivateDir(dir: string): void {
  makeDirectory(dirname(dir), 0o700); // the state directory, as the registry makes it
  try {
    mkdirSync(dir, { mode: 0o700 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  }
  const st = lstatSync(dir);
  const uid = process.geteuid?.() ?? 0;
  if (!st.isDirectory() || st.uid !== uid || (st.mode & 0o077) !== 0) {
    throw new ContidError(`${dir} must be a directory owned by uid ${uid} with mode 0700 (it holds the node's private signing key); found uid ${st.uid} mode ${(st.mode & 0o7777).toString(8)}${st.isSymbolicLink() ? ' (a symbolic link)' : ''}`);
  }
}

function readKeyFile(file: string): SigningKeyFile | null {
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    if ((e as NodeJS.ErrnoException).code === 'ELOOP') throw new ContidError(`${file} is a symbolic link: refusing to use it as the signing key`);
    throw e;
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile() || st.uid !== (process.geteuid?.() ?? 0) || (st.mode & 0o077) !== 0) {
      throw new ContidError(`${file} must be a regular file owned by this user with mode 0600; found uid ${st.uid} mode ${(st.mode & 0o7777).toString(8)}`);
    }
    const parsed = JSON.parse(readFileSync(fd, 'utf8')) as SigningKeyFile;
    if (parsed.v !== 1 || !validNodeName(parsed.node) || typeof parsed.privateKey !== 'string') throw new ContidError(`${file} is not a contid signing key`);
    return parsed;
  } catch (e) {
    if (e instanceof SyntaxError) throw new ContidError(`${file} is not a contid signing key (bad JSON)`);
    throw e;
  } finally {
    closeSync(fd);
  }
}

/** Writes a new key file under a private temporary name (O_EXCL|O_NOFOLLOW, 0600), synced. */
function writeTemp(dir: string, content: string): string {
  const tmp = join(dir, `.${SIGNING_FILE}.${process.pid}.${randomBytes(6).toString('hex')}`);
  const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
  try {
    writeSync(fd, content);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return tmp;
}

function newKeyFile(node: string): SigningKeyFile {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return { v: 1, node, keyId: keyIdOf(publicKey), created: new Date().toISOString(), privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string };
}

function signerOf(f: SigningKeyFile): NodeSigner {
  const privateKey = createPrivateKey(f.privateKey);
  const publicKey = createPublicKey(privateKey);
  const keyId = keyIdOf(publicKey);
  if (keyId !== f.keyId) throw new ContidError(`signing key file says key id ${f.keyId} but its key is ${keyId}`);
  const entry: PublicKeyEntry = { v: 1, node: f.node, keyId, publicKey: publicKey.export({ type: 'spki', format: 'der' }).toString('base64'), created: f.created };
  return new NodeSigner(f.node, keyId, privateKey, entry);
}

/** Best effort: a read-only trust directory must not stop tagging; search then says what to import. */
function publishQuietly(trustDir: string | null, entry: PublicKeyEntry): void {
  if (trustDir === null) return;
  try {
    publishPublicKey(trustDir, entry);
  } catch {
    // `contid keys export` / `import` carries the key by hand.
  }
}

/**
 * This node's signer, created on first use. Two first-time taggers racing keep one key: each
 * writes its own temporary file and link(2)s it into place; the loser reads the winner's.
 */
export function loadOrCreateSigner(stateDir: string, nodeName: string, trustDir: string | null): NodeSigner {
  const dir = join(stateDir, KEYS_DIR);
  ensurePrivateDir(dir);
  const file = join(dir, SIGNING_FILE);
  let f = readKeyFile(file);
  if (!f) {
    if (!validNodeName(nodeName)) throw new ContidError(`node name "${nodeName}" is not valid (letters, digits, . _ -; at most 64): set CONTID_NODE_NAME`);
    const tmp = writeTemp(dir, JSON.stringify(newKeyFile(nodeName)));
    try {
      linkSync(tmp, file);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    } finally {
      unlinkSync(tmp);
    }
    f = readKeyFile(file)!;
  }
  const signer = signerOf(f);
  publishQuietly(trustDir, signer.publicEntry);
  return signer;
}

/**
 * A new key pair replaces the current one (rename(2): readers see the old or the new file,
 * never half of one). The old public key stays in the trust directory, so old records verify.
 */
export function rotateSigner(stateDir: string, nodeName: string, trustDir: string | null): NodeSigner {
  if (!validNodeName(nodeName)) throw new ContidError(`node name "${nodeName}" is not valid (letters, digits, . _ -; at most 64)`);
  const dir = join(stateDir, KEYS_DIR);
  ensurePrivateDir(dir);
  const fresh = newKeyFile(nodeName);
  const signer = signerOf(fresh);
  // Publish first: a record signed by the new key is never written before its key is trusted here.
  publishQuietly(trustDir, signer.publicEntry);
  renameSync(writeTemp(dir, JSON.stringify(fresh)), join(dir, SIGNING_FILE));
  return signer;
}

/** The current signer if there is one (no creation): for `contid keys show`. */
export function readSigner(stateDir: string): NodeSigner | null {
  const f = readKeyFile(join(stateDir, KEYS_DIR, SIGNING_FILE));
  return f ? signerOf(f) : null;
}

/** A signer whose key lives only in memory: for tests and for re-signing records under a constructed node. */
export function ephemeralSigner(node: string): NodeSigner {
  if (!validNodeName(node)) throw new ContidError(`node name "${node}" is not valid`);
  return signerOf(newKeyFile(node));
}
