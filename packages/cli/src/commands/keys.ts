import type { Argv, CommandModule } from 'yargs';
import { readFileSync } from 'node:fs';
import {
  ContidError,
  ImportStep,
  PublicKeyEntry,
  TrustStore,
  configFromEnv,
  loadOrCreateSigner,
  parsePublicKeyEntry,
  planImport,
  publishPublicKey,
  readSigner,
  revokePublicKey,
  rotateSigner,
} from '@contid/core';
import { printJson, printTable } from '../output';

interface KeysArgs {
  json: boolean;
  'trust-dir'?: string;
  file?: string;
  'key-id'?: string;
  node?: string;
  update?: boolean;
}

const trustDirOf = (argv: KeysArgs): string => argv['trust-dir'] ?? configFromEnv().trustDir;

/** The signer when this caller may read it (root); analysts see the trust directory only. */
function localSigner(): ReturnType<typeof readSigner> {
  try {
    return readSigner(configFromEnv().stateDir);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EACCES' || code === 'EPERM') return null;
    throw e;
  }
}

function loadTrust(dir: string): TrustStore {
  const store = TrustStore.load(dir);
  for (const p of store.problems) process.stderr.write(`contid: ${p}\n`);
  return store;
}

const show: CommandModule<KeysArgs, KeysArgs> = {
  command: 'show',
  aliases: ['list'],
  describe: "this node's signing key and every public key trusted for verification",
  handler: (argv) => {
    const signer = localSigner();
    const entries = loadTrust(trustDirOf(argv)).entries();
    if (argv.json) return printJson({ signing: signer ? { node: signer.node, keyId: signer.keyId, created: signer.publicEntry.created } : null, trusted: entries });
    process.stdout.write(signer ? `signing key: ${signer.keyId} (node ${signer.node}, created ${signer.publicEntry.created})\n` : 'signing key: none readable here (created by the first tagging, or contid keys rotate, as root)\n');
    process.stdout.write(`trusted keys in ${trustDirOf(argv)}:\n`);
    printTable(['KEY ID', 'NODE', 'CREATED', 'STATE'], entries.map((e) => [e.keyId, e.node, e.created, e.revoked ? `revoked ${e.revoked}` : 'valid']), new Set([3]));
  },
};

const exportCmd: CommandModule<KeysArgs, KeysArgs> = {
  command: 'export',
  describe: "print this node's public keys (current and rotated) as JSON lines, for `contid keys import` elsewhere",
  builder: (y) => y.option('node', { type: 'string', describe: 'export the trusted keys of this node instead' }) as Argv<KeysArgs>,
  handler: (argv) => {
    const dir = trustDirOf(argv);
    const signer = argv.node ? null : localSigner();
    const node = argv.node ?? signer?.node ?? configFromEnv().nodeName;
    const entries = new Map<string, PublicKeyEntry>();
    for (const e of loadTrust(dir).entries()) if (e.node === node) entries.set(e.keyId, e);
    if (signer && !entries.has(signer.keyId)) entries.set(signer.keyId, signer.publicEntry);
    if (entries.size === 0) throw new ContidError(`no public key of node ${node} in ${dir}${argv.node ? '' : ' (run as root: the first tagging or contid keys rotate creates one)'}`);
    for (const e of entries.values()) process.stdout.write(`${JSON.stringify(e)}\n`);
  },
};

const importCmd: CommandModule<KeysArgs, KeysArgs> = {
  command: 'import <file>',
  describe: 'trust the public keys in FILE (- for stdin), as printed by `contid keys export` on their node',
  builder: (y) =>
    y
      .option('node', { type: 'string', demandOption: true, describe: 'the node this file is from (a file holding any other node\'s keys is refused)' })
      .option('update', {
        type: 'boolean',
        default: false,
        describe: 'the node is already trusted here and the file adds or revokes keys of it (a rotation or revocation there): accept that',
      }) as Argv<KeysArgs>,
  handler: (argv) => {
    const dir = trustDirOf(argv);
    let text: string;
    try {
      text = readFileSync(argv.file === '-' ? 0 : String(argv.file), 'utf8');
    } catch (e) {
      throw new ContidError(`cannot read ${argv.file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, 2);
    }
    const lines = text.split('\n').map((l) => l.trim()).filter((l) => l !== '');
    if (lines.length === 0) throw new ContidError(`${argv.file} holds no public key`, 2);
    // All or nothing: every line is checked before any is written.
    const entries = lines.map((l, i) => {
      try {
        return parsePublicKeyEntry(l);
      } catch (e) {
        throw new ContidError(`${argv.file}:${i + 1}: ${(e as Error).message}`, 2);
      }
    });
    const steps = planImport(dir, entries, String(argv.node), argv.update === true);
    for (const step of steps) {
      const e = step.kind === 'unchanged' ? step.entry : publishPublicKey(dir, step.entry);
      process.stdout.write(`${IMPORT_WORDS[step.kind](e)} in ${dir}\n`);
    }
  },
};

const IMPORT_WORDS: Record<ImportStep['kind'], (e: PublicKeyEntry) => string> = {
  'new-node': (e) => `trusted ${e.keyId} of node ${e.node} (a node new here)`,
  'new-key': (e) => `trusted ${e.keyId} of node ${e.node} (a new key of a node trusted before)`,
  unchanged: (e) => `${e.keyId} of node ${e.node}: already trusted, unchanged`,
  'stays-revoked': (e) => `${e.keyId} of node ${e.node}: revoked here ${e.revoked}, stays revoked`,
  'newly-revoked': (e) => `revoked ${e.keyId} of node ${e.node} (the file says revoked ${e.revoked})`,
};

const revoke: CommandModule<KeysArgs, KeysArgs> = {
  command: 'revoke <key-id>',
  describe: 'stop trusting a key (records it signed are rejected); revoking this node\'s own key also rotates it',
  handler: (argv) => {
    const dir = trustDirOf(argv);
    const entry = revokePublicKey(dir, String(argv['key-id']));
    process.stdout.write(`revoked ${entry.keyId} of node ${entry.node} in ${dir}\n`);
    const signer = localSigner();
    if (signer && signer.keyId === entry.keyId) {
      const fresh = rotateSigner(configFromEnv().stateDir, signer.node, dir);
      process.stdout.write(`this node now signs with ${fresh.keyId}: export it to every reader (contid keys export)\n`);
    }
  },
};

const rotate: CommandModule<KeysArgs, KeysArgs> = {
  command: 'rotate',
  describe: 'new signing key pair for this node (old public keys stay trusted, so old records verify)',
  handler: (argv) => {
    const config = configFromEnv();
    const dir = trustDirOf(argv);
    const old = localSigner();
    const fresh = old ? rotateSigner(config.stateDir, old.node, dir) : loadOrCreateSigner(config.stateDir, config.nodeName, dir);
    process.stdout.write(`node ${fresh.node} signs with ${fresh.keyId}${old ? ` (was ${old.keyId}, still trusted for old records)` : ''}; export it to every reader (contid keys export)\n`);
  },
};

/** `contid keys`: the node's record-signing keys and the public keys readers trust. */
export const keysCommand: CommandModule<{ json: boolean }, KeysArgs> = {
  command: 'keys <command>',
  describe: 'signing keys of binding records: show, export, import, revoke, rotate',
  builder: (y) =>
    (y.option('trust-dir', { type: 'string', describe: 'trusted public keys (default $CONTID_TRUST_DIR or /etc/contid/trusted-keys)' }) as Argv<KeysArgs>)
      .command(show)
      .command(exportCmd)
      .command(importCmd)
      .command(revoke)
      .command(rotate)
      .demandCommand(1, 'name a keys command: show, export, import, revoke, rotate') as never,
  handler: () => undefined,
};
